"""The built-in plugins load light: registering them imports no pandas, matplotlib or music21."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = ("pandas", "matplotlib", "music21")


def test_loading_the_built_in_plugins_imports_no_pandas_matplotlib_or_music21():
    code = (
        "import sys\n"
        "from seqkit.host import load_host\n"
        "load_host(strict=True)\n"
        f"print(sorted({{name.split('.')[0] for name in sys.modules}} & set({HEAVY!r})))\n"
    )
    environment = os.environ | {"SEQKIT_LOAD_PLUGINS": ""}  # the built-in plugins only
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True)
    assert result.stdout.strip() == "[]"
