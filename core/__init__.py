"""Headless meta-learning core: data, models, algorithms, and the train/evaluate/predict CLIs.

This package must never import PySide6, pyqtgraph or metagui (a test checks it).
"""

__version__ = "0.1.0"
