"""GPU discovery: a pure parser of ``nvidia-smi``'s CSV output and a tiny wrapper that runs
it. The platform's default GPU inventory comes from here when none is configured."""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass

log = logging.getLogger(__name__)

NVIDIA_SMI_ARGS = (
    "--query-gpu=index,uuid,name,memory.total",
    "--format=csv,noheader",
)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    memory_mib: int | None  # None when nvidia-smi reports "[N/A]"


def parse_nvidia_smi(output: str) -> list[GpuInfo]:
    """The GPUs in the output of ``nvidia-smi --query-gpu=index,uuid,name,memory.total
    --format=csv,noheader``, one ``0, GPU-<uuid>, NVIDIA H100 80GB HBM3, 81559 MiB`` per line.
    Lines that are not of that shape ("No devices were found", warnings) are skipped."""
    gpus = []
    for line in output.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or not parts[0].isdigit() or not parts[1]:
            continue
        # a name may contain commas: it is everything between the uuid and the memory
        name = ", ".join(parts[2:-1])
        memory = parts[-1].split()
        memory_mib = int(memory[0]) if memory and memory[0].isdigit() else None
        if memory_mib is not None and len(memory) > 1 and memory[1].lower() == "gib":
            memory_mib *= 1024
        gpus.append(GpuInfo(int(parts[0]), parts[1], name, memory_mib))
    return gpus


def discover_gpus(binary: str = "nvidia-smi", timeout: float = 10) -> list[GpuInfo]:
    """The GPUs ``nvidia-smi`` lists; none when it is not installed or fails (logged)."""
    path = shutil.which(binary)
    if path is None:
        return []
    try:
        out = subprocess.run(
            [path, *NVIDIA_SMI_ARGS], capture_output=True, text=True, timeout=timeout, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("GPU discovery with %s failed, assuming no GPUs: %s", path, e)
        return []
    return parse_nvidia_smi(out)
