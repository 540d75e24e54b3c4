"""The model toolchain: specs in, .tflite files out, cut into tasks and shards that chain exactly.

The modules behind this one are small and private to the toolchain; this is the API the CLI,
the planner and the tests use.
"""

from .analysis import LayerStats, layer_stats
from .check import CheckResult, check_partition, sample_inputs
from .manifest import Manifest, Task, TensorRef, load_manifest
from .model import BlockInput, Model, model_of, open_model
from .partition import balanced_cuts, partition, resolve_cuts, resolve_shards
from .reference import StreamReference, StreamResult
from .source import SourceBlock
from .spec import ModelSpec, load_spec, parse_spec
from .tflite_writer import write_tflite
from .zoo import BuiltModel, build_model, builtin_models, find_spec

__all__ = [
    "BlockInput", "BuiltModel", "CheckResult", "LayerStats", "Manifest", "Model", "ModelSpec",
    "SourceBlock", "StreamReference", "StreamResult", "Task", "TensorRef", "balanced_cuts", "build_model",
    "builtin_models", "check_partition", "find_spec", "layer_stats", "load_manifest", "load_spec", "model_of",
    "open_model", "parse_spec", "sample_inputs", "partition", "resolve_cuts", "resolve_shards", "write_tflite",
]
