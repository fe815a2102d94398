"""``python -m core.data.glyphs build ...``: see ``core.data.glyphs.cli``."""

import sys

from core.data.glyphs.cli import main

if __name__ == "__main__":
    sys.exit(main())
