"""The wheel: built from the source tree, installed in a fresh virtual environment, it runs an experiment."""

from __future__ import annotations

import importlib.util
import json
import os
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
    assert {"seqkit/cli.py", "seqkit/plugins/cells.py", "seqkit/plugins/heads.py", "seqkit/conf/config.yaml"} <= names
    assert "seqkit/conf/experiment/bach.yaml" in names and "seqkit/conf/experiment/electricity.yaml" in names
    assert not any(name.startswith(("plugins/", "conf/", "tests/")) for name in names)


@pytest.mark.skipif(
    importlib.util.find_spec("seqkit_example_plugin") is None, reason="the example plugin is not installed"
)
def test_wheel_in_a_fresh_venv_lists_plugins_and_runs_an_experiment(wheel, tmp_path):
    environment_dir = tmp_path / "venv"
    venv.create(environment_dir, with_pip=False)
    # The fresh environment sees the dependencies already installed here (torch, hydra, ...) through a
    # .pth file, but gets seqkit itself only from the wheel.
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(environment_dir)}))
    purelib.mkdir(parents=True, exist_ok=True)
    dependency_dirs = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (purelib / "_dependencies.pth").write_text("\n".join(dependency_dirs) + "\n")
    python = environment_dir / "bin" / "python"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(purelib)
    # Hide the editable install of the source tree, so only the wheel's copy can be imported.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"SEQKIT_STRICT_PLUGINS": "1"}
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
    run = subprocess.run(
        [
            str(python),
            "-m",
            "seqkit",
            "+experiment=example_mgu",
            "cell=lstm",
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
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "completed"
