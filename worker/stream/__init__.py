"""Stream semantics shared by the single-process reference and the agents: windows, joins, steps."""

from ._steps import BUILTIN_STEPS, BuiltinStep, OpticalFlow, builtin_step
from ._window import MAX_SKEW, WINDOW_MODES, BlockJoin, Window

__all__ = ["BUILTIN_STEPS", "MAX_SKEW", "WINDOW_MODES", "BlockJoin", "BuiltinStep", "OpticalFlow",
           "Window", "builtin_step"]
