"""GPUs and compute quotas, on SQLite and PostgreSQL: exclusive allocation, refusals, release,
concurrent allocations, reclaiming allocations of dead holders, GPU-/CPU-hour accounting and
quotas, rights, and the REST face.

No GPU exists on this machine, so the inventory is *configured* (four made-up ids): nothing
in the allocator needs a real GPU, it hands out ids. Only discovery stands in for the real
thing: the ``nvidia-smi`` parser is fed a sample in the format nvidia-smi prints, and the
discovery wrapper runs a fake ``nvidia-smi`` script that prints it. Time is a controlled
clock given to the service, so hours pass without sleeping."""

from __future__ import annotations

import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import Client
from test_auth import add_user
from test_transactions import _race
from traitlets import TraitError

from hopsworks_lab.platform import Platform, PlatformConfig
from hopsworks_lab.platform import config as config_module
from hopsworks_lab.platform.actor import Actor
from hopsworks_lab.platform.errors import Conflict, Denied, NotFound, Unprocessable
from hopsworks_lab.platform.gpus import GpuInfo, discover_gpus, parse_nvidia_smi
from hopsworks_lab.platform.models import AllocationKind, Role
from hopsworks_lab.platform.services.compute import (
    held_hours,
    pick_gpus,
    quota_refusal,
)

SYSTEM = Actor.system()
PW = "secret-pass-1"
GPUS = ["GPU-fake-0", "GPU-fake-1", "GPU-fake-2", "GPU-fake-3"]  # configured: no GPU here

# The format of `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader`
NVIDIA_SMI_SAMPLE = """\
0, GPU-8f6c1a2e-3b4d-5e6f-7a8b-9c0d1e2f3a4b, NVIDIA H100 80GB HBM3, 81559 MiB
1, GPU-1d2c3b4a-5f6e-7d8c-9b0a-1f2e3d4c5b6a, NVIDIA A100-SXM4-40GB, 40960 MiB
2, GPU-5a9b1e32-7d3c-4f1e-9f6a-2b8c1d0e4f57, Tesla T4, [N/A]
"""


# -- discovery (the only part that stands in for a GPU) -------------------------------------------
def test_nvidia_smi_output_is_parsed_by_value() -> None:
    assert parse_nvidia_smi(NVIDIA_SMI_SAMPLE) == [
        GpuInfo(0, "GPU-8f6c1a2e-3b4d-5e6f-7a8b-9c0d1e2f3a4b", "NVIDIA H100 80GB HBM3", 81559),
        GpuInfo(1, "GPU-1d2c3b4a-5f6e-7d8c-9b0a-1f2e3d4c5b6a", "NVIDIA A100-SXM4-40GB", 40960),
        GpuInfo(2, "GPU-5a9b1e32-7d3c-4f1e-9f6a-2b8c1d0e4f57", "Tesla T4", None),
    ]
    assert parse_nvidia_smi("No devices were found\n") == []
    assert parse_nvidia_smi("") == []
    # a name with a comma stays whole
    assert parse_nvidia_smi("3, GPU-x, Odd, Name, 1024 MiB")[0].name == "Odd, Name"


def _fake_nvidia_smi(folder: Path, body: str) -> str:
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_discovery_runs_nvidia_smi_when_present(tmp_path: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text(NVIDIA_SMI_SAMPLE)
    query = "--query-gpu=index,uuid,name,memory.total"
    working = _fake_nvidia_smi(tmp_path / "ok", f'[ "$1" = "{query}" ] && cat {sample}')
    assert [g.index for g in discover_gpus(working)] == [0, 1, 2]
    assert discover_gpus(str(tmp_path / "absent" / "nvidia-smi")) == []
    failing = _fake_nvidia_smi(tmp_path / "bad", "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    assert discover_gpus(failing) == []


def test_a_configured_inventory_wins_over_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "discover_gpus", lambda: parse_nvidia_smi(NVIDIA_SMI_SAMPLE))
    assert PlatformConfig().gpu_inventory == [g.uuid for g in parse_nvidia_smi(NVIDIA_SMI_SAMPLE)]
    assert PlatformConfig(gpu_inventory=["0", "1"]).gpu_inventory == ["0", "1"]
    assert PlatformConfig(gpu_inventory=[]).gpu_inventory == []
    monkeypatch.setattr(config_module, "discover_gpus", lambda: [])
    assert PlatformConfig().gpu_inventory == []
    for bad in (["0", "0"], ["0,1"], [""], ["a b"]):
        with pytest.raises(TraitError):
            PlatformConfig(gpu_inventory=bad)


# -- pure rules -----------------------------------------------------------------------------------
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_accounting_arithmetic_by_value() -> None:
    assert held_hours(T0, T0 + timedelta(minutes=90), T0, 2) == 3.0
    assert held_hours(T0, None, T0 + timedelta(hours=2), 0.5) == 1.0  # live: up to now
    assert held_hours(T0, None, T0 - timedelta(hours=1), 4) == 0.0  # a clock stepped back
    assert pick_gpus(["a", "b", "c"], {"a"}, 2) == ["b", "c"]
    assert pick_gpus(["a", "b", "c"], {"a", "c"}, 2) is None
    assert pick_gpus(["a"], set(), 0) == []
    assert quota_refusal("demo", "GPU", 1, 0.5, 1.0) is None
    assert quota_refusal("demo", "GPU", 0, 5.0, 1.0) is None  # asks for none of it
    assert quota_refusal("demo", "GPU", 1, 9e9, -1) is None  # unlimited
    assert quota_refusal("demo", "GPU", 1, 1.0, 1.0) == (
        "project 'demo' has used 1.00 of its 1 GPU-hours: "
        "an administrator can raise its compute quota"
    )


# -- the service, on both databases ---------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def config(config: PlatformConfig) -> PlatformConfig:
    config.gpu_inventory = GPUS
    return config


@pytest.fixture
def clock(platform: Platform) -> Clock:
    c = Clock()
    platform.compute.clock = c
    return c


def _actor(platform: Platform, username: str) -> Actor:
    with platform.db.transaction() as s:
        user = platform.users.get(s, username)
        return Actor(user.id, user.username, user.is_admin, "session")


@pytest.fixture
def people(platform: Platform) -> dict[str, Actor]:
    """demo: alice (Data Owner), bob (Data Scientist); other: carol; and the admin."""
    for name in ("alice", "bob", "carol"):
        platform.users.create(SYSTEM, name, PW)
    who = {n: _actor(platform, n) for n in ("alice", "bob", "carol", "admin")}
    platform.projects.create(who["alice"], "demo")
    platform.projects.create(who["carol"], "other")
    platform.members.add(who["alice"], "demo", "bob", Role.DATA_SCIENTIST)
    return who


def _held(platform: Platform) -> list[str]:
    return sorted(g for v in platform.compute.inventory(SYSTEM) if v.allocation_id for g in [v.id])


def test_gpus_are_allocated_exclusively_and_refused_when_none_are_free(
    platform: Platform, people: dict[str, Actor], clock: Clock
) -> None:
    a = platform.compute.allocate(SYSTEM, "demo", "alice/demo", "server", 2, 4, username="alice")
    b = platform.compute.allocate(SYSTEM, "other", "carol/other", "server", 1, 2, username="carol")
    assert (
        a.gpus == ("GPU-fake-0", "GPU-fake-1") and a.cuda_visible_devices == "GPU-fake-0,GPU-fake-1"
    )
    assert b.gpus == ("GPU-fake-2",) and a.username == "alice" and a.kind is AllocationKind.server
    with pytest.raises(Conflict) as e:
        platform.compute.allocate(SYSTEM, "demo", "bob/demo", "server", 2, 1, username="bob")
    assert e.value.code == "gpus_unavailable"
    assert e.value.message == "asked for 2 GPUs, 1 free (of 4 on this platform)"
    c = platform.compute.allocate(SYSTEM, "demo", "bob/demo", "server", 1, 1, username="bob")
    assert c.gpus == ("GPU-fake-3",)
    with pytest.raises(Conflict, match="asked for 1 GPU, 0 free"):
        platform.compute.allocate(SYSTEM, "demo", "job-1", "job", 1, 1)
    # CPU-only allocations need no GPU
    assert platform.compute.allocate(SYSTEM, "demo", "job-2", "job", 0, 1).gpus == ()
    # one live allocation per holder
    with pytest.raises(Conflict) as e:
        platform.compute.allocate(SYSTEM, "demo", "alice/demo", "server", 0, 1)
    assert e.value.code == "allocation_exists" and e.value.detail["allocation_id"] == a.id
    # all four GPUs held, each once
    inventory = {v.id: v for v in platform.compute.inventory(SYSTEM)}
    assert {g: v.holder for g, v in inventory.items()} == {
        "GPU-fake-0": "alice/demo",
        "GPU-fake-1": "alice/demo",
        "GPU-fake-2": "carol/other",
        "GPU-fake-3": "bob/demo",
    }
    assert inventory["GPU-fake-2"].project == "other"


def test_release_frees_the_gpus_and_is_idempotent(
    platform: Platform, people: dict[str, Actor], clock: Clock
) -> None:
    a = platform.compute.allocate(SYSTEM, "demo", "alice/demo", "server", 4, 1)
    with pytest.raises(Conflict):
        platform.compute.allocate(SYSTEM, "demo", "bob/demo", "server", 1, 1)
    clock.advance(minutes=30)
    ended = platform.compute.release(SYSTEM, a.id, "stopped")
    assert ended.ended_at == clock.now and ended.end_reason == "stopped"
    assert ended.gpu_hours == 2.0 and ended.cpu_hours == 0.5
    assert _held(platform) == []
    clock.advance(minutes=30)
    again = platform.compute.release(SYSTEM, a.id, "released", project="demo")
    assert again == ended  # unchanged: not ended twice, not accounted twice
    assert platform.compute.usage(SYSTEM, "demo").gpu_hours_used == 2.0
    b = platform.compute.allocate(SYSTEM, "demo", "alice/demo", "server", 4, 1)
    assert b.gpus == tuple(GPUS)  # the same holder may allocate again once released
    with pytest.raises(NotFound):
        platform.compute.release(SYSTEM, b.id, project="other")  # not that project's
    with pytest.raises(NotFound):
        platform.compute.release(SYSTEM, 10**6)
    with pytest.raises(Unprocessable):
        platform.compute.release(SYSTEM, b.id, "Not A Reason")
    releases = [
        r for r in platform.audit.list(SYSTEM, project="demo") if r.action == "compute.release"
    ]
    assert [r.detail["reason"] for r in releases] == ["stopped"]


def test_concurrent_allocations_never_double_book(
    platform: Platform, people: dict[str, Actor], clock: Clock
) -> None:
    for round_ in range(3):
        results = _race(
            *[
                (
                    lambda i=i, r=round_: platform.compute.allocate(
                        SYSTEM, "demo", f"r{r}-{i}", "job", 1, 1
                    )
                )
                for i in range(8)
            ]
        )
        won = [r for r in results if not isinstance(r, Exception)]
        lost = [r for r in results if isinstance(r, Exception)]
        assert len(won) == 4, results
        assert all(isinstance(e, Conflict) and e.code == "gpus_unavailable" for e in lost), lost
        held = [g for r in won for g in r.gpus]
        assert sorted(held) == GPUS  # each GPU once
        for r in won:
            platform.compute.release(SYSTEM, r.id)
    # mixed sizes: whatever wins, no GPU is held twice
    results = _race(
        *[
            (lambda i=i: platform.compute.allocate(SYSTEM, "demo", f"m{i}", "job", 1 + i % 3, 0))
            for i in range(6)
        ]
    )
    held = [g for r in results if not isinstance(r, Exception) for g in r.gpus]
    assert len(held) == len(set(held)) and set(held) <= set(GPUS)


def test_reclaim_ends_the_allocations_of_dead_holders(
    platform: Platform, people: dict[str, Actor], clock: Clock
) -> None:
    for holder, kind in (("alice/demo", "server"), ("bob/demo", "server"), ("job-7", "job")):
        platform.compute.allocate(SYSTEM, "demo", holder, kind, 1, 1)
    clock.advance(hours=1)
    assert platform.compute.reclaim(["alice/demo", "bob/demo", "job-7"]) == []
    # the hub knows only of alice's server now; jobs are not the hub's to judge
    ended = platform.compute.reclaim(["alice/demo"], kind="server")
    assert [(v.holder, v.end_reason, v.ended_at) for v in ended] == [
        ("bob/demo", "reclaimed", clock.now)
    ]
    assert {v.holder for v in platform.compute.allocations(SYSTEM, "demo")} == {
        "alice/demo",
        "job-7",
    }
    # a predicate works as well
    ended = platform.compute.reclaim(lambda holder: not holder.startswith("job-"))
    assert [v.holder for v in ended] == ["job-7"]
    assert len(_held(platform)) == 1
    assert platform.compute.usage(SYSTEM, "demo").gpu_hours_used == 3.0
    with pytest.raises(Denied):
        platform.compute.reclaim([], actor=people["alice"])


def test_gpu_and_cpu_hours_are_accounted_with_a_controlled_clock(
    platform: Platform, people: dict[str, Actor], clock: Clock
) -> None:
    a = platform.compute.allocate(SYSTEM, "demo", "alice/demo", "server", 2, 4)
    clock.advance(minutes=90)
    u = platform.compute.usage(people["bob"], "demo")  # live part counted while running
    assert (u.gpu_hours_used, u.cpu_hours_used) == (3.0, 6.0)
    assert (u.live_allocations, u.gpus_in_use, u.cpus_in_use, u.as_of) == (1, 2, 4.0, clock.now)
    platform.compute.release(SYSTEM, a.id)
    clock.advance(hours=5)  # nothing runs: nothing is counted
    u = platform.compute.usage(people["bob"], "demo")
    assert (u.gpu_hours_used, u.cpu_hours_used, u.live_allocations) == (3.0, 6.0, 0)
    b = platform.compute.allocate(SYSTEM, "demo", "bob/demo", "server", 1, 0.5)
    clock.advance(minutes=30)
    u = platform.compute.usage(people["alice"], "demo")
    assert (u.gpu_hours_used, u.cpu_hours_used) == (3.5, 6.25)
    platform.compute.release(SYSTEM, b.id)
    u = platform.compute.usage(people["alice"], "demo")
    assert (u.gpu_hours_used, u.cpu_hours_used) == (3.5, 6.25)
    assert platform.compute.usage(people["carol"], "other").gpu_hours_used == 0.0
    # the history keeps each allocation's hours
    history = platform.compute.allocations(people["alice"], "demo", include_ended=True)
    assert [(v.holder, v.gpu_hours, v.cpu_hours) for v in history] == [
        ("bob/demo", 0.5, 0.25),
        ("alice/demo", 3.0, 6.0),
    ]


def test_a_project_out_of_quota_cannot_start_new_servers(
    platform: Platform, people: dict[str, Actor], clock: Clock
) -> None:
    admin = people["admin"]
    view = platform.compute.set_quota(admin, "demo", gpu_hours=1.0)
    assert (view.gpu_hours_limit, view.cpu_hours_limit) == (1.0, -1)
    a = platform.compute.allocate(SYSTEM, "demo", "alice/demo", "server", 2, 2)
    clock.advance(minutes=30)  # 2 GPUs x 0.5 h: the hour is used up, while running
    with pytest.raises(Conflict) as e:
        platform.compute.allocate(SYSTEM, "demo", "bob/demo", "server", 1, 1)
    assert e.value.code == "compute_quota_exceeded"
    assert e.value.message == (
        "project 'demo' has used 1.00 of its 1 GPU-hours: "
        "an administrator can raise its compute quota"
    )
    assert e.value.detail["resource"] == "GPU"
    # servers without GPUs still start while CPU-hours are left; the running one runs on
    c = platform.compute.allocate(SYSTEM, "demo", "bob/demo", "server", 0, 1)
    platform.compute.release(SYSTEM, c.id)
    platform.compute.set_quota(admin, "demo", cpu_hours=1.0)  # 2 CPUs x 0.5 h used
    with pytest.raises(Conflict, match="of its 1 CPU-hours"):
        platform.compute.allocate(SYSTEM, "demo", "bob/demo", "server", 0, 1)
    assert platform.compute.allocations(admin, "demo")[0].id == a.id
    # raising the quota (or -1: unlimited) lets it start again; other projects never noticed
    platform.compute.set_quota(admin, "demo", gpu_hours=-1, cpu_hours=10)
    platform.compute.allocate(SYSTEM, "demo", "bob/demo", "server", 1, 1)
    platform.compute.allocate(SYSTEM, "other", "carol/other", "server", 1, 1)
    for bad in (-0.5, -2, float("nan"), float("inf"), 2e9):
        with pytest.raises(Unprocessable):
            platform.compute.set_quota(admin, "demo", gpu_hours=bad)
    updates = [
        r for r in platform.audit.list(SYSTEM, project="demo") if r.action == "compute.quota.update"
    ]
    assert updates[-1].detail == {"gpu_hours_limit": -1.0, "cpu_hours_limit": 10.0}


def test_the_configured_default_quota_applies_until_one_is_set(
    platform: Platform, people: dict[str, Actor], clock: Clock
) -> None:
    platform.config.default_gpu_hours_quota = 0
    u = platform.compute.usage(SYSTEM, "demo")
    assert (u.gpu_hours_limit, u.cpu_hours_limit) == (0.0, -1.0)
    with pytest.raises(Conflict, match=r"has used 0\.00 of its 0 GPU-hours"):
        platform.compute.allocate(SYSTEM, "demo", "alice/demo", "server", 1, 1)
    platform.compute.set_quota(people["admin"], "demo", gpu_hours=2)
    assert platform.compute.allocate(SYSTEM, "demo", "alice/demo", "server", 1, 1).gpus
    with pytest.raises(Conflict):  # still the default for the other project
        platform.compute.allocate(SYSTEM, "other", "carol/other", "server", 1, 1)


def test_rights(platform: Platform, people: dict[str, Actor], clock: Clock) -> None:
    alice, bob, carol, admin = (people[n] for n in ("alice", "bob", "carol", "admin"))
    compute = platform.compute
    assert compute.usage(bob, "demo").project == "demo"  # a Data Scientist reads usage
    assert compute.usage(admin, "demo").project == "demo"
    with pytest.raises(Denied):
        compute.usage(carol, "demo")
    for who in (alice, bob, carol):  # only administrators (the hub) allocate
        with pytest.raises(Denied):
            compute.allocate(who, "demo", f"{who.username}/demo", "server", 1, 1)
        with pytest.raises(Denied):
            compute.set_quota(who, "demo", gpu_hours=100)
        with pytest.raises(Denied):
            compute.inventory(who)
    a = compute.allocate(admin, "demo", "bob/demo", "server", 1, 1, username="bob")
    assert a.username == "bob"
    with pytest.raises(Unprocessable):  # a server of the project runs for one of its members
        compute.allocate(admin, "demo", "carol/demo", "server", 1, 1, username="carol")
    with pytest.raises(NotFound):
        compute.allocate(admin, "demo", "nobody/demo", "server", 1, 1, username="nobody")
    assert [v.id for v in compute.allocations(alice, "demo")] == [a.id]  # the Data Owner
    with pytest.raises(Denied):
        compute.allocations(bob, "demo")
    for who in (alice, bob):
        with pytest.raises(Denied):
            compute.release(who, a.id, project="demo")
    # a key without the admin scope does not allocate, even an administrator's
    scoped = Actor(admin.user_id, "admin", True, "apikey", scopes=frozenset({"project"}))
    with pytest.raises(Denied):
        compute.allocate(scoped, "demo", "x", "job", 0, 1)
    assert compute.usage(admin, "demo").live_allocations == 1
    compute.set_quota(admin, "demo", gpu_hours=100)
    assert compute.release(admin, a.id, project="demo").end_reason == "released"
    denied = [r for r in platform.audit.list(SYSTEM, limit=1000) if r.outcome == "denied"]
    assert {r.action for r in denied} >= {
        "compute.read",
        "compute.allocate",
        "compute.quota.update",
        "compute.inventory",
        "compute.list",
        "compute.release",
    }


def test_deleting_a_project_frees_its_gpus(
    platform: Platform, people: dict[str, Actor], clock: Clock
) -> None:
    platform.compute.allocate(SYSTEM, "other", "carol/other", "server", 3, 1)
    platform.projects.delete(people["carol"], "other")
    assert _held(platform) == []
    assert len(platform.compute.allocate(SYSTEM, "demo", "alice/demo", "server", 4, 1).gpus) == 4


# -- REST -----------------------------------------------------------------------------------------
def test_rest_allocate_release_and_read(
    anon: Client, admin: Client, platform: Platform, clock: Clock
) -> None:
    for name in ("alice", "bob"):
        add_user(admin, name, PW)
    alice, bob = anon.login("alice", PW), anon.login("bob", PW)
    assert alice.post("api/projects", json={"name": "demo"}).status_code == 201
    r = alice.post("api/projects/demo/members", json={"username": "bob", "role": "DATA_SCIENTIST"})
    assert r.status_code == 201

    r = admin.post(
        "api/projects/demo/allocations",
        json={"holder": "bob/demo", "kind": "server", "gpus": 3, "cpus": 2, "username": "bob"},
    )
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["gpus"] == GPUS[:3] and a["cuda_visible_devices"] == ",".join(GPUS[:3])
    assert (a["username"], a["kind"], a["cpus"], a["ended_at"]) == ("bob", "server", 2.0, None)
    r = admin.post("api/projects/demo/allocations", json={"holder": "alice/demo", "gpus": 2})
    assert r.status_code == 409
    assert r.json() == {
        "error": "gpus_unavailable",
        "message": "asked for 2 GPUs, 1 free (of 4 on this platform)",
        "detail": {"asked": 2, "free": 1, "total": 4},
    }
    assert bob.post("api/projects/demo/allocations", json={"holder": "b"}).status_code == 403
    gpus = admin.get("api/gpus").json()
    assert gpus["count"] == 4 and gpus["free"] == 1
    assert [g["holder"] for g in gpus["items"]] == ["bob/demo"] * 3 + [None]
    assert bob.get("api/gpus").status_code == 403

    clock.advance(hours=2)
    u = bob.get("api/projects/demo/compute").json()
    assert (u["gpu_hours_used"], u["cpu_hours_used"], u["gpu_hours_limit"]) == (6.0, 4.0, -1)
    assert alice.get("api/projects/demo/allocations").json()["count"] == 1
    assert bob.get("api/projects/demo/allocations").status_code == 403

    r = admin.delete(f"api/projects/demo/allocations/{a['id']}", params={"reason": "stopped"})
    assert r.status_code == 200 and r.json()["end_reason"] == "stopped"
    assert r.json()["gpu_hours"] == 6.0
    assert admin.delete(f"api/projects/demo/allocations/{a['id']}").json() == r.json()
    assert admin.delete("api/projects/demo/allocations/999999").status_code == 404
    assert admin.delete("api/projects/demo/allocations/x1").status_code == 404
    assert admin.get("api/gpus").json()["free"] == 4
    all_ = alice.get("api/projects/demo/allocations", params={"all": "true"}).json()
    assert [x["end_reason"] for x in all_["items"]] == ["stopped"]

    r = admin.put("api/projects/demo/compute", json={"gpu_hours_limit": 6})
    assert r.status_code == 200 and r.json()["gpu_hours_limit"] == 6
    assert alice.put("api/projects/demo/compute", json={"gpu_hours_limit": 60}).status_code == 403
    assert admin.put("api/projects/demo/compute", json={"gpu_hours_limit": -3}).status_code == 422
    r = admin.post("api/projects/demo/allocations", json={"holder": "alice/demo", "gpus": 1})
    assert r.status_code == 409 and r.json()["error"] == "compute_quota_exceeded"
    assert "has used 6.00 of its 6 GPU-hours" in r.json()["message"]

    r = admin.post("api/projects/demo/allocations", json={"holder": "job/1", "kind": "job"})
    assert r.status_code == 201
    r = admin.post("api/allocations/reclaim", json={"alive": [], "kind": "job"})
    assert r.status_code == 200 and [x["holder"] for x in r.json()["items"]] == ["job/1"]
    assert r.json()["items"][0]["end_reason"] == "reclaimed"
    assert alice.post("api/allocations/reclaim", json={"alive": []}).status_code == 403
