"""seqkit.testing.run_tiny_experiment composes a preset as seqkit would and trains it for a few steps."""

from __future__ import annotations

from seqkit.testing import run_tiny_experiment

from conftest import TOY_SERIES


def test_run_tiny_experiment_trains_a_composition_for_a_few_steps(host, tmp_path):
    overrides = [override for override in TOY_SERIES if not override.startswith("trainer.max_steps")]
    summary = run_tiny_experiment(overrides, tmp_path, max_steps=3, host=host)
    assert summary["status"] == "completed" and summary["steps"] == 3
    assert (tmp_path / "run" / "summary.json").is_file()
