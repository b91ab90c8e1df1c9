"""``check_sampler``: a sampler factory against the ``Sampler`` contract; ``tiny_token_model`` to sample from."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqkit.components import DataSpec, SampleFormat, Sampler, Vocabulary
from seqkit.model import ModelConfig, SequenceModel
from seqkit.testing.expect import expect
from seqkit.testing.probes import ProbeCell, ProbeHead


def check_sampler(
    factory: Callable[..., Sampler],
    config: Any,
    model: nn.Module,
    vocabulary: Vocabulary,
    *,
    sample_format: SampleFormat | None = None,
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Check a sampler factory against the ``Sampler`` contract with ``model``; returns the first result.

    Two samplers built from ``config`` sample into two empty folders under ``out_dir`` (a temporary
    folder by default), with the global random state set differently each time. Checks: each writes its
    files into its folder and returns a JSON-serialisable dict whose ``path`` names a file there; both
    write the same bytes (seeded by its config, not by global random state); the model's train/eval
    mode is left as it was.
    """
    sample_format = sample_format or SampleFormat()
    with tempfile.TemporaryDirectory() as scratch, torch.random.fork_rng(devices=[]):
        base = Path(out_dir) if out_dir is not None else Path(scratch)
        written: list[dict[str, bytes]] = []
        results: list[dict[str, Any]] = []
        for attempt, global_seed in (("first", 1), ("second", 2)):
            sampler = factory(config)
            name = f"sampler {type(sampler).__name__}"
            expect(isinstance(sampler, Sampler), f"{name} has no sample(...) method (see seqkit.components.Sampler)")
            target = base / f"{attempt}_samples"
            target.mkdir(parents=True, exist_ok=False)
            was_training = model.training
            torch.manual_seed(global_seed)
            result = sampler.sample(model, vocabulary, target, sample_format, torch.device("cpu"))
            expect(model.training == was_training, f"{name}.sample changed the model's train/eval mode; restore it")
            expect(isinstance(result, dict) and "path" in result, f"{name}.sample must return a dict with 'path'")
            try:
                json.dumps(result)
            except TypeError as error:
                raise AssertionError(
                    f"{name}.sample's result must be JSON-serialisable for summary.json: {error}"
                ) from None
            path = Path(str(result["path"]))
            path = path if path.is_absolute() else target / path
            expect(path.is_file(), f"{name}.sample returned path {result['path']!r}, but {path} is not a file")
            expect(
                path.resolve().is_relative_to(target.resolve()),
                f"{name}.sample wrote {path} outside the out_dir it was given ({target})",
            )
            files = {str(p.relative_to(target)): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}
            written.append(files)
            results.append(result)
        expect(
            written[0].keys() == written[1].keys(),
            f"{name}: two runs from the same config wrote different files: "
            f"{sorted(written[0])} vs {sorted(written[1])}",
        )
        for file_name, content in written[0].items():
            expect(
                content == written[1][file_name],
                f"{name}: two samplers from the same config wrote different {file_name}; draw from a "
                "torch.Generator seeded from the config, not from global random state",
            )
    return results[0]


def tiny_token_model(vocabulary: Vocabulary, hidden_size: int = 16, seed: int = 0) -> SequenceModel:
    """An untrained character model over ``vocabulary`` (embedding, one Elman layer, softmax): for samplers."""
    size = len(vocabulary)
    spec = DataSpec("tokens", size, "tokens", size, stateful=True, sequence_targets=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SequenceModel(
            spec,
            lambda input_size: ProbeCell(input_size, hidden_size),
            lambda width: ProbeHead(width, spec),
            ModelConfig(),
            hidden_size,
        )
