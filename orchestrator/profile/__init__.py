"""Device profiles: what a device type can do, measured here or derived from the paper.

The planner reads a :class:`Profile`; ``mchair profile`` writes one. The modules behind this one
are private: ``_model`` (the dataclasses and their predictions), ``_io`` (YAML), ``_measure``
(timing layers and shards with LiteRT), ``_link`` (the TCP ping-pong), ``_fit`` (behaviour models),
``_codecs`` (timing the tensor codecs).
"""

from ._codecs import measure_codec_timings, relu_like
from ._fit import fit_profile
from ._io import builtin_profiles, dump_profile, find_profile, load_profile, parse_profile, profiles_dir, save_profile
from ._link import LinkMeasurement, measure_link, serve_echo
from ._measure import Measurement, MeasureOptions, Progress, measure_model
from ._model import (
    MB,
    CodecTiming,
    DeviceFacts,
    LayerTiming,
    LinkModel,
    LoadModel,
    MemoryModel,
    ModelTimings,
    OpModel,
    Power,
    Profile,
    TaskTiming,
)

__all__ = [
    "MB", "CodecTiming", "DeviceFacts", "LayerTiming", "LinkModel", "LoadModel", "MemoryModel", "ModelTimings",
    "OpModel", "Power", "Profile", "TaskTiming", "builtin_profiles", "dump_profile", "find_profile", "load_profile",
    "parse_profile", "profiles_dir", "save_profile",
    "LinkMeasurement", "MeasureOptions", "Measurement", "Progress", "fit_profile", "measure_codec_timings",
    "measure_link", "measure_model", "relu_like", "serve_echo",
]
