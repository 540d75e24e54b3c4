"""Device profiles: what a device type can do, measured here or derived from the paper.

The planner reads a :class:`Profile`; ``mchair profile`` writes one. The modules behind this one
are private: ``_model`` (the dataclasses and their predictions), ``_io`` (YAML), ``_measure``
(timing layers and shards with LiteRT), ``_link`` (the TCP ping-pong), ``_fit`` (behaviour models).
"""

from ._io import builtin_profiles, dump_profile, find_profile, load_profile, parse_profile, profiles_dir, save_profile
from ._model import (MB, DeviceFacts, LayerTiming, LinkModel, LoadModel, MemoryModel, ModelTimings, OpModel, Power,
                     Profile, TaskTiming)
from ._fit import fit_profile
from ._link import LinkMeasurement, measure_link, serve_echo
from ._measure import MeasureOptions, Measurement, measure_model

__all__ = [
    "MB", "DeviceFacts", "LayerTiming", "LinkModel", "LoadModel", "MemoryModel", "ModelTimings", "OpModel", "Power",
    "Profile", "TaskTiming", "builtin_profiles", "dump_profile", "find_profile", "load_profile", "parse_profile",
    "profiles_dir", "save_profile",
    "LinkMeasurement", "MeasureOptions", "Measurement", "fit_profile", "measure_link", "measure_model", "serve_echo",
]
