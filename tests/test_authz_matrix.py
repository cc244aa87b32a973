"""The authorization matrix: every route, called by an anonymous caller, a member of
another project, a Data Scientist, a Data Owner and an administrator who is not a member.
The expected status is asserted for each, and every refusal must leave an audit record.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
from conftest import ADMIN_PASSWORD, Client
from routes_util import implemented

from hopsworks_lab.platform import Platform
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.models import AuditHead

WHO = ("anon", "other", "ds", "do", "admin")
PASSWORD = "secret-pass-1"
LOGIN = {"other": "carol", "ds": "bob", "do": "alice", "admin": "admin"}


@dataclass
class World:
    admin: Client
    clients: dict[str, Client]
    seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    totp: dict[str, str] = field(default_factory=dict)
    livy: dict[str, int] = field(default_factory=dict)  # alice's shared Livy session

    def fresh(self, prefix: str) -> str:
        return f"{prefix}{next(self.seq)}"

    def fresh_user(self) -> str:
        name = self.fresh("u")
        r = self.admin.post("api/users", json={"username": name, "password": PASSWORD})
        assert r.status_code == 201
        return name


Ctx = dict[str, Any]


@dataclass
class Case:
    method: str
    path: str  # as in openapi.yaml
    expect: tuple[int, int, int, int, int]  # anon, other, ds, do, admin
    prepare: Callable[[World, str], Ctx] = lambda w, who: {}
    # ctx may set "params" (path parameters) and "body"
    after: Callable[[World, str], None] = lambda w, who: None  # once it succeeded


def _login_body(w: World, who: str) -> Ctx:
    return {"body": {"username": "admin", "password": ADMIN_PASSWORD}}


def _sign_in_again(w: World, who: str) -> None:
    """A password change ends the caller's sessions: the next cases need a new one."""
    if who != "anon":
        password = ADMIN_PASSWORD if who == "admin" else PASSWORD
        w.clients[who] = Client(w.admin.base).login(LOGIN[who], password)
        if who == "admin":
            w.admin = w.clients[who]


def _password(w: World, who: str) -> Ctx:
    return {
        "body": {
            "old_password": PASSWORD if who != "admin" else ADMIN_PASSWORD,
            "new_password": PASSWORD if who != "admin" else ADMIN_PASSWORD,
        }
    }


def _totp_confirm(w: World, who: str) -> Ctx:
    if who == "anon":
        return {"body": {"otp": "123456"}}
    secret = w.clients[who].post("api/users/me/totp").json()["secret"]
    w.totp[who] = secret
    return {"body": {"otp": pyotp.TOTP(secret).now()}}


def _totp_disable(w: World, who: str) -> Ctx:
    if who == "anon":
        return {"body": {"otp": "123456"}}
    totp = pyotp.TOTP(w.totp[who])
    return {"body": {"otp": totp.at(time.time() + totp.interval)}}  # not the confirm code


def _new_key(w: World, who: str) -> Ctx:
    name = w.fresh("k")
    if who != "anon":
        r = w.clients[who].post("api/users/me/apikeys", json={"name": name, "scopes": ["job"]})
        assert r.status_code == 201
    return {"params": {"name": name}}


def _tmp_project(w: World, who: str) -> Ctx:
    name = w.fresh("tmp")
    alice = w.clients["do"]
    assert alice.post("api/projects", json={"name": name}).status_code == 201
    r = alice.post(
        f"api/projects/{name}/members", json={"username": "bob", "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201
    return {"params": {"project": name}}


def _member_to_remove(w: World, who: str) -> Ctx:
    name = w.fresh_user()
    r = w.clients["do"].post(
        "api/projects/demo/members", json={"username": name, "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201
    return {"params": {"username": name}}


def _dataset(w: World, who: str) -> Ctx:
    name = w.fresh("ds")
    r = w.clients["do"].post("api/projects/demo/datasets", json={"name": name})
    assert r.status_code == 201
    return {"params": {"dataset": name}}


def _shared(w: World, who: str) -> Ctx:
    ctx = _dataset(w, who)
    r = w.clients["do"].post(
        f"api/projects/demo/datasets/{ctx['params']['dataset']}/shares", json={"project": "other"}
    )
    assert r.status_code == 201
    return {"params": {**ctx["params"], "target": "other"}}


def _offered_to_demo(w: World, who: str) -> Ctx:
    carol, name = w.clients["other"], w.fresh("off")
    assert carol.post("api/projects/other/datasets", json={"name": name}).status_code == 201
    r = carol.post(f"api/projects/other/datasets/{name}/shares", json={"project": "demo"})
    assert r.status_code == 201
    return {"params": {"dataset": f"other::{name}"}}


def _published_by_other(w: World, who: str) -> Ctx:
    carol, name = w.clients["other"], w.fresh("pub")
    assert carol.post("api/projects/other/datasets", json={"name": name}).status_code == 201
    r = carol.patch(f"api/projects/other/datasets/{name}", json={"public": True})
    assert r.status_code == 200
    return {"body": {"dataset": f"other::{name}"}}


def _file(w: World, who: str) -> Ctx:
    path = f"Jupyter/{w.fresh('f')}.txt"
    r = w.clients["do"].put(f"api/projects/demo/files/{path}", data=b"x")
    assert r.status_code == 201
    return {"params": {"path": path}}


def _env_operation(w: World, who: str) -> Ctx:
    """An environment operation of demo (an uninstall that fails fast: nothing to remove)."""
    r = w.clients["do"].post(
        "api/projects/demo/environment/operations",
        json={"op": "uninstall", "packages": ["not-installed"]},
    )
    assert r.status_code == 202, r.text
    return {"params": {"operation": r.json()["id"]}}


def _allocation(w: World, who: str) -> Ctx:
    r = w.admin.post(
        "api/projects/demo/allocations", json={"holder": w.fresh("alice/demo-"), "cpus": 1}
    )
    assert r.status_code == 201, r.text
    return {"params": {"id": r.json()["id"]}}


def _job(w: World, who: str) -> Ctx:
    """A PYTHON job of demo (a one-line script in Resources), created by its Data Owner."""
    name = w.fresh("job")
    alice = w.clients["do"]
    r = alice.put(f"api/projects/demo/files/Resources/{name}.py", data=b"print('hello')\n")
    assert r.status_code == 201, r.text
    config = {"app_path": f"Resources/{name}.py"}
    r = alice.post(
        "api/projects/demo/jobs", json={"name": name, "type": "PYTHON", "config": config}
    )
    assert r.status_code == 201, r.text
    return {"params": {"job": name}, "config": config}


def _job_update(w: World, who: str) -> Ctx:
    ctx = _job(w, who)
    return {**ctx, "body": {"type": "PYTHON", "config": {**ctx["config"], "args": [who]}}}


def _execution(w: World, who: str) -> Ctx:
    ctx = _job(w, who)
    r = w.clients["do"].post(f"api/projects/demo/jobs/{ctx['params']['job']}/executions")
    assert r.status_code == 201, r.text
    return {"params": {**ctx["params"], "execution": r.json()["id"], "stream": "stdout"}}


def _experiment(w: World, who: str) -> Ctx:
    """A RUNNING experiment of demo created by bob (a Data Scientist): he and the Data
    Owner change it, only he records its trials."""
    r = w.clients["ds"].post(
        "api/projects/demo/experiments", json={"name": w.fresh("exp"), "kind": "launch"}
    )
    assert r.status_code == 201, r.text
    return {"params": {"experiment": r.json()["id"]}}


def _ended_experiment(w: World, who: str) -> Ctx:
    ctx = _experiment(w, who)
    r = w.clients["ds"].patch(
        f"api/projects/demo/experiments/{ctx['params']['experiment']}", json={"state": "KILLED"}
    )
    assert r.status_code == 200, r.text
    return ctx


def _new_livy_session(w: World) -> int:
    r = w.clients["do"].post("api/projects/demo/livy/sessions", json={"kind": "pyspark"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _livy_session(w: World, who: str) -> Ctx:
    """alice's Livy session in demo, one for all cases (refusals need no running Spark), with
    a statement; the Data Owner's DELETE gets a fresh one."""
    if who == "do" and w.livy.get("deleting"):
        return {"params": {"session": _new_livy_session(w)}}
    if "session" not in w.livy:
        w.livy["session"] = _new_livy_session(w)
        r = w.clients["do"].post(
            f"api/projects/demo/livy/sessions/{w.livy['session']}/statements", json={"code": "1"}
        )
        assert r.status_code == 201, r.text
    return {"params": {"session": w.livy["session"], "statement": 0}}


def _livy_delete(w: World, who: str) -> Ctx:
    w.livy["deleting"] = 1
    try:
        return _livy_session(w, who)
    finally:
        w.livy["deleting"] = 0


ALL_OK = (200,) * 5
CASES = [
    Case("GET", "/api/version", ALL_OK),
    Case("GET", "/api/openapi.json", ALL_OK),
    Case("GET", "/api/certificates/ca", ALL_OK),
    Case("GET", "/api/certificates/crl", ALL_OK),
    Case("POST", "/api/auth/login", ALL_OK, _login_body),
    Case("GET", "/api/users", (401, 403, 403, 403, 200)),
    Case(
        "POST",
        "/api/users",
        (401, 403, 403, 403, 201),
        lambda w, who: {"body": {"username": w.fresh("n"), "password": PASSWORD}},
    ),
    Case("GET", "/api/users/me", (401, 200, 200, 200, 200)),
    Case("PUT", "/api/users/me/password", (401, 204, 204, 204, 204), _password, _sign_in_again),
    Case("POST", "/api/users/me/totp/confirm", (401, 200, 200, 200, 200), _totp_confirm),
    Case("POST", "/api/users/me/totp/disable", (401, 200, 200, 200, 200), _totp_disable),
    Case("POST", "/api/users/me/totp", (401, 201, 201, 201, 201)),
    Case("GET", "/api/users/me/apikeys", (401, 200, 200, 200, 200)),
    Case(
        "POST",
        "/api/users/me/apikeys",
        (401, 201, 201, 201, 201),
        lambda w, who: {"body": {"name": w.fresh("k"), "scopes": ["project"]}},
    ),
    Case("DELETE", "/api/users/me/apikeys/{name}", (401, 204, 204, 204, 204), _new_key),
    Case(
        "GET",
        "/api/users/{username}",
        (401, 403, 403, 403, 200),
        lambda w, who: {"params": {"username": "alice"}},
    ),
    Case(
        "PATCH",
        "/api/users/{username}",
        (401, 403, 403, 403, 200),
        lambda w, who: {"params": {"username": "dave"}, "body": {"email": f"{who}@x.org"}},
    ),
    Case("GET", "/api/projects", (401, 200, 200, 200, 200)),
    Case(
        "POST",
        "/api/projects",
        (401, 201, 201, 201, 201),
        lambda w, who: {"body": {"name": w.fresh("p")}},
    ),
    Case("GET", "/api/projects/{project}", (401, 403, 200, 200, 200)),
    Case(
        "PATCH",
        "/api/projects/{project}",
        (401, 403, 403, 200, 403),
        lambda w, who: {"body": {"description": f"by {who}"}},
    ),
    Case("DELETE", "/api/projects/{project}", (401, 403, 403, 204, 204), _tmp_project),
    Case("GET", "/api/projects/{project}/members", (401, 403, 200, 200, 200)),
    Case(
        "POST",
        "/api/projects/{project}/members",
        (401, 403, 403, 201, 403),
        lambda w, who: {"body": {"username": w.fresh_user(), "role": "DATA_SCIENTIST"}},
    ),
    Case(
        "PUT",
        "/api/projects/{project}/members/{username}",
        (401, 403, 403, 200, 403),
        lambda w, who: {"params": {"username": "bob"}, "body": {"role": "DATA_SCIENTIST"}},
    ),
    Case(
        "DELETE",
        "/api/projects/{project}/members/{username}",
        (401, 403, 403, 204, 403),
        _member_to_remove,
    ),
    Case("GET", "/api/projects/{project}/certificates/me", (401, 403, 200, 200, 403)),
    Case("GET", "/api/projects/{project}/audit", (401, 403, 403, 200, 200)),
    Case("GET", "/api/audit", (401, 403, 403, 403, 200)),
    Case("GET", "/api/audit/verify", (401, 403, 403, 403, 200)),
    Case("GET", "/api/datasets/public", (401, 200, 200, 200, 200)),
    Case("GET", "/api/projects/{project}/datasets", (401, 403, 200, 200, 403)),
    Case(
        "POST",
        "/api/projects/{project}/datasets",
        (401, 403, 403, 201, 403),
        lambda w, who: {"body": {"name": w.fresh("new")}},
    ),
    Case("GET", "/api/projects/{project}/datasets/{dataset}", (401, 403, 200, 200, 403)),
    Case(
        "PATCH",
        "/api/projects/{project}/datasets/{dataset}",
        (401, 403, 403, 200, 403),
        lambda w, who: {"body": {"description": who}},
    ),
    Case(
        "DELETE", "/api/projects/{project}/datasets/{dataset}", (401, 403, 403, 204, 403), _dataset
    ),
    Case("GET", "/api/projects/{project}/datasets/{dataset}/shares", (401, 403, 200, 200, 403)),
    Case(
        "POST",
        "/api/projects/{project}/datasets/{dataset}/shares",
        (401, 403, 403, 201, 403),
        lambda w, who: {**_dataset(w, who), "body": {"project": "other"}},
    ),
    Case(
        "PUT",
        "/api/projects/{project}/datasets/{dataset}/shares/{target}",
        (401, 403, 403, 200, 403),
        lambda w, who: {**_shared(w, who), "body": {"permission": "READ_WRITE"}},
    ),
    Case(
        "DELETE",
        "/api/projects/{project}/datasets/{dataset}/shares/{target}",
        (401, 403, 403, 204, 403),
        _shared,
    ),
    Case("GET", "/api/projects/{project}/shares", (401, 403, 200, 200, 403)),
    Case("POST", "/api/projects/{project}/shares", (401, 403, 403, 201, 403), _published_by_other),
    Case(
        "DELETE",
        "/api/projects/{project}/shares/{dataset}",
        (401, 403, 403, 204, 403),
        _offered_to_demo,
    ),
    Case(
        "POST",
        "/api/projects/{project}/shares/{dataset}/accept",
        (401, 403, 403, 200, 403),
        _offered_to_demo,
    ),
    Case("GET", "/api/projects/{project}/quotas", (401, 403, 200, 200, 200)),
    Case(
        "PUT",
        "/api/projects/{project}/quotas",
        (401, 403, 403, 403, 200),
        lambda w, who: {"body": {"bytes_limit": 1 << 30}},
    ),
    Case("GET", "/api/projects/{project}/files/{path}", (401, 403, 403, 200, 403), _file),
    Case(
        "PUT",
        "/api/projects/{project}/files/{path}",
        (401, 403, 201, 201, 403),
        lambda w, who: {"params": {"path": f"Jupyter/{w.fresh('up')}"}, "raw": b"data"},
    ),
    Case(
        "POST",
        "/api/projects/{project}/files/{path}",
        (401, 403, 201, 201, 403),
        lambda w, who: {"params": {"path": f"Jupyter/{w.fresh('dir')}"}, "body": {"op": "mkdir"}},
    ),
    Case("DELETE", "/api/projects/{project}/files/{path}", (401, 403, 204, 204, 403), _file),
    # WebHDFS: the query string rides in {path}; CREATE/APPEND follow the 307 with the body
    Case(
        "GET",
        "/webhdfs/v1/{path}",
        (401, 403, 200, 200, 403),
        lambda w, who: {"params": {"path": "Projects/demo/Resources?op=LISTSTATUS"}},
    ),
    Case(
        "PUT",
        "/webhdfs/v1/{path}",
        (401, 403, 201, 201, 403),
        lambda w, who: {
            "params": {"path": f"Projects/demo/Jupyter/{w.fresh('hdfs')}?op=CREATE"},
            "raw": b"data",
        },
    ),
    Case(
        "POST",
        "/webhdfs/v1/{path}",
        (401, 403, 200, 200, 403),
        lambda w, who: {
            "params": {"path": f"Projects/demo/{_file(w, who)['params']['path']}?op=APPEND"},
            "raw": b"more",
        },
    ),
    Case(
        "DELETE",
        "/webhdfs/v1/{path}",
        (401, 403, 200, 200, 403),
        lambda w, who: {
            "params": {"path": f"Projects/demo/{_file(w, who)['params']['path']}?op=DELETE"}
        },
    ),
    # compute: GPUs, quotas and allocations (allocating is for admins: the hub)
    Case("GET", "/api/gpus", (401, 403, 403, 403, 200)),
    Case("GET", "/api/projects/{project}/compute", (401, 403, 200, 200, 200)),
    Case(
        "PUT",
        "/api/projects/{project}/compute",
        (401, 403, 403, 403, 200),
        lambda w, who: {"body": {"gpu_hours_limit": 100, "cpu_hours_limit": -1}},
    ),
    Case("GET", "/api/projects/{project}/allocations", (401, 403, 403, 200, 200)),
    Case(
        "POST",
        "/api/projects/{project}/allocations",
        (401, 403, 403, 403, 201),
        lambda w, who: {"body": {"holder": w.fresh("bob/demo-"), "kind": "server", "cpus": 2}},
    ),
    Case(
        "DELETE", "/api/projects/{project}/allocations/{id}", (401, 403, 403, 403, 200), _allocation
    ),
    Case(
        "POST",
        "/api/allocations/reclaim",
        (401, 403, 403, 403, 200),
        lambda w, who: {"body": {"alive": [], "kind": "job"}},
    ),
    Case(
        "GET",
        "/api/users/{username}/projects",
        (401, 403, 403, 403, 200),
        lambda w, who: {"params": {"username": "bob"}},
    ),
    Case(
        "POST",
        "/api/projects/{project}/members/{username}/credentials",
        (401, 403, 403, 403, 201),
        lambda w, who: {"params": {"username": "bob"}},
    ),
    Case(
        "DELETE",
        "/api/projects/{project}/members/{username}/credentials",
        (401, 403, 403, 403, 204),
        lambda w, who: {"params": {"username": "bob"}},
    ),
    # the project's Python environment: members read it, Data Owners change it
    Case("GET", "/api/projects/{project}/environment", (401, 403, 200, 200, 403)),
    Case("GET", "/api/projects/{project}/environment/operations", (401, 403, 200, 200, 403)),
    Case(
        "POST",
        "/api/projects/{project}/environment/operations",
        (401, 403, 403, 202, 403),
        lambda w, who: {"body": {"op": "uninstall", "packages": ["not-installed"]}},
    ),
    Case(
        "GET",
        "/api/projects/{project}/environment/operations/{operation}",
        (401, 403, 200, 200, 403),
        _env_operation,
    ),
    Case(
        "GET",
        "/api/projects/{project}/environment/operations/{operation}/log",
        (401, 403, 200, 200, 403),
        _env_operation,
    ),
    # jobs: Data Owners define and schedule them; members run, stop and read logs
    Case("GET", "/api/projects/{project}/jobs", (401, 403, 200, 200, 403)),
    Case(
        "POST",
        "/api/projects/{project}/jobs",
        (401, 403, 403, 201, 403),
        lambda w, who: {
            "body": {"name": w.fresh("new"), "type": "PYTHON", "config": _job(w, who)["config"]}
        },
    ),
    Case("GET", "/api/projects/{project}/jobs/{job}", (401, 403, 200, 200, 403), _job),
    Case(
        "PUT",
        "/api/projects/{project}/jobs/{job}",
        (401, 403, 403, 200, 403),
        _job_update,
    ),
    Case("DELETE", "/api/projects/{project}/jobs/{job}", (401, 403, 403, 204, 403), _job),
    Case(
        "PUT",
        "/api/projects/{project}/jobs/{job}/schedule",
        (401, 403, 403, 200, 403),
        lambda w, who: {**_job(w, who), "body": {"cron": "0 3 * * *"}},
    ),
    Case("DELETE", "/api/projects/{project}/jobs/{job}/schedule", (401, 403, 403, 204, 403), _job),
    Case("GET", "/api/projects/{project}/jobs/{job}/executions", (401, 403, 200, 200, 403), _job),
    Case("POST", "/api/projects/{project}/jobs/{job}/executions", (401, 403, 201, 201, 403), _job),
    Case(
        "GET",
        "/api/projects/{project}/jobs/{job}/executions/{execution}",
        (401, 403, 200, 200, 403),
        _execution,
    ),
    Case(
        "POST",
        "/api/projects/{project}/jobs/{job}/executions/{execution}/stop",
        (401, 403, 200, 200, 403),
        _execution,
    ),
    Case(
        "GET",
        "/api/projects/{project}/jobs/{job}/executions/{execution}/logs/{stream}",
        (401, 403, 200, 200, 403),
        _execution,
    ),
    # experiments: members read and create; the creator records trials; the creator or a
    # Data Owner ends and deletes
    Case("GET", "/api/projects/{project}/experiments", (401, 403, 200, 200, 403)),
    Case(
        "POST",
        "/api/projects/{project}/experiments",
        (401, 403, 201, 201, 403),
        lambda w, who: {"body": {"name": w.fresh("exp"), "kind": "grid_search"}},
    ),
    Case(
        "GET",
        "/api/projects/{project}/experiments/{experiment}",
        (401, 403, 200, 200, 403),
        _experiment,
    ),
    Case(
        "PATCH",
        "/api/projects/{project}/experiments/{experiment}",
        (401, 403, 200, 200, 403),
        lambda w, who: {**_experiment(w, who), "body": {"state": "KILLED"}},
    ),
    Case(
        "DELETE",
        "/api/projects/{project}/experiments/{experiment}",
        (401, 403, 204, 204, 403),
        _ended_experiment,
    ),
    Case(
        "PUT",
        "/api/projects/{project}/experiments/{experiment}/trials",
        (401, 403, 200, 403, 403),
        lambda w, who: {
            **_experiment(w, who),
            "body": {"trials": [{"trial": "trial_0000", "index": 0, "state": "RUNNING"}]},
        },
    ),
    # Livy: members start sessions; a session is its creator's alone
    Case("GET", "/api/projects/{project}/livy/sessions", (401, 403, 200, 200, 403)),
    Case(
        "POST",
        "/api/projects/{project}/livy/sessions",
        (401, 403, 201, 201, 403),
        lambda w, who: {"body": {"kind": "pyspark"}},
    ),
    Case(
        "GET",
        "/api/projects/{project}/livy/sessions/{session}",
        (401, 403, 403, 200, 403),
        _livy_session,
    ),
    Case(
        "DELETE",
        "/api/projects/{project}/livy/sessions/{session}",
        (401, 403, 403, 200, 403),
        _livy_delete,
    ),
    Case(
        "GET",
        "/api/projects/{project}/livy/sessions/{session}/state",
        (401, 403, 403, 200, 403),
        _livy_session,
    ),
    Case(
        "GET",
        "/api/projects/{project}/livy/sessions/{session}/log",
        (401, 403, 403, 200, 403),
        _livy_session,
    ),
    Case(
        "GET",
        "/api/projects/{project}/livy/sessions/{session}/statements",
        (401, 403, 403, 200, 403),
        _livy_session,
    ),
    Case(
        "POST",
        "/api/projects/{project}/livy/sessions/{session}/statements",
        (401, 403, 403, 201, 403),
        lambda w, who: {**_livy_session(w, who), "body": {"code": "1 + 1"}},
    ),
    Case(
        "GET",
        "/api/projects/{project}/livy/sessions/{session}/statements/{statement}",
        (401, 403, 403, 200, 403),
        _livy_session,
    ),
    Case(
        "POST",
        "/api/projects/{project}/livy/sessions/{session}/statements/{statement}/cancel",
        (401, 403, 403, 200, 403),
        _livy_session,
    ),
]


def test_matrix_covers_every_route() -> None:
    assert {(c.method, c.path) for c in CASES} == implemented()


@pytest.fixture
def world(anon: Client, admin: Client) -> World:
    for name in ("alice", "bob", "carol", "dave"):
        assert (
            admin.post("api/users", json={"username": name, "password": PASSWORD}).status_code
            == 201
        )
    clients = {"anon": anon, "admin": admin}
    for who, name in LOGIN.items():
        if who != "admin":
            clients[who] = anon.login(name, PASSWORD)
    assert clients["do"].post("api/projects", json={"name": "demo"}).status_code == 201
    assert clients["other"].post("api/projects", json={"name": "other"}).status_code == 201
    r = clients["do"].post(
        "api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"}
    )
    assert r.status_code == 201
    return World(admin=admin, clients=clients)


def test_authorization_matrix(world: World, platform: Platform) -> None:
    failures = []
    for case in CASES:
        for who, expected in zip(WHO, case.expect, strict=True):
            ctx = case.prepare(world, who)
            params = {"project": "demo", "dataset": "Resources", **ctx.get("params", {})}
            path = case.path.format(**params).lstrip("/")
            before = _last_seq(platform)
            kw: dict[str, Any] = {"json": ctx["body"]} if "body" in ctx else {}
            if "raw" in ctx:
                kw = {"data": ctx["raw"]}
            r = world.clients[who].request(case.method, path, **kw)
            label = f"{case.method} {path} as {who}"
            if r.status_code != expected:
                failures.append(f"{label}: {r.status_code} (expected {expected}) {r.text[:120]}")
                continue
            if r.status_code < 300:
                case.after(world, who)
            if expected in (401, 403):
                body = r.json()
                # WebHDFS answers Hadoop's RemoteException, carrying the code inside
                if body.get("error", body.get("RemoteException", {}).get("error")) is None:
                    failures.append(f"{label}: refusal without an error code")
                denied = [
                    a
                    for a in platform.audit.list(Actor.system(), after=before)
                    if a.outcome == "denied"
                ]
                if not denied:
                    failures.append(f"{label}: refused but not audited")
    assert not failures, "\n".join(failures)


def _last_seq(platform: Platform) -> int:
    with platform.db.transaction() as s:
        head = s.get(AuditHead, 1)
        return head.seq if head else 0
