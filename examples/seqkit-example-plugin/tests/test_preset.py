"""The example_mgu preset composes with the plugin's components and trains end to end."""

from seqkit.testing import compose_config, run_tiny_experiment


def test_preset_selects_the_plugin_components():
    config = compose_config(["+experiment=example_mgu"])
    assert (config.cell.name, config.dataset.name, config.head.name) == ("mgu", "noisy_sine", "regression")
    assert config.sampler is None


def test_preset_trains_for_a_few_steps(tmp_path):
    summary = run_tiny_experiment(["+experiment=example_mgu"], tmp_path, max_steps=4)
    assert summary["status"] == "completed" and summary["steps"] == 4
    assert summary["metrics"]["test"]["mse"] > 0
    assert (tmp_path / "run" / "checkpoints" / "best.pt").is_file()
