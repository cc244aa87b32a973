"""The spawn form: its choices, parsing and validation as pure functions (no free text
reaches a command line: every value is checked against an allowlist or a range)."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from typing import Any

KERNELS = ("python", "pyspark")
IDLE_HOURS = (1, 2, 6, 12, 24, 72)


class OptionsError(ValueError):
    """A spawn option out of bounds; the message is shown to the user."""


@dataclass(frozen=True)
class Limits:
    max_cores: int = 8
    max_memory_gb: int = 64
    max_executors: int = 16
    max_gpus: int = 0  # GPUs the hub may hand out (the inventory decides later)


@dataclass(frozen=True)
class Options:
    project: str
    kernel: str = "python"
    driver_cores: int = 1
    driver_memory_gb: int = 2
    executor_cores: int = 1
    executor_memory_gb: int = 2
    executors: int = 1
    dynamic_allocation: bool = False
    min_executors: int = 0
    max_executors: int = 4
    gpus: int = 0
    environment: str = "base"
    idle_hours: int = 6

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(raw: Any, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError) as e:
        raise OptionsError(f"{name} must be a whole number") from e
    if not low <= value <= high:
        raise OptionsError(f"{name} must be between {low} and {high}")
    return value


def validate(raw: dict[str, Any], projects: list[str], limits: Limits = Limits()) -> Options:
    """``raw`` (the user_options from the form or the REST API) as checked Options."""
    known = set(Options.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise OptionsError(f"unknown options: {', '.join(unknown)}")
    project = raw.get("project")
    if project not in projects:
        raise OptionsError(f"choose one of your projects ({', '.join(projects) or 'none'})")
    kernel = raw.get("kernel", "python")
    if kernel not in KERNELS:
        raise OptionsError(f"kernel must be one of {', '.join(KERNELS)}")
    environment = raw.get("environment", "base")
    if environment != "base":
        raise OptionsError("only the 'base' environment exists yet")
    dynamic = raw.get("dynamic_allocation", False)
    if not isinstance(dynamic, bool):
        raise OptionsError("dynamic_allocation must be true or false")
    opts = Options(
        project=project,
        kernel=kernel,
        driver_cores=_int(raw.get("driver_cores", 1), "driver_cores", 1, limits.max_cores),
        driver_memory_gb=_int(
            raw.get("driver_memory_gb", 2), "driver_memory_gb", 1, limits.max_memory_gb
        ),
        executor_cores=_int(raw.get("executor_cores", 1), "executor_cores", 1, limits.max_cores),
        executor_memory_gb=_int(
            raw.get("executor_memory_gb", 2), "executor_memory_gb", 1, limits.max_memory_gb
        ),
        executors=_int(raw.get("executors", 1), "executors", 0, limits.max_executors),
        dynamic_allocation=dynamic,
        min_executors=_int(raw.get("min_executors", 0), "min_executors", 0, limits.max_executors),
        max_executors=_int(raw.get("max_executors", 4), "max_executors", 1, limits.max_executors),
        gpus=_int(raw.get("gpus", 0), "gpus", 0, limits.max_gpus),
        environment=environment,
        idle_hours=_int(raw.get("idle_hours", 6), "idle_hours", 1, max(IDLE_HOURS)),
    )
    if opts.dynamic_allocation and opts.min_executors > opts.max_executors:
        raise OptionsError("min_executors cannot exceed max_executors")
    return opts


def from_form(form: dict[str, list[str]]) -> dict[str, Any]:
    """The HTML form's fields as raw options (validated later by ``validate``)."""
    raw: dict[str, Any] = {k: v[0] for k, v in form.items() if v}
    raw["dynamic_allocation"] = raw.get("dynamic_allocation") in ("on", "true", "1")
    return raw


def spark_conf(opts: Options) -> dict[str, str]:
    """Spark settings for a PySpark-mode server (read by kernels' ``spark`` session)."""
    conf = {
        "spark.driver.cores": str(opts.driver_cores),
        "spark.driver.memory": f"{opts.driver_memory_gb}g",
        "spark.executor.cores": str(opts.executor_cores),
        "spark.executor.memory": f"{opts.executor_memory_gb}g",
    }
    if opts.dynamic_allocation:
        conf |= {
            "spark.dynamicAllocation.enabled": "true",
            # executors' shuffle files are tracked: no external shuffle service needed
            "spark.dynamicAllocation.shuffleTracking.enabled": "true",
            "spark.dynamicAllocation.minExecutors": str(opts.min_executors),
            "spark.dynamicAllocation.maxExecutors": str(opts.max_executors),
        }
    else:
        conf["spark.executor.instances"] = str(opts.executors)
    return conf


def render_form(projects: list[str], limits: Limits = Limits(), chosen: str | None = None) -> str:
    """The spawn page's fields (JupyterHub wraps them in its form)."""
    if not projects:
        return "<p>You are not a member of any project yet: create one or ask a Data Owner.</p>"
    options = "".join(
        f'<option value="{html.escape(p)}"{" selected" if p == chosen else ""}>'
        f"{html.escape(p)}</option>"
        for p in projects
    )
    idle = "".join(
        f'<option value="{h}"{" selected" if h == 6 else ""}>{h} h</option>' for h in IDLE_HOURS
    )

    def number(name: str, label: str, value: int, low: int, high: int) -> str:
        return (
            f'<label for="hwl-{name}">{label}</label>'
            f'<input class="form-control" type="number" id="hwl-{name}" name="{name}" '
            f'value="{value}" min="{low}" max="{high}">'
        )

    return (
        '<div class="form-group">'
        '<label for="hwl-project">Project</label>'
        f'<select class="form-control" id="hwl-project" name="project">{options}</select>'
        '<label for="hwl-kernel">Kernels</label>'
        '<select class="form-control" id="hwl-kernel" name="kernel">'
        '<option value="python" selected>Python</option>'
        '<option value="pyspark">PySpark</option></select>'
        + number("driver_cores", "Driver cores", 1, 1, limits.max_cores)
        + number("driver_memory_gb", "Driver memory (GB)", 2, 1, limits.max_memory_gb)
        + number("executor_cores", "Executor cores", 1, 1, limits.max_cores)
        + number("executor_memory_gb", "Executor memory (GB)", 2, 1, limits.max_memory_gb)
        + number("executors", "Executors", 1, 0, limits.max_executors)
        + '<div class="form-check"><label><input type="checkbox" name="dynamic_allocation">'
        " Dynamic allocation</label></div>"
        + number("min_executors", "Min executors", 0, 0, limits.max_executors)
        + number("max_executors", "Max executors", 4, 1, limits.max_executors)
        + number("gpus", "GPUs", 0, 0, limits.max_gpus)
        + f'<label for="hwl-idle">Shut down when idle for</label>'
        f'<select class="form-control" id="hwl-idle" name="idle_hours">{idle}</select>'
        "</div>"
    )
