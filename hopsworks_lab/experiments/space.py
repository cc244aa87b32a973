"""Search spaces, as pure builders: the trials' parameters for ``launch`` (zipped lists),
``grid_search`` (Cartesian product), ``random_search`` (samples within bounds) and
``differential_evolution`` (scipy's, evaluating each generation's trials in parallel
through a map-like callable).

A boundary dict names, for each hyperparameter, either an interval ``[low, high]`` (two
numbers: two ints sample ints, otherwise floats) or a list of choices (anything else: a
list holding a non-number, or not exactly two numbers)."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Params = dict[str, Any]
DIRECTIONS = ("max", "min")


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'max' or 'min', not {direction!r}")
    return direction


def _as_list(name: str, values: Any, what: str) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{what}[{name!r}] must be a list of values, not {values!r}")
    if not values:
        raise ValueError(f"{what}[{name!r}] is empty")
    return list(values)


def _check_names(d: Mapping[str, Any] | None, what: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping) or not d:
        raise ValueError(f"{what} must be a non-empty dict of hyperparameter -> values")
    for name in d:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{what}: {name!r} is not a valid argument name of train_fn")
    return d


def zipped(args_dict: Mapping[str, Any] | None) -> list[Params]:
    """``launch``: one trial per position of the (equally long) lists; no args: one trial."""
    if not args_dict:
        return [{}]
    _check_names(args_dict, "args_dict")
    lists = {k: _as_list(k, v, "args_dict") for k, v in args_dict.items()}
    lengths = {k: len(v) for k, v in lists.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"args_dict: the lists must have the same length, got {lengths}")
    return [dict(zip(lists, row, strict=True)) for row in zip(*lists.values(), strict=True)]


def grid(grid_dict: Mapping[str, Any]) -> list[Params]:
    """``grid_search``: every combination, the last hyperparameter varying fastest."""
    _check_names(grid_dict, "grid_dict")
    lists = {k: _as_list(k, v, "grid_dict") for k, v in grid_dict.items()}
    return [dict(zip(lists, row, strict=True)) for row in itertools.product(*lists.values())]


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


@dataclass(frozen=True)
class Domain:
    """One hyperparameter: ``kind`` "int" / "float" (``low``..``high``) or "choice"."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    def value(self, x: float) -> Any:
        """The parameter for a point of the numeric search space (a choice's index)."""
        if self.kind == "float":
            return float(min(max(x, self.low), self.high))
        i = math.floor(float(x) + 0.5)
        if self.kind == "int":
            return int(min(max(i, self.low), self.high))
        return self.choices[min(max(i, 0), len(self.choices) - 1)]

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.low, self.high) if self.kind != "choice" else (0, len(self.choices) - 1)


def domains(boundary_dict: Mapping[str, Any]) -> dict[str, Domain]:
    _check_names(boundary_dict, "boundary_dict")
    out: dict[str, Domain] = {}
    for name, spec in boundary_dict.items():
        values = _as_list(name, spec, "boundary_dict")
        if len(values) == 2 and all(_is_number(v) for v in values):
            low, high = values
            if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
                raise ValueError(
                    f"boundary_dict[{name!r}]: bounds must be finite with low < high, "
                    f"got {values!r}"
                )
            ints = all(isinstance(v, numbers.Integral) for v in values)
            out[name] = Domain("int" if ints else "float", low, high)
        else:
            out[name] = Domain("choice", choices=tuple(values))
    return out


def hparams_domains(space: Mapping[str, Domain] | Mapping[str, list[Any]]) -> dict[str, Any]:
    """Each hyperparameter's domain for TensorBoard's HParams: a list of values or a
    ``(low, high)`` interval."""
    out: dict[str, Any] = {}
    for name, d in space.items():
        if isinstance(d, Domain):
            out[name] = list(d.choices) if d.kind == "choice" else (d.low, d.high)
        else:
            out[name] = list(dict.fromkeys(_hashable(v) for v in d))
    return out


def _hashable(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)


def random_samples(
    boundary_dict: Mapping[str, Any], samples: int, seed: int | None = None
) -> list[Params]:
    """``random_search``: ``samples`` independent uniform draws."""
    import numpy as np

    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int, not {samples!r}")
    doms = domains(boundary_dict)
    rng = np.random.default_rng(seed)
    out: list[Params] = []
    for _ in range(samples):
        p: Params = {}
        for name, d in doms.items():
            if d.kind == "int":
                p[name] = int(rng.integers(int(d.low), int(d.high), endpoint=True))
            elif d.kind == "float":
                p[name] = float(rng.uniform(d.low, d.high))
            else:
                p[name] = d.choices[int(rng.integers(len(d.choices)))]
        out.append(p)
    return out


def check_de(
    boundary_dict: Mapping[str, Any],
    direction: str,
    generations: int,
    population: int,
    mutation: float | tuple[float, float],
    crossover: float,
) -> dict[str, Domain]:
    """The options of :func:`differential_evolution`, checked (ValueError); the domains."""
    check_direction(direction)
    doms = domains(boundary_dict)
    if not isinstance(generations, int) or generations < 1:
        raise ValueError(f"generations must be a positive int, not {generations!r}")
    if not isinstance(population, int) or population < 5:
        raise ValueError(f"population must be an int of at least 5 (scipy), not {population!r}")
    if not 0 <= crossover <= 1:
        raise ValueError(f"crossover must be within [0, 1], not {crossover!r}")
    m = mutation if isinstance(mutation, tuple) else (mutation,)
    if not all(0 <= v <= 2 for v in m):
        raise ValueError(f"mutation must be within [0, 2] (or a (min, max) pair), not {mutation!r}")
    return doms


# A generation's evaluation: the parameters of each trial -> each trial's metric (None: the
# trial failed and is never chosen).
Evaluate = Callable[[list[Params]], list[float | None]]


def differential_evolution(
    evaluate: Evaluate,
    boundary_dict: Mapping[str, Any],
    *,
    direction: str = "max",
    generations: int = 4,
    population: int = 6,
    mutation: float | tuple[float, float] = 0.5,
    crossover: float = 0.7,
    seed: int | None = None,
) -> tuple[Params, float | None]:
    """scipy's differential evolution over ``boundary_dict``: an initial population of
    ``population`` points (Latin hypercube), then ``generations`` generations, each
    evaluated as one batch (``updating='deferred'``) through ``evaluate``. Returns the best
    parameters and metric scipy found (``None`` when every trial failed)."""
    import numpy as np
    from scipy.optimize import differential_evolution as scipy_de
    from scipy.stats import qmc

    doms = check_de(boundary_dict, direction, generations, population, mutation, crossover)
    # Hyperparameters with one choice are constants, not dimensions.
    fixed = {n: d.choices[0] for n, d in doms.items() if d.kind == "choice" and len(d.choices) == 1}
    free = {n: d for n, d in doms.items() if n not in fixed}
    sign = -1.0 if direction == "max" else 1.0

    def params_of(x: Iterable[float]) -> Params:
        return {**fixed, **{n: d.value(v) for (n, d), v in zip(free.items(), x, strict=True)}}

    if not free:  # nothing to search: one evaluation
        metric = evaluate([dict(fixed)])[0]
        return dict(fixed), metric

    def generation(_func: Any, xs: Iterable[Any]) -> list[float]:
        metrics = evaluate([params_of(x) for x in xs])
        return [math.inf if v is None else sign * float(v) for v in metrics]

    rng = np.random.default_rng(seed)
    bounds = [d.bounds for d in free.values()]
    lows, highs = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    init = qmc.scale(qmc.LatinHypercube(d=len(free), rng=rng).random(population), lows, highs)
    result = scipy_de(
        _never_called,
        bounds,
        init=init,
        maxiter=generations,
        mutation=mutation,
        recombination=crossover,
        polish=False,
        updating="deferred",
        integrality=[d.kind != "float" for d in free.values()],
        tol=0,
        workers=generation,
        rng=rng,
    )
    best = None if not math.isfinite(result.fun) else sign * float(result.fun)
    return params_of(result.x), best


def _never_called(x: Any) -> float:  # the generations go through `workers`
    raise AssertionError("differential_evolution evaluates through its map-like callable")
