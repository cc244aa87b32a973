"""hopsworks-lab: a Hopsworks-class data-science platform in JupyterLab and JupyterHub."""

from __future__ import annotations

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0.dev0"

__all__ = ["__version__", "experiment", "login", "tensorboard"]


def login(*args: object, **kwargs: object) -> object:
    """Connect to the platform and return the project (see :func:`hopsworks_lab.client.login`).
    Imported lazily: the server extension loads this package and needs no HTTP client."""
    from .client import login as _login

    return _login(*args, **kwargs)  # type: ignore[arg-type]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "hopsworks-lab"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "hopsworks_lab.server"}]


def __getattr__(name: str) -> object:
    """``hopsworks_lab.experiment`` and ``hopsworks_lab.tensorboard``, imported on first use
    (importing the package stays cheap: the server extension loads it)."""
    if name in ("experiment", "tensorboard"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
