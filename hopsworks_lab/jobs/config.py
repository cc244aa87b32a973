"""A job's settings: checked and completed with defaults (pure: no I/O).

The REST API validates bodies against the ``JobConfig`` schemas of ``openapi.yaml`` first;
these checks repeat what matters for callers that do not go through it, and add what a
schema cannot say (the executor bounds' order)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from ..platform import jsonsafe
from ..platform.errors import Unprocessable
from ..platform.models import JobType
from ..platform.storage import clean_path
from .spark import RESERVED_PROPERTIES, SparkSettings

JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
APPS = {JobType.PYTHON: (".py", ".ipynb"), JobType.PYSPARK: (".py",)}
MEMORY = re.compile(r"^[1-9][0-9]{0,6}([kmgt]b?)?$", re.IGNORECASE)  # Spark's: 512m, 2g
PROPERTY = re.compile(r"^spark\.[A-Za-z0-9._-]{1,200}$")
# bounds as in openapi.yaml (a body of them all stays under the API's 1 MiB)
ARGS_MAX = 200
ARG_LEN_MAX = 2000
FILES_MAX = 50
PATH_MAX = 1024
PROPERTIES_MAX = 100
COUNT_MAX = 10000
CORES_MAX = 1024
_DEFAULTS = SparkSettings()


def invalid(message: str) -> Unprocessable:
    return Unprocessable(message, code="invalid_job_config")


def job_name(value: str) -> str:
    if not isinstance(value, str) or not JOB_NAME.match(value):
        raise Unprocessable(
            f"invalid job name {value!r}: 1-64 letters, digits, '_' or '-'",
            code="invalid_job_name",
        )
    return value


def job_type(value: str | JobType) -> JobType:
    try:
        return JobType(value)
    except ValueError as e:
        raise invalid(f"unknown job type {value!r}: PYTHON or PYSPARK") from e


def dataset_path(value: Any, what: str) -> str:
    """``<dataset>/<path>`` of a file, normalised."""
    if not isinstance(value, str) or len(value) > PATH_MAX:
        raise invalid(f"{what} must be '<dataset>/<path>' (at most {PATH_MAX} characters)")
    parts = clean_path(value)
    if len(parts) < 2:
        raise invalid(f"{what} must name a file inside a dataset: '<dataset>/<path>'")
    return "/".join(parts)


def is_notebook(app_path: str) -> bool:
    return app_path.endswith(".ipynb")


def arguments(value: Any, what: str = "args") -> list[str]:
    if not isinstance(value, list) or len(value) > ARGS_MAX:
        raise invalid(f"{what} must be a list of at most {ARGS_MAX} strings")
    for arg in value:
        if not isinstance(arg, str) or len(arg) > ARG_LEN_MAX or "\x00" in arg:
            raise invalid(f"{what}: each argument is a string of at most {ARG_LEN_MAX} characters")
    return list(value)


def _count(spark: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = spark.get(key, getattr(_DEFAULTS, key))
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(f"spark.{key} must be an integer from {low} to {high}")
    return value


def _memory(spark: Mapping[str, Any], key: str) -> str:
    value = spark.get(key, getattr(_DEFAULTS, key))
    if not isinstance(value, str) or not MEMORY.match(value):
        raise invalid(f"spark.{key} must be a size such as '512m' or '2g'")
    return value.lower()


def spark_settings(spark: Any) -> dict[str, Any]:
    """``config["spark"]`` with every setting present."""
    if not isinstance(spark, Mapping):
        raise invalid("spark must be an object")
    known = set(_DEFAULTS.__dataclass_fields__)
    unknown = sorted(set(spark) - known)
    if unknown:
        raise invalid(f"unknown Spark settings {unknown}")
    dynamic = spark.get("dynamic_allocation", False)
    if not isinstance(dynamic, bool):
        raise invalid("spark.dynamic_allocation must be true or false")
    out: dict[str, Any] = {
        "driver_cores": _count(spark, "driver_cores", 1, CORES_MAX),
        "driver_memory": _memory(spark, "driver_memory"),
        "executor_cores": _count(spark, "executor_cores", 1, CORES_MAX),
        "executor_memory": _memory(spark, "executor_memory"),
        "executors": _count(spark, "executors", 1, COUNT_MAX),
        "dynamic_allocation": dynamic,
        "min_executors": _count(spark, "min_executors", 0, COUNT_MAX),
        "max_executors": _count(spark, "max_executors", 1, COUNT_MAX),
    }
    for key in ("files", "py_files"):
        files = spark.get(key, [])
        if not isinstance(files, list) or len(files) > FILES_MAX:
            raise invalid(f"spark.{key} must be a list of at most {FILES_MAX} paths")
        out[key] = [dataset_path(f, f"spark.{key}") for f in files]
        if any("," in f for f in out[key]):
            raise invalid(f"spark.{key}: Spark separates files by ',': a path may not have one")
    properties = spark.get("properties", {})
    if not isinstance(properties, Mapping) or len(properties) > PROPERTIES_MAX:
        raise invalid(f"spark.properties: at most {PROPERTIES_MAX} 'spark.*' strings")
    for key, value in properties.items():
        if not isinstance(key, str) or not isinstance(value, str) or len(value) > ARG_LEN_MAX:
            raise invalid("spark.properties: string names and values")
    out["properties"] = dict(properties)
    return out


def normalize(kind: JobType, config: Any) -> dict[str, Any]:
    """The job's stored settings: ``app_path``, default ``args`` and (PYSPARK) ``spark``."""
    if not isinstance(config, Mapping):
        raise invalid("config must be an object")
    allowed = {"app_path", "args"} | ({"spark"} if kind is JobType.PYSPARK else set())
    unknown = sorted(set(config) - allowed)
    if unknown:
        hint = " (Spark settings are for PYSPARK jobs)" if "spark" in unknown else ""
        raise invalid(f"unknown settings {unknown}{hint}")
    if "app_path" not in config:
        raise invalid("app_path is required: '<dataset>/<path>' of the program")
    app = dataset_path(config["app_path"], "app_path")
    if not app.endswith(APPS[kind]):
        raise invalid(f"a {kind.value} job runs a {' or '.join(APPS[kind])} file")
    out: dict[str, Any] = {"app_path": app, "args": arguments(config.get("args", []))}
    if kind is JobType.PYSPARK:
        out["spark"] = spark_settings(config.get("spark", {}))
    return out


def check_consistency(config: Mapping[str, Any]) -> None:
    """What no schema can say; checked after the files were found (a missing file is the
    first thing to report)."""
    spark = config.get("spark")
    if spark:
        for key in spark["properties"]:
            if not PROPERTY.match(key):
                raise invalid(f"spark.properties: {key!r} is not a 'spark.*' property name")
            if key in RESERVED_PROPERTIES:
                raise invalid(f"spark.properties: {key} is set by the platform")
        if spark["min_executors"] > spark["max_executors"]:
            raise invalid("spark.min_executors may not exceed spark.max_executors")
        for key in ("files", "py_files"):
            names = [posixpath.basename(f) for f in spark[key]]
            if len(set(names)) != len(names):
                raise invalid(f"spark.{key}: two files have the same name")
    if is_notebook(config["app_path"]):
        notebook_parameters(config["args"])


def notebook_parameters(args: list[str]) -> dict[str, Any]:
    """A notebook's parameters from ``key=value`` arguments. A value that reads as a JSON
    number, ``true``, ``false``, ``null`` or a quoted string is passed as that; anything else
    as the text it is."""
    params: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key.isidentifier():
            raise invalid(f"a notebook takes key=value parameters, not {arg!r}")
        try:
            parsed = jsonsafe.loads(value)
        except jsonsafe.JsonError:
            parsed = value
        params[key] = parsed if isinstance(parsed, (int, float, bool, str, type(None))) else value
    return params
