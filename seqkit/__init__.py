"""seqkit: recurrent sequence models composed from plugins and configured with Hydra.

Plugins write ``from seqkit import hookimpl`` and implement the hooks in :mod:`seqkit.hookspecs`;
``seqkit.load_run(RUN_DIR)`` gives a finished run's model (:mod:`seqkit.inference`).
"""

from importlib.metadata import PackageNotFoundError, version

from seqkit.hookspecs import hookimpl

try:
    __version__ = version("seqkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__", "hookimpl", "load_run"]


def __getattr__(name: str):
    # Imported on first use: seqkit.inference imports torch and the trainer, which import this package.
    if name == "load_run":
        from seqkit.inference import load_run

        return load_run
    raise AttributeError(f"module 'seqkit' has no attribute {name!r}")
