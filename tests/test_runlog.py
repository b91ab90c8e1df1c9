"""What a run leaves behind: metrics.csv across interruptions, summary.json, progress lines, TensorBoard."""

from __future__ import annotations

import importlib.util
import json
import logging

import pytest

from seqkit.runlog import MetricsLog, Progress, TensorBoardLog, write_json

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def filled_log(path, tested: bool = True) -> MetricsLog:
    log = MetricsLog(path)
    for step in (2, 4, 6):
        log.append(step, 0, "train", {"loss": 1.0 / step, "lr": 0.001})
    log.append(6, 0, "val", {"loss": 0.5, "count": 3})
    if tested:
        log.append(6, 0, "test", {"loss": 0.25})
    return log


def test_metrics_log_reloads_only_the_rows_a_checkpoint_covers(tmp_path):
    filled_log(tmp_path / "metrics.csv")
    resumed = MetricsLog(tmp_path / "metrics.csv")
    resumed.load_until(4)
    assert [(row["step"], row["split"]) for row in resumed.rows] == [(2, "train"), (4, "train")]
    assert (tmp_path / "metrics.csv").read_text().splitlines()[-1].startswith("4,0,train,0.25,")


def test_metrics_log_drops_the_test_rows_of_the_run_it_continues(tmp_path):
    filled_log(tmp_path / "metrics.csv")
    resumed = MetricsLog(tmp_path / "metrics.csv")
    resumed.load_until(6)
    assert [row["split"] for row in resumed.rows] == ["train", "train", "train", "val"]


def test_metrics_log_reads_back_exactly_what_it_wrote(tmp_path):
    filled_log(tmp_path / "metrics.csv", tested=False)  # a reload drops test rows
    written = (tmp_path / "metrics.csv").read_text()
    resumed = MetricsLog(tmp_path / "metrics.csv")
    resumed.load_until(6)
    assert (tmp_path / "metrics.csv").read_text() == written
    assert resumed.rows[-1]["count"] == 3 and isinstance(resumed.rows[-1]["count"], int)


def test_metrics_log_carries_rows_over_from_another_run(tmp_path):
    filled_log(tmp_path / "first.csv")
    carried = MetricsLog(tmp_path / "second.csv")
    carried.load_until(6, source=tmp_path / "first.csv")
    assert len(carried.rows) == 4 and (tmp_path / "second.csv").is_file()


def test_disabled_metrics_log_writes_nothing(tmp_path):
    log = MetricsLog(tmp_path / "metrics.csv", enabled=False)
    log.append(1, 0, "train", {"loss": 1.0})
    assert log.rows and not (tmp_path / "metrics.csv").exists()


def test_summary_json_writes_non_finite_numbers_as_null(tmp_path):
    write_json(tmp_path / "summary.json", {"metrics": {"val": {"loss": float("nan")}}})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"metrics": {"val": {"loss": None}}}


def test_progress_without_a_terminal_logs_a_line_every_log_every_steps(caplog):
    progress = Progress(total=20, enabled=True, log_every=5)
    with caplog.at_level(logging.INFO, logger="seqkit.runlog"):
        for step in range(1, 11):
            progress.update(step, loss=0.5, lr=0.01)
    progress.close()
    lines = [record.getMessage() for record in caplog.records]
    assert [line.split(" loss")[0] for line in lines] == ["step 5/20", "step 10/20"]
    assert "steps/s" in lines[0]


def test_silent_progress_drops_messages(caplog):
    progress = Progress(total=None, enabled=True, log_every=1, silent=True)
    with caplog.at_level(logging.INFO, logger="seqkit.runlog"):
        progress.update(1, loss=0.5, lr=0.01)
        progress.message("step 1 val loss=0.5")
    assert caplog.records == []


@pytest.mark.skipif(HAS_TENSORBOARD, reason="TensorBoard is installed")
def test_tensorboard_missing_is_one_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="seqkit.runlog"):
        assert TensorBoardLog.open(tmp_path / "tensorboard") is None
    assert len(caplog.records) == 1 and "pip install tensorboard" in caplog.text


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="TensorBoard is not installed")
def test_tensorboard_receives_the_metrics(tmp_path):
    log = MetricsLog(tmp_path / "metrics.csv", tensorboard=TensorBoardLog.open(tmp_path / "tensorboard"))
    log.append(1, 0, "train", {"loss": 1.0})
    log.tensorboard.close()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
