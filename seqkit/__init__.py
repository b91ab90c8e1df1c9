"""seqkit: recurrent sequence models composed from plugins and configured with Hydra.

Plugins write ``from seqkit import hookimpl`` and implement the hooks in :mod:`seqkit.hookspecs`.
"""

from importlib.metadata import PackageNotFoundError, version

from seqkit.hookspecs import hookimpl

try:
    __version__ = version("seqkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__", "hookimpl"]
