"""The wheel: built from the source tree, installed in a fresh virtual environment, it runs an experiment."""

from __future__ import annotations

import json
import os
import random
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (built,) = out.glob("seqkit-*.whl")
    return built


def test_wheel_ships_the_plugins_and_configs_inside_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"seqkit/cli.py", "seqkit/plugins/heads.py", "seqkit/conf/config.yaml"} <= names
    # The built-in plugins that are packages, each with its modules.
    assert {"seqkit/plugins/cells/__init__.py", "seqkit/plugins/cells/bptt.py"} <= names
    assert {"seqkit/plugins/abc/__init__.py", "seqkit/plugins/abc/dataset.py", "seqkit/plugins/abc/check.py"} <= names
    assert {"seqkit/plugins/electricity/__init__.py", "seqkit/plugins/electricity/dataset.py"} <= names
    assert "seqkit/conf/experiment/bach.yaml" in names and "seqkit/conf/experiment/electricity.yaml" in names
    assert not any(name.startswith(("plugins/", "conf/", "tests/")) for name in names)


def tune(index: int) -> str:
    """A small, well-formed tune with a melody of its own (seeded by ``index``)."""
    notes = random.Random(index).choices("CDEFGABcdefgab", k=36)
    bars = [" ".join(notes[bar * 6 : bar * 6 + 6]) for bar in range(6)]
    return f"X:{index}\nT:Tune {index}\nM:3/4\nL:1/8\nK:C\n|: {' | '.join(bars)} :|\n"


def test_wheel_in_a_fresh_venv_lists_plugins_and_runs_an_experiment(wheel, tmp_path):
    environment_dir = tmp_path / "venv"
    venv.create(environment_dir, with_pip=False)
    # The fresh environment sees the dependencies already installed here (torch, hydra, ...) through a
    # .pth file, but gets seqkit itself only from the wheel. Paths listed in a .pth file are not scanned
    # for further .pth files, so the editable install of the source tree stays invisible.
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(environment_dir)}))
    purelib.mkdir(parents=True, exist_ok=True)
    dependency_dirs = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "_dependencies.pth").write_text("\n".join(dependency_dirs) + "\n")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(purelib)
    python = environment_dir / "bin" / "python"
    # Built-in plugins only: entry points of packages installed here (editable) are not importable there.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment |= {"SEQKIT_STRICT_PLUGINS": "1", "SEQKIT_LOAD_PLUGINS": ""}
    where = subprocess.run(
        [str(python), "-c", "import seqkit, seqkit.plugins.cells as c; print(seqkit.__file__, c.__file__)"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        check=True,
    )
    assert all(str(purelib) in path for path in where.stdout.split()), where.stdout
    listing = subprocess.run(
        [str(python), "-m", "seqkit", "plugins", "--json"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    assert listing.returncode == 0, listing.stderr
    names = [plugin["name"] for plugin in json.loads(listing.stdout)["plugins"]]
    assert names[:2] == ["seqkit.plugins.cells", "seqkit.plugins.heads"]
    (tmp_path / "tunes.abc").write_text("\n".join(tune(i) for i in range(1, 9)))
    run = subprocess.run(
        [
            str(python),
            "-m",
            "seqkit",
            "+experiment=bach",
            "dataset.path=tunes.abc",
            "dataset.split=random",
            "dataset.val_fraction=0.25",
            "dataset.test_fraction=0.25",
            "dataset.batch_size=2",
            "dataset.seq_length=16",
            "cell.hidden_size=8",
            "model.num_layers=1",
            "sampler.length=40",
            "trainer.max_steps=4",
            "trainer.val_every=2",
            "trainer.progress=false",
            "hydra.run.dir=run",
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["samples"]["path"] == "samples.abc"
