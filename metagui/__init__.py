"""metagui: the Qt window for teaching a meta-trained few-shot learner by drawing.

Imports ``core``; ``core`` never imports this package. The version is ``core``'s (one source).
"""

import core

if getattr(core, "METAGUI_CORE", False) is not True:  # another distribution's top-level core
    raise ImportError(
        f"the 'core' package imported from {getattr(core, '__file__', None) or core.__path__} is "
        "not metagui's: another distribution's 'core' hides it; uninstall that one or install "
        "metagui in a venv of its own (README, 'The core name')"
    )

__version__ = core.__version__
