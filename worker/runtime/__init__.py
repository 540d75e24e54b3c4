"""The agent's runtime: one engine per seat (dataflow by tag, windows, pieces, routes)."""

from ._engine import CAMERA_FRAME, Output, SeatEngine

__all__ = ["CAMERA_FRAME", "Output", "SeatEngine"]
