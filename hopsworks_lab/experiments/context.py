"""The running trial's folder, for ``tensorboard.logdir()`` and user code."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

from ..environ import ENV_LOGDIR

_logdir: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "hopsworks_lab_trial_logdir", default=None
)


def current_logdir() -> str:
    """The running trial's folder (its TensorBoard logdir, and its working folder)."""
    value = _logdir.get() or os.environ.get(ENV_LOGDIR)
    if not value:
        raise RuntimeError("tensorboard.logdir() is only available inside an experiment's trial")
    return value


@contextlib.contextmanager
def trial_logdir(path: str) -> Iterator[None]:
    """Within the block, ``current_logdir()`` is ``path`` (also exported as
    ``HOPSWORKS_LAB_LOGDIR`` for the processes the trial starts)."""
    token = _logdir.set(path)
    before = os.environ.get(ENV_LOGDIR)
    os.environ[ENV_LOGDIR] = path
    try:
        yield
    finally:
        _logdir.reset(token)
        if before is None:
            os.environ.pop(ENV_LOGDIR, None)
        else:
            os.environ[ENV_LOGDIR] = before
