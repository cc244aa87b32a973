"""TensorBoard's HParams data for a run folder, without TensorFlow.

``tensorboard.plugins.hparams.summary`` imports TensorFlow; the records it writes are plain
protocol buffers, built here from TensorBoard's own protos and written with the event-file
writer that ``torch.utils.tensorboard`` uses too. Layout (the logdir is the run folder):

- ``<run>/events...``: the experiment (each hyperparameter's domain, the metric tags);
- ``<run>/<trial>/events...``: the trial's session start (its hyperparameters) and each
  metric as a scalar whose tag is the metric's name. TensorBoard names a session after its
  run folder, so the HParams table shows one row per trial, named after the trial.

The builders (``experiment_summary``, ``session_start_summary``, ``metric_summary``) are pure;
the two ``write_*`` functions add the file I/O.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

__all__ = [
    "experiment_summary",
    "hparam_info",
    "metric_summary",
    "session_start_summary",
    "write_run_config",
    "write_trial_hparams",
]

_FLOAT = api_pb2.DATA_TYPE_FLOAT64
_STRING = api_pb2.DATA_TYPE_STRING
_BOOL = api_pb2.DATA_TYPE_BOOL
_EVENTS = "events.out.tfevents."
_SUFFIX = ".hparams"  # the event files written here (write_run_config replaces its own)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _data_type(values: Sequence[Any]) -> int:
    """One type for a hyperparameter: TensorBoard compares values of one type only."""
    if values and all(isinstance(v, bool) for v in values):
        return _BOOL
    if values and all(_is_number(v) for v in values):
        return _FLOAT
    return _STRING


def _as_string(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def hparam_info(name: str, domain: Sequence[Any]) -> api_pb2.HParamInfo:
    """A hyperparameter's declaration: a tuple ``(low, high)`` of numbers is an interval, any
    other sequence the discrete set of its values (numbers, booleans, or strings; values of
    mixed or other types are shown as their ``repr``)."""
    if not isinstance(domain, (list, tuple)):
        raise TypeError(f"the domain of {name!r} must be a list or a (low, high) tuple")
    if (
        isinstance(domain, tuple)
        and len(domain) == 2
        and all(_is_number(v) and math.isfinite(v) for v in domain)
    ):
        low, high = sorted(float(v) for v in domain)
        return api_pb2.HParamInfo(
            name=name,
            type=_FLOAT,
            domain_interval=api_pb2.Interval(min_value=low, max_value=high),
        )
    info = api_pb2.HParamInfo(name=name, type=_data_type(domain))
    for value in domain:
        item = info.domain_discrete.values.add()
        if info.type == _BOOL:
            item.bool_value = value
        elif info.type == _FLOAT:
            item.number_value = float(value)
        else:
            item.string_value = _as_string(value)
    return info


def _summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> summary_pb2.Summary:
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR
    )
    return summary


def experiment_summary(
    space: Mapping[str, Sequence[Any]], metrics: Sequence[str], time_created_secs: float = 0.0
) -> summary_pb2.Summary:
    """The HParams experiment: one ``HParamInfo`` per hyperparameter, one ``MetricInfo`` per
    metric tag (read from each trial's own run: an empty group)."""
    experiment = api_pb2.Experiment(
        time_created_secs=time_created_secs,
        hparam_infos=[hparam_info(name, domain) for name, domain in space.items()],
        metric_infos=[
            api_pb2.MetricInfo(name=api_pb2.MetricName(group="", tag=tag), display_name=tag)
            for tag in metrics
        ],
    )
    return _summary(
        metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)
    )


def session_start_summary(
    params: Mapping[str, Any], start_time_secs: float = 0.0
) -> summary_pb2.Summary:
    """A trial's hyperparameter values. Booleans, numbers and strings keep their type; any
    other value (a list, None, ...) is written as its ``repr``, like a mixed discrete domain.
    No group name: TensorBoard then groups each session alone, one row per trial."""
    info = plugin_data_pb2.SessionStartInfo(start_time_secs=start_time_secs)
    for name, value in params.items():
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif _is_number(value):
            info.hparams[name].number_value = float(value)
        else:
            info.hparams[name].string_value = _as_string(value)
    return _summary(
        metadata.SESSION_START_INFO_TAG,
        plugin_data_pb2.HParamsPluginData(session_start_info=info),
    )


def metric_summary(metrics: Mapping[str, Any]) -> summary_pb2.Summary:
    """The numeric metrics as scalars tagged with their names (others are left out: the
    HParams table shows numbers only)."""
    summary = summary_pb2.Summary()
    for tag, value in metrics.items():
        if _is_number(value) or isinstance(value, bool):
            summary.value.add(tag=tag, simple_value=float(value))
    return summary


def _write(logdir: str, events: list[event_pb2.Event]) -> None:
    # flush_secs is irrelevant: close() writes everything before returning
    writer = EventFileWriter(logdir, filename_suffix=_SUFFIX)
    try:
        for event in events:
            writer.add_event(event)
    finally:
        writer.close()


def write_run_config(run_dir: str, space: dict[str, list | tuple], metrics: list[str]) -> None:
    """The HParams experiment at the run folder's root: each hyperparameter's domain
    (a list: its discrete values; a ``(low, high)`` tuple: an interval) and the metric tags.

    A config lists the only metrics the HParams table shows: with no metric tags none is
    written, and TensorBoard infers the experiment from the trials instead (their
    hyperparameters, and every scalar they wrote as a metric). A later call replaces the
    earlier config (e.g. at the end of a run, with the names of every metric the trials
    returned), for the TensorBoards started after it."""
    for name in os.listdir(run_dir):
        if name.startswith(_EVENTS) and name.endswith(_SUFFIX):
            os.unlink(os.path.join(run_dir, name))
    if not metrics:
        return
    now = time.time()
    summary = experiment_summary(space, metrics, time_created_secs=now)
    _write(run_dir, [event_pb2.Event(wall_time=now, step=0, summary=summary)])


def write_trial_hparams(
    trial_dir: str, params: dict[str, Any], metrics: dict[str, float], *, step: int = 0
) -> None:
    """The trial's session start (its hyperparameters) and each numeric metric as a scalar
    tagged with the metric's name, in the trial folder. TensorBoard's HParams table reads a
    metric's latest value by step: a trial that logged the same tag during training passes
    its last ``step`` so that this final value is the one shown."""
    now = time.time()
    _write(
        trial_dir,
        [
            event_pb2.Event(wall_time=now, step=0, summary=session_start_summary(params, now)),
            event_pb2.Event(wall_time=now, step=step, summary=metric_summary(metrics)),
        ],
    )
