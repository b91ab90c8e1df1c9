"""Runs the ``seqkit`` command with the test plugin loaded: ``python tests/toy_runner.py dataset=toy_series ...``.

Subprocess tests (signals, ``torchrun``) use it to drive the real command line on the test plugin's
data. It adds seqkit's torchrun run-directory callback, so every rank shares rank 0's run directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hydra.core.config_store import ConfigStore  # noqa: E402

from seqkit import cli  # noqa: E402
from seqkit.host import load_host  # noqa: E402

import toy_plugin  # noqa: E402

#: Components the primary config's defaults name; stood in for when this host does not load them.
DEFAULT_CHOICES = (("dataset", "abc"), ("cell", "lstm"), ("sampler", "text"))
SHARED_RUN_DIR = "++hydra.callbacks.shared_run_dir._target_=seqkit.distributed.SharedRunDirectory"


def main(arguments: list[str]) -> None:
    host = load_host([("toy", toy_plugin)], builtins=("seqkit.plugins.heads",), strict=True)
    cli.set_host(host)
    store = ConfigStore.instance()
    for group, name in DEFAULT_CHOICES:
        if name not in host.registry.names(group):
            # Every run here overrides these groups, so any node lets the defaults compose.
            store.store(group=group, name=name, node={"name": name})
    cli.main([*arguments, SHARED_RUN_DIR])


if __name__ == "__main__":
    main(sys.argv[1:])
