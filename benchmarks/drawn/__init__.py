"""Helpers of ``benchmarks/drawn_accuracy.py``: the held-out drawings as pen strokes (``items``)
and the seeded tasks made of them (``tasks``)."""
