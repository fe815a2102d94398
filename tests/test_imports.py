"""core stays headless: importing it (and its CLIs) must not pull in Qt, pyqtgraph or metagui."""

import subprocess
import sys


def test_core_imports_no_gui():
    code = (
        "import sys, core, core.train, core.evaluate, core.predict, core.checkpoint, "
        "core.algorithms, core.data.splits, core.openset, core.openset.__main__, core.average\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'metagui')]\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"core imported GUI modules: {result.stdout}"
