"""The agent's runtime: one engine per seat (dataflow by tag, windows, pieces, routes)."""

from ._engine import CAMERA_FRAME, Output, SeatEngine
from ._horizon import QUIET_S, Horizon

__all__ = ["CAMERA_FRAME", "QUIET_S", "Horizon", "Output", "SeatEngine"]
