"""Fixtures of the agent tests (the helpers are in _harness.py)."""

from ._harness import partitioned

__all__ = ["partitioned"]
