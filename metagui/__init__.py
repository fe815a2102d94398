"""metagui: the Qt window for teaching a meta-trained few-shot learner by drawing.

Imports ``core``; ``core`` never imports this package.
"""

__version__ = "0.1.0"
