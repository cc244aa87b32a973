"""Experiments: runs of trials (``experiment.launch``, grid/random search, differential
evolution, distributed training) recorded by the code that runs them (issue 7).

The platform keeps the record (state, timing, best trial, one row per trial) and makes the
run's folder, ``Experiments/<id>_<name>/``, where the trials write their files (parameters,
results, printed output, TensorBoard events) as the project-user. The record is written
through the API: a trial batch is upserted by trial id, all or nothing.

States: RUNNING (created) -> FINISHED | FAILED | KILLED, once (a PATCH). Trials: RUNNING,
FINISHED, FAILED (with its traceback) or EARLY_STOPPED.

Who: members read; any member creates (running code is every member's right); the creator
(with any of their sessions or keys, project-user keys included) records trials and
changes the experiment; a Data Owner may change it too (e.g. mark a run whose kernel died
as KILLED); the creator or a Data Owner deletes an experiment that has ended, with its
folder."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..db import on_rollback
from ..errors import Conflict, NotFound, Unprocessable
from ..models import (
    Experiment,
    ExperimentKind,
    ExperimentState,
    ExperimentTrial,
    Role,
    TrialState,
    utcnow,
)
from .access import ProjectAccess
from .audit import AuditService
from .datasets import DatasetService
from .quotas import QuotaService

EXPERIMENTS = "Experiments"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# a trial's id names its folder in the run's: no leading dot ("." and ".." are not folders)
TRIAL = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")
DIRECTIONS = ("max", "min")
TERMINAL = (ExperimentState.FINISHED, ExperimentState.FAILED, ExperimentState.KILLED)
BATCH_MAX = 1000  # trials in one PUT
HISTORY_MAX = 1000  # intermediate metrics of a trial
OUTPUTS_MAX = 1000
OUTPUT_MAX = 1024  # characters of an output's name
ERROR_MAX = 64 * 1024  # characters of a traceback
DESCRIPTION_MAX = 2000
KEY_MAX = 255
TOTAL_MAX = 1_000_000
JSON_MAX = 256 * 1024  # a search space, a trial's params or metrics, serialised
PAGE_MAX = 1000
INT_MAX = 2**31 - 1


# -- views ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialView:
    """A trial as answered, and as checked from a request (``trial_record``)."""

    trial: str
    index: int
    params: dict[str, Any]
    state: TrialState
    metric: float | None
    metrics: dict[str, Any]
    history: list[list[float]]
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    error: str | None
    outputs: list[str]


@dataclass(frozen=True)
class ExperimentView:
    id: int
    project: str
    name: str
    run: str  # the folder's name, "<id>_<name>"
    description: str
    kind: ExperimentKind
    direction: str | None
    optimization_key: str | None
    state: ExperimentState
    user: str
    created_at: datetime
    finished_at: datetime | None
    duration_s: float  # until it ended, or until now while it runs
    best_trial: str | None
    best_metric: float | None
    error: str | None
    space: dict[str, Any]
    trials_total: int | None
    counts: dict[str, int]  # trials by state
    trials: list[TrialView] | None  # one experiment: its trials by index; lists: None

    @property
    def path(self) -> str:
        return f"{EXPERIMENTS}/{self.run}"


def run_name(experiment_id: int, name: str) -> str:
    return f"{experiment_id}_{name}"


def _trial_view(t: ExperimentTrial) -> TrialView:
    return TrialView(
        t.trial,
        t.position,
        dict(t.params),
        t.state,
        t.metric,
        dict(t.metrics),
        [list(p) for p in t.history],
        t.started_at,
        t.finished_at,
        t.duration_s,
        t.error,
        list(t.outputs),
    )


def _view(
    e: Experiment,
    project: str,
    counts: Mapping[TrialState, int],
    now: datetime,
    trials: list[ExperimentTrial] | None = None,
) -> ExperimentView:
    end = e.finished_at or now
    return ExperimentView(
        e.id,
        project,
        e.name,
        run_name(e.id, e.name),
        e.description,
        e.kind,
        e.direction,
        e.optimization_key,
        e.state,
        e.created_by,
        e.created_at,
        e.finished_at,
        max(0.0, (end - e.created_at).total_seconds()),
        e.best_trial,
        e.best_metric,
        e.error,
        dict(e.space),
        e.trials_total,
        {state.value: counts.get(state, 0) for state in TrialState},
        None if trials is None else [_trial_view(t) for t in trials],
    )


def _counts(s: Session, ids: list[int]) -> dict[int, dict[TrialState, int]]:
    """Trials by state of each experiment in ``ids``, in one query."""
    out: dict[int, dict[TrialState, int]] = {i: {} for i in ids}
    if ids:
        rows = s.execute(
            select(ExperimentTrial.experiment_id, ExperimentTrial.state, func.count())
            .where(ExperimentTrial.experiment_id.in_(ids))
            .group_by(ExperimentTrial.experiment_id, ExperimentTrial.state)
        ).all()
        for experiment_id, state, n in rows:
            out[experiment_id][state] = n
    return out


# -- input checks (pure) ---------------------------------------------------------------------------
def _invalid(where: str, message: str, code: str = "invalid_experiment") -> Unprocessable:
    return Unprocessable(f"{where}: {message}", code=code)


def experiment_name(value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise Unprocessable(
            f"invalid experiment name {value!r}: 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
            code="invalid_experiment_name",
        )
    return value


def experiment_kind(value: Any) -> ExperimentKind:
    try:
        return ExperimentKind(value)
    except ValueError as e:
        kinds = ", ".join(k.value for k in ExperimentKind)
        raise _invalid("kind", f"{value!r} is not one of {kinds}") from e


def _text(where: str, value: Any, limit: int) -> str:
    """Free text (a description, a traceback, a metric's name): any character every
    backend stores."""
    if not isinstance(value, str):
        raise _invalid(where, "must be a string")
    if len(value) > limit:
        raise _invalid(where, f"at most {limit} characters")
    if "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise _invalid(where, "contains NUL or unpaired surrogate characters")
    return value


def _optional_text(where: str, value: Any, limit: int) -> str | None:
    return None if value is None else _text(where, value, limit)


def _number(where: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(where, "must be a number")
    try:
        number = float(value)
    except OverflowError as e:  # an int beyond a double
        raise _invalid(where, "is out of range") from e
    if not math.isfinite(number):
        raise _invalid(where, "must be a finite number (not NaN or infinity)")
    return number


def _integer(where: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(where, f"must be an integer in [{low}, {high}]")
    return value


def _check_json(where: str, value: Any, depth: int = 0) -> None:
    """JSON as every backend stores it: finite numbers, text without NUL or surrogates."""
    if depth > 32:
        raise _invalid(where, "is nested too deeply")
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(where, "holds NaN or infinity: JSON has no such numbers")
    if isinstance(value, str):
        if "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise _invalid(where, "text holds NUL or unpaired surrogates")
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise _invalid(where, "object keys must be strings")
            _check_json(where, k, depth + 1)
            _check_json(f"{where}/{k}", v, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json(f"{where}/{i}", v, depth + 1)
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise _invalid(where, f"{type(value).__name__} is not JSON")


def _json_object(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(where, "must be an object")
    _check_json(where, value)
    if len(json.dumps(value)) > JSON_MAX:
        raise _invalid(where, f"at most {JSON_MAX} bytes as JSON")
    return value


def _time(where: str, value: Any) -> datetime | None:
    """An RFC 3339 time with its offset (or an aware datetime), as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip().upper()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as e:
            raise _invalid(where, f"{value!r} is not an RFC 3339 time", "invalid_time") from e
    else:
        raise _invalid(where, "must be a time (RFC 3339)", "invalid_time")
    if parsed.tzinfo is None:
        raise _invalid(where, "give the time with its offset (e.g. ...Z)", "invalid_time")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 with an offset: the nearest representable time
        edge = datetime.min if parsed.year == 1 else datetime.max
        return edge.replace(tzinfo=timezone.utc)


def _direction(value: Any) -> str | None:
    if value is not None and value not in DIRECTIONS:
        raise _invalid("direction", "max or min")
    return value


def _trials_total(value: Any) -> int | None:
    return None if value is None else _integer("trials_total", value, 0, TOTAL_MAX)


_TRIAL_FIELDS = frozenset(TrialView.__dataclass_fields__)


def trial_record(where: str, body: Any) -> TrialView:
    """A trial from its JSON (``where`` names it in errors). The duration, when not given,
    is that from ``started_at`` to ``finished_at``."""
    if not isinstance(body, dict):
        raise _invalid(where, "must be an object", "invalid_trial")
    unknown = set(body) - _TRIAL_FIELDS
    if unknown:
        raise _invalid(where, f"unknown fields {sorted(unknown)}", "invalid_trial")
    for required in ("trial", "index", "state"):
        if required not in body:
            raise _invalid(where, f"{required!r} is required", "invalid_trial")
    trial = body["trial"]
    if not isinstance(trial, str) or not TRIAL.match(trial):
        raise _invalid(
            f"{where}/trial",
            f"{trial!r}: 1-64 letters, digits, '_', '.' or '-', not starting with '.'",
            "invalid_trial",
        )
    try:
        state = TrialState(body["state"])
    except ValueError as e:
        states = ", ".join(s.value for s in TrialState)
        raise _invalid(f"{where}/state", f"one of {states}", "invalid_trial") from e
    history = body.get("history") or []
    if not isinstance(history, list) or len(history) > HISTORY_MAX:
        raise _invalid(f"{where}/history", f"a list of at most {HISTORY_MAX} [step, value]")
    points: list[list[float]] = []
    for i, point in enumerate(history):
        if not isinstance(point, list) or len(point) != 2:
            raise _invalid(f"{where}/history/{i}", "must be [step, value]")
        step, value = point
        for j, number in enumerate(point):
            if _number(f"{where}/history/{i}/{j}", number) is None:
                raise _invalid(f"{where}/history/{i}/{j}", "must be a number")
        points.append([step, value])
    outputs = body.get("outputs") or []
    if not isinstance(outputs, list) or len(outputs) > OUTPUTS_MAX:
        raise _invalid(f"{where}/outputs", f"a list of at most {OUTPUTS_MAX} file names")
    for i, name in enumerate(outputs):
        # names for people and links, relative to the trial's folder; the platform never
        # opens them (the files API refuses any path that leaves a dataset)
        if not _text(f"{where}/outputs/{i}", name, OUTPUT_MAX):
            raise _invalid(f"{where}/outputs/{i}", "an empty file name")
    started = _time(f"{where}/started_at", body.get("started_at"))
    finished = _time(f"{where}/finished_at", body.get("finished_at"))
    duration = _number(f"{where}/duration_s", body.get("duration_s"))
    if duration is not None and duration < 0:
        raise _invalid(f"{where}/duration_s", "must not be negative")
    if duration is None and started is not None and finished is not None:
        duration = max(0.0, (finished - started).total_seconds())
    return TrialView(
        trial,
        _integer(f"{where}/index", body["index"], 0, INT_MAX),
        _json_object(f"{where}/params", body.get("params")),
        state,
        _number(f"{where}/metric", body.get("metric")),
        _json_object(f"{where}/metrics", body.get("metrics")),
        points,
        started,
        finished,
        duration,
        _optional_text(f"{where}/error", body.get("error"), ERROR_MAX),
        list(outputs),
    )


def trial_batch(trials: Any) -> list[TrialView]:
    """A whole batch, checked before anything is written. Upserts apply in order: of two
    entries for one trial, the later wins (as two calls would)."""
    if not isinstance(trials, list) or len(trials) > BATCH_MAX:
        raise _invalid("trials", f"a list of at most {BATCH_MAX} trials", "invalid_trial")
    records = [trial_record(f"trials/{i}", t) for i, t in enumerate(trials)]
    return list({r.trial: r for r in records}.values())


UPDATABLE = frozenset({"state", "best_trial", "best_metric", "error", "trials_total"})


class ExperimentService:
    def __init__(
        self,
        audit: AuditService,
        access: ProjectAccess,
        datasets: DatasetService,
        quotas: QuotaService,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.audit, self.access = audit, access
        self.datasets, self.storage, self.quotas = datasets, datasets.storage, quotas
        self.clock = clock

    # -- lookups ----------------------------------------------------------------------------
    @staticmethod
    def _experiment(
        s: Session, project_id: int, experiment_id: int, *, lock: bool = False
    ) -> Experiment:
        q = select(Experiment).where(
            Experiment.id == experiment_id, Experiment.project_id == project_id
        )
        if lock:  # serialises trial batches and state changes of one experiment
            q = q.with_for_update()
        e = s.execute(q).scalar() if 0 < experiment_id <= INT_MAX else None
        if e is None:
            raise NotFound(f"no experiment {experiment_id}", code="experiment_not_found")
        return e

    def _one(self, s: Session, e: Experiment, project: str, *, trials: bool) -> ExperimentView:
        rows = None
        if trials:
            rows = list(
                s.execute(
                    select(ExperimentTrial)
                    .where(ExperimentTrial.experiment_id == e.id)
                    .order_by(ExperimentTrial.position, ExperimentTrial.trial)
                ).scalars()
            )
        return _view(e, project, _counts(s, [e.id])[e.id], self.clock(), rows)

    def _run_dir(self, project: str, run: str) -> str:
        return f"{self.storage.dataset_dir(project, EXPERIMENTS)}/{run}"

    def _to_change(
        self,
        s: Session,
        actor: Actor,
        project: str,
        experiment_id: int,
        action: str,
        owner_too: bool,
    ) -> Experiment:
        """The experiment, locked, once ``actor`` may do ``action`` to it (refusals audited)."""
        acc = self.access.check(s, actor, project, action, scope="job", target=str(experiment_id))
        e = self._experiment(s, acc.project.id, experiment_id, lock=True)
        self._may_change(actor, acc.role, e, action, project, owner_too=owner_too)
        return e

    def _may_change(
        self,
        actor: Actor,
        role: Role | None,
        e: Experiment,
        action: str,
        project: str,
        *,
        owner_too: bool,
    ) -> None:
        """The creator (any of their keys), or a Data Owner when ``owner_too``; audited."""
        if e.created_by == actor.username:
            return
        if owner_too and role is Role.DATA_OWNER:
            return
        who = "its creator or a Data Owner" if owner_too else "its creator"
        raise self.audit.deny(
            actor,
            action,
            f"only {who} may do this to experiment {e.id}",
            project=project,
            target=str(e.id),
            code="not_the_creator",
        )

    def _make_run_dir(self, s: Session, project: str, run: str) -> None:
        """The run's folder, where the project-user writes (it inherits the Experiments
        dataset's default ACL under OS isolation, as Logs/<job>/<id>/ does). A stale one
        (e.g. after a database reset) is moved aside; the project's code writes in
        Experiments, so the folder must still lead inside it."""
        path = self._run_dir(project, run)
        if self.storage.exists(path):  # moved as it is (a link stays a link)
            self.storage.move(path, f"{path}.old-{int(self.clock().timestamp())}")
        # walked from the storage root without following links: a link on the way is refused
        self.storage.makedirs(path)
        on_rollback(s, lambda: self.storage.remove(path))  # a link is removed, not followed

    # -- experiments ---------------------------------------------------------------------------
    def list(
        self, actor: Actor, project: str, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[ExperimentView], int]:
        """A page of the project's experiments, newest first, and how many there are."""
        limit = max(1, min(limit, PAGE_MAX))
        with self.audit.transaction() as s:
            acc = self.access.check(s, actor, project, "experiment.list", scope="job")
            where = Experiment.project_id == acc.project.id
            total = s.execute(
                select(func.count()).select_from(Experiment).where(where)
            ).scalar_one()
            rows = list(
                s.execute(
                    select(Experiment)
                    .where(where)
                    .order_by(Experiment.id.desc())
                    .offset(max(0, offset))
                    .limit(limit)
                ).scalars()
            )
            counts, now = _counts(s, [e.id for e in rows]), self.clock()
            return [_view(e, project, counts[e.id], now) for e in rows], total

    def check_read(self, actor: Actor, project: str, run: str) -> None:
        """Refuse (audited) unless ``actor`` may read the project's experiments: what
        TensorBoard over a run folder needs (a member; an administrator who is not one may
        not, as with the records and the files)."""
        with self.audit.transaction() as s:
            self.access.check(s, actor, project, "experiment.read", scope="job", target=run)

    def get(self, actor: Actor, project: str, experiment_id: int) -> ExperimentView:
        """The experiment with its trials (by index)."""
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "experiment.read", scope="job", target=str(experiment_id)
            )
            e = self._experiment(s, acc.project.id, experiment_id)
            return self._one(s, e, project, trials=True)

    def create(
        self,
        actor: Actor,
        project: str,
        name: str,
        kind: ExperimentKind | str,
        *,
        description: str = "",
        direction: str | None = None,
        optimization_key: str | None = None,
        space: dict[str, Any] | None = None,
        trials_total: int | None = None,
    ) -> ExperimentView:
        """A RUNNING experiment of ``actor`` and its folder ``Experiments/<id>_<name>/``."""
        name, kind = experiment_name(name), experiment_kind(kind)
        description = _text("description", description or "", DESCRIPTION_MAX)
        direction = _direction(direction)
        key = _optional_text("optimization_key", optimization_key, KEY_MAX)
        space = _json_object("space", space)
        total = _trials_total(trials_total)
        with self.audit.transaction() as s:
            acc = self.access.check(
                s, actor, project, "experiment.create", scope="job", target=name
            )
            e = Experiment(
                project_id=acc.project.id,
                name=name,
                description=description,
                kind=kind,
                direction=direction,
                optimization_key=key,
                state=ExperimentState.RUNNING,
                created_by=actor.username,
                created_at=self.clock(),
                space=space,
                trials_total=total,
            )
            s.add(e)
            s.flush()
            run = run_name(e.id, name)
            self._make_run_dir(s, project, run)
            self.audit.append(
                s,
                actor,
                "experiment.create",
                project=project,
                target=str(e.id),
                detail={"name": name, "kind": kind.value, "run": run},
            )
            return self._one(s, e, project, trials=False)

    def update(
        self, actor: Actor, project: str, experiment_id: int, fields: Mapping[str, Any]
    ) -> ExperimentView:
        """Change a RUNNING experiment: ``state`` (to FINISHED, FAILED or KILLED, once),
        ``best_trial`` (one of its trials), ``best_metric``, ``error``, ``trials_total``.
        An experiment that has ended changes no more (409); its trials still RUNNING then
        become FAILED."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise _invalid("body", f"unknown fields {sorted(unknown)}")
        state = fields.get("state")
        if state is not None:
            try:
                state = ExperimentState(state)
            except ValueError as e:
                raise _invalid("state", "FINISHED, FAILED or KILLED") from e
            if state not in TERMINAL:
                raise _invalid("state", "FINISHED, FAILED or KILLED: an experiment runs once")
        best = fields.get("best_trial")
        if best is not None and (not isinstance(best, str) or not TRIAL.match(best)):
            raise _invalid("best_trial", f"{best!r} is not a trial id")
        metric = _number("best_metric", fields.get("best_metric"))
        error = _optional_text("error", fields.get("error"), ERROR_MAX)
        total = _trials_total(fields.get("trials_total"))
        target = str(experiment_id)
        with self.audit.transaction() as s:
            e = self._to_change(s, actor, project, experiment_id, "experiment.update", True)
            if e.state is not ExperimentState.RUNNING:
                raise Conflict(
                    f"experiment {e.id} has ended ({e.state.value}): it changes no more",
                    code="experiment_ended",
                )
            if best is not None:
                known = s.execute(
                    select(ExperimentTrial.id).where(
                        ExperimentTrial.experiment_id == e.id, ExperimentTrial.trial == best
                    )
                ).first()
                if known is None:  # not recorded (yet): a conflict with the state, not bad input
                    raise Conflict(f"experiment {e.id} has no trial {best!r}", code="unknown_trial")
                e.best_trial = best
            if "best_metric" in fields:
                e.best_metric = metric
            if "error" in fields:
                e.error = error
            if "trials_total" in fields:
                e.trials_total = total
            detail = {k: fields[k] for k in ("best_trial", "best_metric") if k in fields}
            if state is not None:
                e.state, e.finished_at = state, self.clock()
                detail["state"] = state.value
                # trials take no more updates: one still running would stay so forever
                for t in s.scalars(
                    select(ExperimentTrial).where(
                        ExperimentTrial.experiment_id == e.id,
                        ExperimentTrial.state == TrialState.RUNNING,
                    )
                ):
                    t.state, t.finished_at = TrialState.FAILED, e.finished_at
                    t.error = f"the experiment ended ({state.value}) while this trial ran"
                    if t.started_at is not None:
                        t.duration_s = (e.finished_at - t.started_at).total_seconds()
            self.audit.append(
                s, actor, "experiment.update", project=project, target=target, detail=detail
            )
            return self._one(s, e, project, trials=False)

    def put_trials(
        self, actor: Actor, project: str, experiment_id: int, trials: list[dict[str, Any]]
    ) -> ExperimentView:
        """Insert or replace trials by their id, all or nothing: one bad trial (422) writes
        none. Only the creator records trials, and only while the experiment runs (409).
        Not audited one by one (a search records thousands; the experiment's creation and
        end are)."""
        records = trial_batch(trials)
        with self.audit.transaction() as s:
            e = self._to_change(s, actor, project, experiment_id, "experiment.trials", False)
            if e.state is not ExperimentState.RUNNING:
                raise Conflict(
                    f"experiment {e.id} has ended ({e.state.value}): no more trials",
                    code="experiment_ended",
                )
            existing = {
                t.trial: t
                for t in s.execute(
                    select(ExperimentTrial).where(
                        ExperimentTrial.experiment_id == e.id,
                        ExperimentTrial.trial.in_([r.trial for r in records]),
                    )
                ).scalars()
            }
            for r in records:
                row = existing.get(r.trial)
                if row is None:
                    row = ExperimentTrial(experiment_id=e.id, trial=r.trial)
                    s.add(row)
                row.position, row.params, row.state = r.index, r.params, r.state
                row.metric, row.metrics, row.history = r.metric, r.metrics, r.history
                row.started_at, row.finished_at = r.started_at, r.finished_at
                row.duration_s, row.error, row.outputs = r.duration_s, r.error, r.outputs
            s.flush()
            return self._one(s, e, project, trials=False)

    def delete(self, actor: Actor, project: str, experiment_id: int) -> None:
        """Delete an experiment that has ended, its trials and its folder (the creator or a
        Data Owner); 409 while it runs (PATCH it to KILLED first)."""
        target = str(experiment_id)
        with self.audit.transaction() as s:
            e = self._to_change(s, actor, project, experiment_id, "experiment.delete", True)
            if e.state is ExperimentState.RUNNING:
                raise Conflict(
                    f"experiment {e.id} is running: set it KILLED first",
                    code="experiment_running",
                )
            run = run_name(e.id, e.name)
            path = self._run_dir(project, run)
            size = files = 0
            # code may have put a link there: storage counts, moves and removes the link
            # itself, never what it points to
            if self.storage.exists(path):
                size, files = self.storage.usage(path)
                self.quotas.reserve(s, e.project_id, -size, -files)
                self.datasets.trash_in(s, path)
            s.execute(delete(ExperimentTrial).where(ExperimentTrial.experiment_id == e.id))
            s.delete(e)
            self.audit.append(
                s,
                actor,
                "experiment.delete",
                project=project,
                target=target,
                detail={"run": run, "bytes": size, "files": files},
            )
