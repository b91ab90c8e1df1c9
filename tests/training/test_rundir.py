"""A run directory is owned by one run at a time, and nothing a run left there is lost without a choice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from seqkit.training import TrainingStopped, train
from seqkit.training.faults import StopRequests
from seqkit.training.rundir import LOCK_NAME, RunDirectoryError, owned, remove_stale_temporaries

from conftest import TOY_SERIES, overridden

pytestmark = pytest.mark.usefixtures("one_thread")

SHORT = overridden(TOY_SERIES, "trainer.max_steps=4", "trainer.val_every=2")


def files_of(run_dir):
    return {path.relative_to(run_dir): path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}


def test_a_second_run_into_a_directory_in_use_stops_naming_the_holder(compose_config, host, tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from seqkit.training.rundir import owned\n"
            "with owned(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirectoryError, match=f"is in use by process {holder.pid}; wait for it"):
            train(compose_config(SHORT), host.registry, tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "summary.json").exists()


def test_the_lock_goes_with_the_run(compose_config, host, tmp_path):
    train(compose_config(SHORT), host.registry, tmp_path)
    with owned(tmp_path):  # taken again at once: the finished run let go of it
        assert (tmp_path / LOCK_NAME).read_text() == f"process {os.getpid()}\n"


def test_a_fresh_run_over_a_finished_one_is_refused_unless_asked(compose_config, host, tmp_path):
    train(compose_config(SHORT), host.registry, tmp_path)
    before = files_of(tmp_path)
    with pytest.raises(RunDirectoryError, match="holds an earlier run .*trainer.resume=auto.*trainer.overwrite=true"):
        train(compose_config(SHORT), host.registry, tmp_path)
    assert files_of(tmp_path) == before
    summary = train(compose_config([*SHORT, "trainer.overwrite=true"]), host.registry, tmp_path)
    assert summary["status"] == "completed"


def test_resume_auto_without_last_checkpoint_names_both_ways_on(compose_config, host, tmp_path):
    train(compose_config(SHORT), host.registry, tmp_path)
    (tmp_path / "checkpoints" / "last.pt").unlink()
    before = files_of(tmp_path)
    with pytest.raises(
        RunDirectoryError, match="no checkpoints/last.pt to resume .*trainer.resume=.*best.pt.*overwrite"
    ):
        train(compose_config([*SHORT, "trainer.resume=auto"]), host.registry, tmp_path)
    assert files_of(tmp_path) == before


def test_resume_auto_in_an_empty_directory_starts_afresh(compose_config, host, tmp_path):
    summary = train(compose_config([*SHORT, "trainer.resume=auto"]), host.registry, tmp_path / "new")
    assert summary["status"] == "completed" and summary["resumed_from"] is None


def test_a_run_directory_that_is_a_file_is_refused(compose_config, host, tmp_path):
    (tmp_path / "run").write_text("not a directory")
    with pytest.raises(RunDirectoryError, match="is a file; choose another hydra.run.dir"):
        train(compose_config(SHORT), host.registry, tmp_path / "run")


def test_temporary_files_a_killed_writer_left_are_cleared(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    stale = [tmp_path / ".metrics.csv.ab12.tmp", tmp_path / "checkpoints" / ".last.pt.x9z.tmp"]
    for path in stale:
        path.write_text("half")
    (tmp_path / "checkpoints" / "last.pt").write_text("whole")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == ["last.pt"]


def test_a_second_signal_stops_at_once_and_still_leaves_summary_and_loss_plot(compose_config, host, tmp_path):
    def interrupt_twice(loop):
        if loop.progression.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingStopped, match="stopped at once at step 2 by a second signal"):
        train(
            compose_config([*SHORT, "trainer.log_every=1"]),
            host.registry,
            tmp_path,
            callbacks={"step_end": [interrupt_twice]},
        )
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "stopped"
    assert (tmp_path / "loss.png").is_file()


def test_signals_while_finishing_wait_for_the_summary():
    stops = StopRequests()
    with stops.installed():
        os.kill(os.getpid(), signal.SIGINT)
        stops.finish()
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt before finish()
    assert stops.signal == signal.SIGINT
