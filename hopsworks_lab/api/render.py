"""Pure functions from service results to the JSON shapes in ``openapi.yaml``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from ..platform.models import ApiKey, AuditRecord, User
from ..platform.services.certs import CertificateBundle
from ..platform.services.compute import AllocationView, GpuView, UsageView
from ..platform.services.datasets import DatasetView, ShareView
from ..platform.services.environments import EnvironmentView, EnvLocation, OperationView
from ..platform.services.experiments import ExperimentView, TrialView
from ..platform.services.jobs import ExecutionView, JobView, LogChunk
from ..platform.services.members import MemberView
from ..platform.services.projects import ProjectView
from ..platform.services.quotas import QuotaView
from ..platform.storage import Entry


def ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def user(u: User) -> dict[str, Any]:
    return {
        "username": u.username,
        "email": u.email,
        "is_admin": u.is_admin,
        "status": u.status.value,
        "totp_enabled": u.totp_enabled,
        "created_at": ts(u.created_at),
    }


def project(p: ProjectView) -> dict[str, Any]:
    return {
        "name": p.name,
        "description": p.description,
        "owner": p.owner,
        "created_at": ts(p.created_at),
        "role": p.role.value if p.role else None,
    }


def member(m: MemberView) -> dict[str, Any]:
    return {"username": m.username, "role": m.role.value, "added_at": ts(m.added_at)}


def apikey(k: ApiKey) -> dict[str, Any]:
    return {
        "name": k.name,
        "prefix": k.prefix,
        "scopes": list(k.scopes),
        "project": k.project.name if k.project else None,
        "created_at": ts(k.created_at),
        "last_used_at": ts(k.last_used_at),
    }


def audit(r: AuditRecord) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "ts": ts(r.ts),
        "actor": r.actor,
        "via": r.via,
        "action": r.action,
        "project": r.project,
        "target": r.target,
        "outcome": r.outcome,
        "detail": r.detail,
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    }


def certificate(b: CertificateBundle) -> dict[str, Any]:
    return {
        "common_name": b.common_name,
        "serial": b.serial,
        "not_after": ts(b.not_after),
        "certificate": b.certificate,
        "private_key": b.private_key,
        "password": b.password,
        "ca": b.ca,
    }


def items(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": rows, "count": len(rows)}


def dataset(d: DatasetView) -> dict[str, Any]:
    return {
        "name": d.name,
        "owner_project": d.owner_project,
        "description": d.description,
        "preset": d.preset.value,
        "public": d.public,
        "shared": d.shared,
        "permission": d.permission.value if d.permission else None,
        "status": d.status.value if d.status else None,
        "created_at": ts(d.created_at),
        "rights": asdict(d.rights) if d.rights else None,
    }


def share(sh: ShareView) -> dict[str, Any]:
    return {
        "dataset": sh.dataset,
        "project": sh.project,
        "permission": sh.permission.value,
        "status": sh.status.value,
        "shared_by": sh.shared_by,
        "created_at": ts(sh.created_at),
    }


def quota(q: QuotaView) -> dict[str, Any]:
    return {
        "project": q.project,
        "bytes_limit": q.bytes_limit,
        "files_limit": q.files_limit,
        "bytes_used": q.bytes_used,
        "files_used": q.files_used,
        "scanned_at": ts(q.scanned_at),
    }


def entry(e: Entry, path: str) -> dict[str, Any]:
    return {
        "name": e.name,
        "path": path,
        "type": e.type,
        "size": e.size,
        "modified": ts(e.modified),
    }


def allocation(a: AllocationView) -> dict[str, Any]:
    return {
        "id": a.id,
        "project": a.project,
        "username": a.username,
        "kind": a.kind.value,
        "holder": a.holder,
        "gpus": list(a.gpus),
        "cuda_visible_devices": a.cuda_visible_devices,
        "cpus": a.cpus,
        "started_at": ts(a.started_at),
        "ended_at": ts(a.ended_at),
        "end_reason": a.end_reason,
        "gpu_hours": a.gpu_hours,
        "cpu_hours": a.cpu_hours,
    }


def compute_usage(u: UsageView) -> dict[str, Any]:
    return {
        "project": u.project,
        "gpu_hours_limit": u.gpu_hours_limit,
        "cpu_hours_limit": u.cpu_hours_limit,
        "gpu_hours_used": u.gpu_hours_used,
        "cpu_hours_used": u.cpu_hours_used,
        "live_allocations": u.live_allocations,
        "gpus_in_use": u.gpus_in_use,
        "cpus_in_use": u.cpus_in_use,
        "as_of": ts(u.as_of),
    }


def gpu_inventory(gpus: list[GpuView]) -> dict[str, Any]:
    items = [
        {
            "id": g.id,
            "in_inventory": g.in_inventory,
            "allocation_id": g.allocation_id,
            "project": g.project,
            "holder": g.holder,
            "username": g.username,
            "kind": g.kind.value if g.kind else None,
            "since": ts(g.since),
        }
        for g in gpus
    ]
    return {
        "items": items,
        "count": len(items),
        "free": sum(1 for g in gpus if g.in_inventory and g.allocation_id is None),
    }


def job(j: JobView) -> dict[str, Any]:
    schedule = None
    if j.schedule is not None:
        sc = j.schedule
        schedule = {
            "cron": sc.cron,
            "start": ts(sc.start),
            "end": ts(sc.end),
            "enabled": sc.enabled,
            "allow_overlap": sc.allow_overlap,
            "catch_up": sc.catch_up,
        }
    return {
        "name": j.name,
        "project": j.project,
        "type": j.type.value,
        "config": j.config,
        "created_by": j.created_by,
        "created_at": ts(j.created_at),
        "updated_at": ts(j.updated_at),
        "schedule": schedule,
        "next_fire_at": ts(j.next_fire_at),
        "last_execution": None if j.last_execution is None else execution(j.last_execution),
    }


def execution(e: ExecutionView) -> dict[str, Any]:
    return {
        "id": e.id,
        "job": e.job,
        "project": e.project,
        "state": e.state.value,
        "args": e.args,
        "submitted_by": e.submitted_by,
        "trigger": e.trigger,
        "scheduled_for": ts(e.scheduled_for),
        "created_at": ts(e.created_at),
        "started_at": ts(e.started_at),
        "finished_at": ts(e.finished_at),
        "exit_code": e.exit_code,
        "reason": e.reason,
        "log_dir": e.log_dir,
        "notebook": e.notebook,
    }


def log_chunk(c: LogChunk) -> dict[str, Any]:
    return {
        "stream": c.stream,
        "offset": c.offset,
        "next_offset": c.next_offset,
        "size": c.size,
        "text": c.text,
        "complete": c.complete,
    }


def environment(e: EnvironmentView) -> dict[str, Any]:
    return {
        "project": e.project,
        "python": e.python,
        "python_version": e.python_version,
        "base_python": e.base_python,
        "generation": e.generation,
        "packages": [
            {
                "name": p.name,
                "version": p.version,
                "source": p.source,
                "base_version": p.base_version,
            }
            for p in e.packages
        ],
        "problems": e.problems,
        "pending": e.pending,
    }


def env_operation(o: OperationView) -> dict[str, Any]:
    result = o.result
    return {
        "id": o.id,
        "project": o.project,
        "op": o.op,
        "packages": o.spec.get("packages"),
        "requirements": o.spec.get("requirements"),
        "wheel": o.spec.get("wheel"),
        "status": o.status.value,
        "requested_by": o.requested_by,
        "created_at": ts(o.created_at),
        "started_at": ts(o.started_at),
        "finished_at": ts(o.finished_at),
        "message": o.message,
        "generation": result.get("generation"),
        "problems": result.get("problems", []),
        "added": result.get("added", []),
        "removed": result.get("removed", []),
        "changed": result.get("changed", []),
    }


def env_location(loc: EnvLocation | None) -> dict[str, Any] | None:
    if loc is None:
        return None
    return {
        "python": loc.python,
        "virtual_env": loc.virtual_env,
        "path_prefix": loc.path_prefix,
        "jupyter_path": loc.jupyter_path,
    }


def trial(t: TrialView) -> dict[str, Any]:
    return {
        "trial": t.trial,
        "index": t.index,
        "params": t.params,
        "state": t.state.value,
        "metric": t.metric,
        "metrics": t.metrics,
        "history": t.history,
        "started_at": ts(t.started_at),
        "finished_at": ts(t.finished_at),
        "duration_s": t.duration_s,
        "error": t.error,
        "outputs": t.outputs,
    }


def experiment(e: ExperimentView) -> dict[str, Any]:
    body = {
        "id": e.id,
        "project": e.project,
        "name": e.name,
        "run": e.run,
        "path": e.path,
        "description": e.description,
        "kind": e.kind.value,
        "direction": e.direction,
        "optimization_key": e.optimization_key,
        "state": e.state.value,
        "user": e.user,
        "created_at": ts(e.created_at),
        "finished_at": ts(e.finished_at),
        "duration_s": e.duration_s,
        "best_trial": e.best_trial,
        "best_metric": e.best_metric,
        "error": e.error,
        "space": e.space,
        "trials_total": e.trials_total,
        "counts": e.counts,
    }
    if e.trials is not None:
        body["trials"] = [trial(t) for t in e.trials]
    return body
