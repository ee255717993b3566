"""What this CPU computes natively, read from ``/proc/cpuinfo`` without importing torch."""

from __future__ import annotations

from pathlib import Path


def cpu_flags() -> set[str]:
    """This CPU's feature flags (empty where ``/proc/cpuinfo`` is unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def native_bf16() -> bool:
    """Whether the CPU computes bf16 natively (AVX512-BF16 or AMX). AVX-512 alone is not enough: there
    oneDNN emulates bf16, 2.7× slower than fp32 (results/bench_intel-xeon-avx512.md, ``torch``)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
