"""Wall time of one sweep under Hydra's basic launcher (jobs one after another) and joblib (in parallel).

    python benchmarks/sweep_launchers.py                       # 4 jobs of 300 steps, joblib with 2 workers
    python benchmarks/sweep_launchers.py --steps 3000 --workers 4 --repeats 2

The sweep is the example plugin's experiment over two cells and two learning rates
(``+experiment=example_mgu cell=lstm,gru optimizer.lr=0.01,0.02``), so the example plugin must be
installed, and joblib needs ``seqkit[sweep]``. Each worker process imports torch and loads the plugins
before its first job (a few seconds), so joblib pays off only when jobs take longer than that and the
machine has idle cores. Every run uses one thread per process (``OMP_NUM_THREADS=1``) so that the two
launchers ask for the same cores. Runs alternate between the launchers, so other load hits both alike.
Prints the sweep's wall time and each job's training time (``wall_time_s`` in sweep_results.csv).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_sweep(launcher: str, steps: int, workers: int, folder: Path) -> tuple[float, list[float]]:
    """Seconds the whole sweep took, and each job's training time from the results table."""
    sweep_dir = folder / f"{launcher}_{time.monotonic_ns()}"
    arguments = [
        "+experiment=example_mgu",
        "cell=lstm,gru",
        "optimizer.lr=0.01,0.02",
        f"trainer.max_steps={steps}",
        "trainer.max_epochs=null",
        f"trainer.val_every={max(1, steps // 3)}",
        "trainer.progress=false",
        "trainer.device=cpu",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    if launcher == "joblib":
        arguments += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={workers}"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "seqkit", "-m", *arguments], env=environment, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"the {launcher} sweep failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
    with (sweep_dir / "sweep_results.csv").open(newline="", encoding="utf-8") as handle:
        job_times = [float(row["wall_time_s"]) for row in csv.DictReader(handle)]
    return elapsed, job_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per job")
    parser.add_argument("--workers", type=int, default=2, help="joblib worker processes")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each launcher")
    options = parser.parse_args()
    print(f"cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    print(f"{'launcher':<8} {'sweep_s':>8}  job training times (s)")
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(options.repeats):
            for launcher in ("basic", "joblib"):
                elapsed, job_times = run_sweep(launcher, options.steps, options.workers, Path(folder))
                print(f"{launcher:<8} {elapsed:8.1f}  {', '.join(f'{t:.1f}' for t in job_times)}", flush=True)


if __name__ == "__main__":
    main()
