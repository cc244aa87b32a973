"""Experiments from a notebook, with hops-util-py's signatures::

    from hopsworks_lab import experiment

    def train(lr, layers, reporter):           # `reporter` is optional
        for epoch in range(10):
            acc = ...
            reporter.broadcast(metric=acc, step=epoch)   # may stop a bad trial early
        return {"metric": acc, "model": "model.pt"}      # a file: copied into the trial

    logdir, result = experiment.launch(train, {"lr": [0.1, 0.01], "layers": [2, 4]})
    best_logdir, best_params, best_result = experiment.grid_search(
        train, {"lr": [0.1, 0.01], "layers": [2, 4]}, direction="max")
    experiment.random_search(train, {"lr": [0.001, 0.1], "layers": [2, 8]}, samples=10)
    experiment.differential_evolution(train, {"lr": [0.001, 0.1], "layers": [2, 8]})

Trials run in parallel: one Spark task per trial when a Spark session is active, else a
local process pool (``workers``, default: the CPU count). Each trial writes
``Experiments/<run>/<trial>/`` (params.json, result.json, stdout.log, TensorBoard events,
returned files); the run is recorded in the platform (the Experiments panel). Logdirs are
paths in the project's datasets (``Experiments/<run>/<trial>``). The project is that of
the last ``hopsworks_lab.login()`` (else a login from the environment), or ``project=``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .experiments import space
from .experiments.session import ExperimentError, Session
from .experiments.trial import FAILED

__all__ = [
    "ExperimentError",
    "differential_evolution",
    "grid_search",
    "horovod",
    "launch",
    "mirrored",
    "random_search",
]

Result = tuple[str, dict[str, Any], dict[str, Any]]


def launch(
    train_fn: Callable[..., Any],
    args_dict: Mapping[str, list[Any]] | None = None,
    name: str = "no-name",
    description: str = "",
    metric_key: str | None = None,
    *,
    workers: int | None = None,
    project: Any = None,
    widget: bool | None = None,
) -> tuple[str, dict[str, Any]]:
    """Run ``train_fn`` once per position of the lists in ``args_dict`` (zipped; none: once
    without arguments). Returns ``(logdir, return_dict)``: the run's folder and, for one
    trial, its return dict (a number comes back as ``{"metric": value}``); for several,
    ``{trial: return_dict or None when it failed}``. A single trial that fails raises
    :class:`ExperimentError` with its traceback."""
    trials = space.zipped(args_dict)
    lists = {k: list(v) for k, v in (args_dict or {}).items()}
    with Session(
        train_fn,
        kind="launch",
        name=name,
        description=description,
        metric_key=metric_key,
        space=lists,
        hparams_space=space.hparams_domains(lists),
        trials_total=len(trials),
        workers=workers,
        es_policy="none",
        project=project,
        widget=widget,
    ) as s:
        records = s.evaluate(trials)
    if len(records) == 1:
        r = records[0]
        if r["state"] == FAILED:
            raise ExperimentError(f"{r['trial']} of {s.run} failed:\n{r['error']}")
        return s.logdir, r["metrics"]
    return s.logdir, {r["trial"]: None if r["state"] == FAILED else r["metrics"] for r in records}


def _search(
    kind: str,
    train_fn: Any,
    direction: str,
    optimization_key: str,
    space_json: Mapping[str, Any],
    domains: Mapping[str, Any],
    total: int,
    run: Callable[[Session], Any],
    **options: Any,
) -> Result:
    """A search's run: ``run(session)`` evaluates its trials; returns the best one's
    ``(logdir, params, return_dict)``. ``options``: the Session's (name, workers, ...)."""
    space.check_direction(direction)
    if not isinstance(optimization_key, str) or not optimization_key:
        raise ValueError("optimization_key must name the metric in train_fn's return dict")
    with Session(
        train_fn,
        kind=kind,
        direction=direction,
        metric_key=optimization_key,
        space=space_json,
        hparams_space=space.hparams_domains(domains),
        trials_total=total,
        **options,
    ) as s:
        run(s)
    best = s.best()
    if best is None:
        failed = sorted(s.trials.values(), key=lambda t: t["index"])
        first = failed[0] if failed else None
        why = f"; {first['trial']}:\n{first.get('error')}" if first else ""
        raise ExperimentError(f"no trial of {s.run} produced the metric{why}")
    assert s.store is not None
    return s.store.dataset_path(best["trial"]), dict(best["params"]), dict(best["metrics"])


def grid_search(
    train_fn: Callable[..., Any],
    grid_dict: Mapping[str, list[Any]],
    direction: str = "max",
    name: str = "no-name",
    description: str = "",
    optimization_key: str = "metric",
    *,
    workers: int | None = None,
    es_policy: str = "median",
    es_min: int = 3,
    es_interval: int = 1,
    project: Any = None,
    widget: bool | None = None,
) -> Result:
    """Every combination of ``grid_dict``'s lists. Returns ``(best_logdir, best_params,
    best_return_dict)``."""
    trials = space.grid(grid_dict)
    lists = {k: list(v) for k, v in grid_dict.items()}
    return _search(
        "grid_search", train_fn, direction, optimization_key, lists, lists, len(trials),
        lambda s: s.evaluate(trials),
        name=name, description=description, workers=workers, es_policy=es_policy,
        es_min=es_min, es_interval=es_interval, project=project, widget=widget,
    )  # fmt: skip


def random_search(
    train_fn: Callable[..., Any],
    boundary_dict: Mapping[str, list[Any]],
    direction: str = "max",
    samples: int = 10,
    name: str = "no-name",
    description: str = "",
    optimization_key: str = "metric",
    *,
    seed: int | None = None,
    workers: int | None = None,
    es_policy: str = "median",
    es_min: int = 3,
    es_interval: int = 1,
    project: Any = None,
    widget: bool | None = None,
) -> Result:
    """``samples`` uniform draws within ``boundary_dict`` (``[low, high]``: ints for two
    ints, else floats; any other list: its values are the choices). Returns ``(best_logdir,
    best_params, best_return_dict)``."""
    trials = space.random_samples(boundary_dict, samples, seed)
    return _search(
        "random_search", train_fn, direction, optimization_key,
        {k: list(v) for k, v in boundary_dict.items()}, space.domains(boundary_dict), samples,
        lambda s: s.evaluate(trials),
        name=name, description=description, workers=workers, es_policy=es_policy,
        es_min=es_min, es_interval=es_interval, project=project, widget=widget,
    )  # fmt: skip


def differential_evolution(
    train_fn: Callable[..., Any],
    boundary_dict: Mapping[str, list[Any]],
    direction: str = "max",
    generations: int = 4,
    population: int = 6,
    mutation: float = 0.5,
    crossover: float = 0.7,
    name: str = "no-name",
    description: str = "",
    optimization_key: str = "metric",
    *,
    seed: int | None = None,
    workers: int | None = None,
    es_policy: str = "median",
    es_min: int = 3,
    es_interval: int = 1,
    project: Any = None,
    widget: bool | None = None,
) -> Result:
    """scipy's differential evolution within ``boundary_dict``: an initial population of
    ``population`` trials, then ``generations`` generations of as many, each generation's
    trials in parallel (``population * (generations + 1)`` trials in all). Returns
    ``(best_logdir, best_params, best_return_dict)``."""
    doms = space.check_de(boundary_dict, direction, generations, population, mutation, crossover)

    def run(s: Session) -> None:
        def evaluate(batch: list[dict[str, Any]]) -> list[float | None]:
            return [None if r["state"] == FAILED else r.get("metric") for r in s.evaluate(batch)]

        space.differential_evolution(
            evaluate,
            boundary_dict,
            direction=direction,
            generations=generations,
            population=population,
            mutation=mutation,
            crossover=crossover,
            seed=seed,
        )

    return _search(
        "differential_evolution", train_fn, direction, optimization_key,
        {k: list(v) for k, v in boundary_dict.items()}, doms, population * (generations + 1),
        run,
        name=name, description=description, workers=workers, es_policy=es_policy,
        es_min=es_min, es_interval=es_interval, project=project, widget=widget,
    )  # fmt: skip


# -- distributed training: one trial, several processes ------------------------------------
class _Distributed:
    """The trial function of mirrored()/horovod(): runs H4's launcher with the trial's
    folder as every worker's logdir; the trial's result is rank 0's return value."""

    def __init__(self, fn: Callable[..., Any], kind: str, size: int, spark: Any = None):
        self.fn, self.kind, self.size, self.spark = fn, kind, size, spark

    def __call__(self, **_params: Any) -> Any:
        from .experiments import distributed
        from .experiments.context import current_logdir

        if self.kind == "horovod":
            returns = distributed.run_horovod(self.fn, np=self.size, logdir=current_logdir())
            return returns[0] if returns else None
        return distributed.run_torch_distributed(
            self.fn, num_workers=self.size, logdir=current_logdir(), spark=self.spark
        )


def _distributed(
    kind: str,
    train_fn: Callable[..., Any],
    size_name: str,
    size: int,
    name: str,
    description: str,
    metric_key: str | None,
    project: Any,
    widget: bool | None,
) -> tuple[str, dict[str, Any]]:
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"{size_name} must be a positive int, not {size!r}")
    from .experiments.runner import active_spark

    spark = active_spark()
    params = {size_name: size}
    with Session(
        _Distributed(train_fn, kind, size),
        kind=kind,
        name=name,
        description=description,
        metric_key=metric_key,
        space=params,
        hparams_space={size_name: [size]},
        trials_total=1,
        workers=1,
        es_policy="none",
        project=project,
        widget=widget,
    ) as s:
        if spark is not None:  # TorchDistributor starts its tasks from the driver
            record = s.run_inline(params, _Distributed(train_fn, kind, size, spark))
        else:  # in a pool process: its output and files land in the trial folder
            record = s.evaluate([params])[0]
    if record["state"] == FAILED:
        raise ExperimentError(f"{record['trial']} of {s.run} failed:\n{record['error']}")
    return s.logdir, record["metrics"]


def mirrored(
    train_fn: Callable[..., Any],
    name: str = "no-name",
    num_workers: int = 2,
    description: str = "",
    metric_key: str | None = None,
    *,
    project: Any = None,
    widget: bool | None = None,
) -> tuple[str, dict[str, Any]]:
    """Data-parallel training with torch DDP (gloo): ``num_workers`` processes (Spark's
    TorchDistributor when a Spark session is active), each with RANK, WORLD_SIZE,
    MASTER_ADDR/PORT set; recorded as one trial. Returns ``(logdir, return_dict)`` of
    rank 0."""
    return _distributed(
        "mirrored", train_fn, "num_workers", num_workers, name, description, metric_key,
        project, widget,
    )  # fmt: skip


def horovod(
    train_fn: Callable[..., Any],
    name: str = "no-name",
    np: int = 2,
    description: str = "",
    metric_key: str | None = None,
    *,
    project: Any = None,
    widget: bool | None = None,
) -> tuple[str, dict[str, Any]]:
    """Horovod over gloo with ``np`` processes (``scripts/install-horovod.sh`` installs
    it), recorded as one trial. Returns ``(logdir, return_dict)`` of rank 0."""
    return _distributed(
        "horovod", train_fn, "np", np, name, description, metric_key, project, widget
    )
