"""The CPU's native bf16 decides the torch dtype, not oneDNN's bf16 emulation on AVX-512."""

import pytest
import torch

from tommer.core import cpu
from tommer.core.backbone import default_dtype


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU always takes bf16")
@pytest.mark.parametrize(
    ("flags", "dtype"),
    [
        ({"avx2", "fma"}, torch.float32),
        ({"avx2", "avx512f", "avx512bw", "avx512_vnni"}, torch.float32),  # emulated bf16 is 2.7x slower
        ({"avx2", "avx512f", "avx512_bf16"}, torch.bfloat16),
        ({"avx2", "avx512f", "amx_bf16", "amx_tile"}, torch.bfloat16),
    ],
)
def test_default_dtype_follows_native_bf16(monkeypatch, flags, dtype):
    monkeypatch.delenv("TOMMER_DTYPE", raising=False)
    monkeypatch.setattr(cpu, "cpu_flags", lambda: set(flags))
    assert cpu.native_bf16() == (dtype == torch.bfloat16)
    assert default_dtype() == dtype


def test_cpu_flags_of_this_machine_are_read():
    flags = cpu.cpu_flags()
    assert isinstance(flags, set) and (not flags or all(" " not in f for f in flags))
