"""The training loop: faults, devices, precision, determinism, what it logs, and early stopping."""

from __future__ import annotations

import csv
import functools
import json
import logging
import os
import signal

import pytest
import torch

from seqkit.checkpoint import load_checkpoint
from seqkit.training import TrainingStopped, train

from conftest import TOY_SERIES, TOY_TOKENS, overridden

pytestmark = pytest.mark.usefixtures("one_thread")


#: Window 40 of an unshuffled series with 16 windows a batch is in the 3rd batch: step 3 (and 18).
NAN_AT_STEP_3 = overridden(
    TOY_SERIES, "dataset.shuffle=false", "dataset.nan_window=40", "model.num_layers=2", "model.dropout=0.3"
)


def run(compose_config, host, run_dir, overrides, **callbacks):
    """Train the composed ``overrides`` in ``run_dir``; ``callbacks`` maps loop events to one function each."""
    events = {event: [function] for event, function in callbacks.items()}
    return train(compose_config(overrides), host.registry, run_dir, callbacks=events)


def final_weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def assert_same_weights(first, second):
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)


# -- faults -----------------------------------------------------------------------------------------


def test_nan_loss_stops_the_run_naming_the_step(compose_config, host, tmp_path):
    with pytest.raises(TrainingStopped) as stopped:
        run(compose_config, host, tmp_path, NAN_AT_STEP_3)
    assert (stopped.value.status, stopped.value.exit_code) == ("failed", 1)
    assert "loss is nan at step 3" in str(stopped.value)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "step 3" in summary["error"]


def test_nan_stop_keeps_the_last_good_state_as_last_checkpoint(compose_config, host, tmp_path):
    with pytest.raises(TrainingStopped):
        run(compose_config, host, tmp_path / "nan", NAN_AT_STEP_3)
    run(compose_config, host, tmp_path / "two_steps", overridden(NAN_AT_STEP_3, "trainer.max_steps=2"))
    assert load_checkpoint(tmp_path / "nan" / "checkpoints" / "last.pt")["progression"]["step"] == 2
    assert_same_weights(final_weights(tmp_path / "nan"), final_weights(tmp_path / "two_steps"))


def test_nonfinite_skip_trains_past_bad_batches(compose_config, host, tmp_path):
    summary = run(compose_config, host, tmp_path, [*NAN_AT_STEP_3, "trainer.nonfinite=skip"])
    assert (summary["status"], summary["steps"], summary["skipped_batches"]) == ("completed", 20, 2)
    assert all(torch.isfinite(weight).all() for weight in final_weights(tmp_path).values())


def test_resuming_a_nan_stop_with_skip_matches_skipping_from_the_start(compose_config, host, tmp_path):
    with pytest.raises(TrainingStopped):
        run(compose_config, host, tmp_path / "resumed", NAN_AT_STEP_3)
    skip = [*NAN_AT_STEP_3, "trainer.nonfinite=skip"]
    run(compose_config, host, tmp_path / "resumed", [*skip, "trainer.resume=auto"])
    run(compose_config, host, tmp_path / "skipped", skip)
    assert_same_weights(final_weights(tmp_path / "resumed"), final_weights(tmp_path / "skipped"))


def test_sigint_saves_a_checkpoint_and_exits_with_130(compose_config, host, tmp_path):
    handler_before = signal.getsignal(signal.SIGINT)
    interrupt_at_2 = lambda loop: loop.progression.step == 2 and os.kill(os.getpid(), signal.SIGINT)  # noqa: E731
    with pytest.raises(TrainingStopped) as stopped:
        run(compose_config, host, tmp_path, TOY_SERIES, step_end=interrupt_at_2)
    assert (stopped.value.status, stopped.value.exit_code) == ("stopped", 130)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["progression"]["step"] == 2
    assert signal.getsignal(signal.SIGINT) is handler_before


def test_every_checkpoint_written_loads_with_weights_only(compose_config, host, tmp_path):
    run(compose_config, host, tmp_path, overridden(TOY_SERIES, "optimizer.schedule=cosine"))
    written = sorted((tmp_path / "checkpoints").glob("*.pt"))
    assert [path.name for path in written] == ["best.pt", "last.pt"]
    for path in written:
        payload = torch.load(path, weights_only=True)
        assert payload["progression"]["step"] >= 5 and isinstance(payload["config"], dict)


# -- devices and precision --------------------------------------------------------------------------


def test_device_auto_chooses_the_best_device_here_and_says_so(compose_config, host, tmp_path, caplog):
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    with caplog.at_level(logging.INFO, logger="seqkit"):
        summary = run(compose_config, host, tmp_path, overridden(TOY_SERIES, "trainer.device=auto"))
    assert summary["device"].split(":")[0] == expected
    assert f"trainer.device=auto chose {expected}" in caplog.text


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_asking_for_cuda_without_cuda_is_a_clear_error(compose_config, host, tmp_path):
    with pytest.raises(ValueError, match="trainer.device=cuda but CUDA is not available"):
        run(compose_config, host, tmp_path, overridden(TOY_SERIES, "trainer.device=cuda"))


def test_bf16_autocast_trains_on_the_cpu(compose_config, host, tmp_path):
    summary = run(compose_config, host, tmp_path, [*TOY_SERIES, "trainer.precision=bf16"])
    assert summary["precision"] == "bf16" and summary["status"] == "completed"
    assert torch.isfinite(torch.tensor(summary["metrics"]["test"]["mse"]))


def test_precision_auto_records_what_it_chose(compose_config, host, tmp_path, monkeypatch):
    monkeypatch.setattr("seqkit.runtime.native_bfloat16", lambda device: True)
    summary = run(compose_config, host, tmp_path, [*TOY_SERIES, "trainer.precision=auto"])
    assert summary["precision"] == "bf16"
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["precision"] == "bf16"


def test_float16_on_the_cpu_is_refused(compose_config, host, tmp_path):
    with pytest.raises(ValueError, match="trainer.precision=16 .* needs a CUDA or MPS device"):
        run(compose_config, host, tmp_path, [*TOY_SERIES, "trainer.precision=16"])


def test_sampler_options_without_a_sampler_fail_before_training(compose_config, host, tmp_path):
    # What ``~sampler`` leaves of a preset that sets sampler options.
    config = compose_config([*TOY_TOKENS, "~sampler", "+sampler.temperature=0.5"])
    with pytest.raises(ValueError, match="no sampler is chosen.*available: text.*trainer.sample=false"):
        train(config, host.registry, tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_sample_false_skips_sampling(compose_config, host, tmp_path):
    summary = run(compose_config, host, tmp_path, [*TOY_TOKENS, "trainer.sample=false"])
    assert summary["status"] == "completed" and "samples" not in summary
    assert not (tmp_path / "samples.txt").exists()


# -- determinism ------------------------------------------------------------------------------------


def test_deterministic_turns_on_deterministic_algorithms(compose_config, host, tmp_path, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seen = []
    try:
        run(
            compose_config,
            host,
            tmp_path,
            [*TOY_SERIES, "trainer.deterministic=true"],
            step_end=lambda loop: seen.append(torch.are_deterministic_algorithms_enabled()),
        )
        assert seen and all(seen)
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    finally:
        torch.use_deterministic_algorithms(False)
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def test_how_often_we_validate_does_not_change_training(compose_config, host, tmp_path):
    dropout = overridden(TOY_SERIES, "model.num_layers=2", "model.dropout=0.3", "head.dropout=0.2")
    run(compose_config, host, tmp_path / "often", overridden(dropout, "trainer.val_every=2"))
    run(compose_config, host, tmp_path / "rarely", overridden(dropout, "trainer.val_every=5"))
    assert_same_weights(final_weights(tmp_path / "often"), final_weights(tmp_path / "rarely"))


# -- what a run logs --------------------------------------------------------------------------------


def test_metrics_csv_has_train_val_and_test_rows(compose_config, host, tmp_path):
    run(compose_config, host, tmp_path, overridden(TOY_SERIES, "trainer.log_every=4", "trainer.val_every=10"))
    with (tmp_path / "metrics.csv").open() as handle:
        rows = [(row["split"], int(row["step"])) for row in csv.DictReader(handle)]
    assert [step for split, step in rows if split == "train"] == [4, 8, 12, 16, 20]
    assert [step for split, step in rows if split == "val"] == [10, 20]
    assert [step for split, step in rows if split == "test"] == [20]


def test_patience_stops_a_run_that_no_longer_improves(compose_config, host, tmp_path):
    summary = run(compose_config, host, tmp_path, [*TOY_SERIES, "optimizer.lr=0.0", "trainer.patience=5"])
    assert (summary["stopped_early"], summary["steps"], summary["best_step"]) == (True, 10, 5)


def test_an_unknown_callback_event_is_refused(compose_config, host, tmp_path):
    with pytest.raises(ValueError, match="unknown trainer event 'epoch_end'; events: step_end, validation_end"):
        run(compose_config, host, tmp_path, TOY_SERIES, epoch_end=print)


def test_checkpoint_every_saves_between_validations(compose_config, host, tmp_path):
    saved_steps = []

    def look(loop):
        if loop.progression.step == 7:
            saved_steps.append(load_checkpoint(tmp_path / "checkpoints" / "last.pt")["progression"]["step"])

    overrides = overridden(TOY_SERIES, "trainer.val_every=null", "trainer.checkpoint_every=3")
    run(compose_config, host, tmp_path, overrides, step_end=look)
    assert saved_steps == [6]


def test_compiled_model_saves_the_plain_modules_weights(compose_config, host, tmp_path, monkeypatch):
    compile_eagerly = functools.partial(torch.compile, backend="eager")  # no C++ toolchain needed
    monkeypatch.setattr(torch, "compile", compile_eagerly)
    loops = []
    overrides = overridden(TOY_SERIES, "model.compile=true", "trainer.max_steps=2", "trainer.val_every=2")
    run(compose_config, host, tmp_path, overrides, step_end=loops.append)
    assert loops[0].train_forward is not loops[0].model
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["model"].keys() == loops[0].model.state_dict().keys()


# -- weight averaging -------------------------------------------------------------------------------


def test_average_from_validates_and_saves_the_mean_of_the_weights_after_each_step(compose_config, host, tmp_path):
    overrides = overridden(TOY_SERIES, "trainer.max_steps=6", "trainer.val_every=6", "trainer.average_from=3")
    after_step, loops = {}, []

    def keep_weights(loop):
        loops.append(loop)
        after_step[loop.progression.step] = {key: value.clone() for key, value in loop.model.state_dict().items()}

    run(compose_config, host, tmp_path, overrides, step_end=keep_weights)
    model = loops[-1].model
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    for key, _ in model.named_parameters():
        mean = torch.stack([after_step[step][key] for step in (3, 4, 5, 6)]).mean(dim=0)
        torch.testing.assert_close(last["model"][key], mean)
    assert_same_weights(last["training_model"], after_step[6])
    assert last["averaged_steps"] == 4
    # Validation scored the mean: the best checkpoint's weights give the validation metrics again.
    summary = json.loads((tmp_path / "summary.json").read_text())
    val_rows = [row for row in loops[-1].metrics_log.rows if row["split"] == "val"]
    assert summary["metrics"]["val"]["loss"] == pytest.approx(val_rows[-1]["loss"])


def test_an_averaging_run_resumes_exactly(compose_config, host, tmp_path):
    overrides = overridden(TOY_SERIES, "trainer.max_steps=8", "trainer.val_every=2", "trainer.average_from=2")
    run(compose_config, host, tmp_path / "whole", overrides)
    stop_at_5 = lambda loop: loop.progression.step == 5 and os.kill(os.getpid(), signal.SIGTERM)  # noqa: E731
    with pytest.raises(TrainingStopped):
        run(compose_config, host, tmp_path / "resumed", overrides, step_end=stop_at_5)
    run(compose_config, host, tmp_path / "resumed", [*overrides, "trainer.resume=auto"])
    whole, resumed = (load_checkpoint(tmp_path / run / "checkpoints" / "last.pt") for run in ("whole", "resumed"))
    assert_same_weights(whole["model"], resumed["model"])
    assert_same_weights(whole["training_model"], resumed["training_model"])


def test_average_from_must_be_positive(compose_config, host, tmp_path):
    with pytest.raises(ValueError, match="trainer.average_from must be a positive integer or null; got 0"):
        run(compose_config, host, tmp_path, overridden(TOY_SERIES, "trainer.average_from=0"))
