"""Distributed training (hopsworks_lab.experiments.distributed) with real processes: torch
DDP over gloo on CPU through torch's elastic launcher and through Spark's TorchDistributor
on local[2], a failing worker's traceback, a function defined in ``__main__``, and a
2-process Horovod allreduce over gloo (built by scripts/install-horovod.sh; required in CI).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import torch
from conftest import need

from hopsworks_lab.experiments.distributed import (
    DistributedTrainingError,
    run_horovod,
    run_torch_distributed,
)

# Workers started by Spark and Horovod do not have tests/ on sys.path: ship this module's
# functions by value, as cloudpickle does for a notebook's functions.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

LR = 0.1
STEPS = 4
TRUE_W = [[1.0, -2.0, 0.5]]


def _batch(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each rank trains on its own data: only all-reduced gradients keep them in step."""
    g = torch.Generator().manual_seed(1000 * rank + step)
    x = torch.randn(16, 3, generator=g)
    return x, x @ torch.tensor(TRUE_W).T + 0.3


def _train_ddp(steps: int, lr: float) -> dict[str, Any]:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
    model = torch.nn.Linear(3, 1)
    ddp = DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=lr)
    for step in range(steps):
        x, y = _batch(rank, step)
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x), y).backward()
        opt.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    env = {k: os.environ.get(k) for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    Path(os.environ["HOPSWORKS_LAB_LOGDIR"], f"rank-{rank}.json").write_text(json.dumps(env))
    dist.destroy_process_group()
    return {"rank": rank, "world_size": world, "params": [g.tolist() for g in gathered]}


def _expected_params(steps: int, lr: float, world: int) -> list[float]:
    """The same training in one process: rank 0's init, gradients averaged over ranks."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    for step in range(steps):
        grads = []
        for rank in range(world):
            model.zero_grad()
            x, y = _batch(rank, step)
            torch.nn.functional.mse_loss(model(x), y).backward()
            grads.append([p.grad.clone() for p in model.parameters()])
        with torch.no_grad():
            for i, p in enumerate(model.parameters()):
                p -= lr * sum(g[i] for g in grads) / world
    return torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()


def test_ddp_workers_train_in_lockstep_and_rank_0_returns(tmp_path: Path) -> None:
    before = handlers()
    out = run_torch_distributed(
        _train_ddp, (STEPS,), {"lr": LR}, num_workers=2, logdir=str(tmp_path)
    )
    assert out["rank"] == 0 and out["world_size"] == 2
    rank0, rank1 = out["params"]
    assert rank0 == rank1  # identical parameters on both ranks
    assert rank0 == pytest.approx(_expected_params(STEPS, LR, 2), abs=1e-6)
    envs = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert [e["RANK"] for e in envs] == ["0", "1"]
    assert {e["MASTER_ADDR"] for e in envs} == {"127.0.0.1"} and all(
        e["WORLD_SIZE"] == "2" for e in envs
    )
    assert envs[0]["MASTER_PORT"] == envs[1]["MASTER_PORT"]
    assert_interruptible(before)  # the launcher left no signal handler of its own behind


def handlers() -> dict[int, object]:
    return {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}


def assert_interruptible(before: dict[int, object]) -> None:
    """The launcher left the caller's signal handlers as they were, and Ctrl-C (a kernel's
    interrupt) still raises KeyboardInterrupt."""
    assert handlers() == before
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)


def _fails_on_rank_1() -> None:
    import torch.distributed as dist

    if os.environ["RANK"] == "1":
        raise ValueError("rank 1 refuses to train")
    dist.init_process_group("gloo")  # rank 0 waits for a peer that never comes
    dist.barrier()


def test_a_failing_worker_raises_with_its_traceback() -> None:
    with pytest.raises(DistributedTrainingError) as info:
        run_torch_distributed(_fails_on_rank_1, num_workers=2)
    message = str(info.value)
    assert "ValueError: rank 1 refuses to train" in message
    assert "in _fails_on_rank_1" in message and "Traceback (most recent call last)" in message
    assert info.value.rank == 1


def test_a_function_defined_in_main_runs(tmp_path: Path) -> None:
    # A script's functions live in __main__, like a notebook's: the workers cannot import
    # them by name, so they travel by value.
    script = tmp_path / "main_fn.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os
            from hopsworks_lab.experiments.distributed import run_torch_distributed

            class Scale:
                def __init__(self, k):
                    self.k = k

            def total(scale):
                import torch, torch.distributed as dist
                dist.init_process_group("gloo")
                t = torch.tensor([float(dist.get_rank() + 1)])
                dist.all_reduce(t)
                dist.destroy_process_group()
                return {"sum": t.item() * scale.k, "logdir": os.environ["HOPSWORKS_LAB_LOGDIR"]}

            if __name__ == "__main__":
                print(json.dumps(run_torch_distributed(total, (Scale(10),), logdir="/x/y")))
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"sum": 30.0, "logdir": "/x/y"}


def _all_reduce_sum() -> dict[str, Any]:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    t = torch.tensor([float(dist.get_rank() + 1)])
    dist.all_reduce(t)
    out = {"rank": dist.get_rank(), "sum": t.item(), "logdir": os.environ["HOPSWORKS_LAB_LOGDIR"]}
    dist.destroy_process_group()
    return out


def test_torch_distributor_on_a_local_master(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(shutil.which("java") or os.environ.get("JAVA_HOME"), "Java (for Spark) is not installed")
    need(importlib.util.find_spec("pyspark"), "pyspark is not installed")
    from pyspark.sql import SparkSession

    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("distributed-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    try:
        out = run_torch_distributed(
            _all_reduce_sum, num_workers=2, logdir=str(tmp_path), spark=spark
        )
    finally:
        spark.stop()
    assert out == {"rank": 0, "sum": 3.0, "logdir": str(tmp_path)}


def _horovod_allreduce(fail_rank: int | None) -> dict[str, Any]:
    import horovod.torch as hvd

    hvd.init()
    if hvd.rank() == fail_rank:
        raise RuntimeError(f"horovod rank {fail_rank} gives up")
    t = torch.tensor([float(hvd.rank() + 1), 10.0 * hvd.rank()])
    return {
        "rank": hvd.rank(),
        "size": hvd.size(),
        "sum": hvd.allreduce(t, op=hvd.Sum).tolist(),
        "mean": hvd.allreduce(t, op=hvd.Average).tolist(),
        "logdir": os.environ["HOPSWORKS_LAB_LOGDIR"],
    }


def test_horovod_allreduce_over_gloo(tmp_path: Path) -> None:
    need(
        importlib.util.find_spec("horovod"),
        "horovod is not installed (scripts/install-horovod.sh builds it)",
    )
    before = handlers()
    outs = run_horovod(_horovod_allreduce, (None,), np=2, logdir=str(tmp_path))
    assert [o["rank"] for o in outs] == [0, 1] and {o["size"] for o in outs} == {2}
    for o in outs:
        assert o["sum"] == [3.0, 10.0] and o["mean"] == [1.5, 5.0]
        assert o["logdir"] == str(tmp_path)
    with pytest.raises(DistributedTrainingError) as info:
        run_horovod(_horovod_allreduce, kwargs={"fail_rank": 1}, np=2)
    assert "RuntimeError: horovod rank 1 gives up" in str(info.value) and info.value.rank == 1
    assert_interruptible(before)


def test_without_horovod_the_error_names_the_install_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "horovod", None)  # import horovod -> ImportError
    with pytest.raises(ImportError, match=r"scripts/install-horovod\.sh"):
        run_horovod(_all_reduce_sum)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="num_workers"):
        run_torch_distributed(_all_reduce_sum, num_workers=0)
    with pytest.raises(TypeError, match="callable"):
        run_torch_distributed("train.py")  # type: ignore[arg-type]
