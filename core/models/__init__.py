"""Backbones for few-shot learners."""

from core.models.conv4 import Conv4

__all__ = ["Conv4"]
