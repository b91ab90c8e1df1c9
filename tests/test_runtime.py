"""seqkit.runtime: precision settings, their checks, and what ``auto`` picks on each device."""

import pytest
import torch

from seqkit import runtime
from seqkit.runtime import Precision, native_bfloat16

CPU = torch.device("cpu")


@pytest.mark.parametrize("native, chosen, dtype", [(True, "bf16", torch.bfloat16), (False, "32", None)])
def test_auto_takes_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, caplog, native, chosen, dtype):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    with caplog.at_level("INFO", logger=runtime.__name__):
        chosen_precision = Precision("auto", CPU)
    assert (chosen_precision.name, chosen_precision.dtype) == (chosen, dtype)
    assert f"trainer.precision=auto chose {chosen} on cpu" in caplog.text


def test_amx_alone_counts_as_native_bfloat16(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert native_bfloat16(CPU)


def test_a_build_without_the_cpu_probes_gets_float32(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert not native_bfloat16(CPU)
    assert Precision("auto", CPU).name == "32"


def test_mps_never_counts_as_native_bfloat16():
    assert not native_bfloat16(torch.device("mps"))


def test_bf16_autocasts_matmuls_and_32_does_not():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with Precision("bf16", CPU).autocast():
        assert (a @ b).dtype == torch.bfloat16
    with Precision("32", CPU).autocast():
        assert (a @ b).dtype == torch.float32


def test_only_the_16_bit_float_setting_scales_gradients():
    assert not Precision("bf16", CPU).scaler.is_enabled()


@pytest.mark.parametrize("name", ["64", "fp16", ""])
def test_unknown_settings_are_refused_listing_the_known_ones(name):
    with pytest.raises(ValueError, match="must be auto, 32, bf16 or 16"):
        Precision(name, CPU)
