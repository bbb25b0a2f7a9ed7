"""What machine this is: its CPU's model and SIMD flags, and whether it may have a GPU.

Benchmarks print ``describe()``; the choice of the fastest image runtime is cached per
``signature()``, so a cache copied to another machine is measured again there.
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import sys
from pathlib import Path

# The flags that decide how fast a CLIP image tower runs on a CPU.
SIMD_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni",
              "amx_bf16", "amx_int8", "asimd", "asimddp", "sve")


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_model() -> str:
    info = _cpuinfo()
    return (info.get("model name") or info.get("Model") or platform.processor()
            or platform.machine() or "unknown CPU")


def cpu_flags() -> frozenset[str]:
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("Features") or "").split())


def cpu_count() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def describe() -> str:
    """One line: model, cores, architecture, and which of the SIMD flags it has."""
    flags = cpu_flags()
    has = [f for f in SIMD_FLAGS if f in flags]
    lacks = [f for f in SIMD_FLAGS if f not in flags and not f.startswith(("asimd", "sve"))]
    line = f"CPU: {cpu_model()}, {cpu_count()} cores, {platform.machine()}"
    if flags:
        line += f"; flags: {' '.join(has) or 'none of note'}; without: {' '.join(lacks)}"
    return line


def signature() -> str:
    """A short key for this CPU (model, flags, cores): timings measured here stay valid."""
    text = f"{platform.machine()}|{cpu_model()}|{' '.join(sorted(cpu_flags()))}|{cpu_count()}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def gpu_possible() -> bool:
    """Whether torch might find a CUDA or Apple (MPS) GPU here, judged without importing it."""
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    nvidia = Path("/proc/driver/nvidia/gpus")
    return (nvidia.is_dir() and any(nvidia.iterdir())) or Path("/dev/kfd").exists() or (
        sys.platform == "win32" and Path(os.environ.get("SystemRoot", "C:/Windows"),
                                         "System32", "nvcuda.dll").exists())
