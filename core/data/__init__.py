"""Omniglot reading, splits, episode sampling and the shared image preprocessing."""
