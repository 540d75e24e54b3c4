"""Numpy reference executor: runs a .tflite graph op by op in float32 with TFLite's semantics.

Slow next to LiteRT, but it needs nothing beyond numpy, so it runs on any host and gives the
tests an executor whose every line can be read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError
from ..graph import ACTIVATIONS, Graph, parse_graph, read_graph
from ._base import TensorSpec, check_feeds
from ._numpy_ops import ACTIVATION_CODES, KERNELS, Call, Kernel

Tap = Callable[[str, np.ndarray], "np.ndarray | None"]


class NumpyRunner:
    """A .tflite model executed by the numpy kernels; tensors addressed by name."""

    def __init__(self, model: str | os.PathLike[str] | bytes) -> None:
        if isinstance(model, bytes):
            self.path = "<bytes>"
            graph = parse_graph(model)
        else:
            self.path = str(model)
            graph = read_graph(model)
        self._graph = graph
        self._steps: list[tuple[Call, Kernel, list[int]]] = []
        for i, op in enumerate(graph.operators):
            call = Call(i, op, tuple(graph.tensors[t] if t >= 0 else None for t in op.inputs),
                        tuple(graph.tensors[t] for t in op.outputs))
            self._steps.append((call, _kernel(call), []))
        self._check_order()
        self.inputs = [_spec(graph, t) for t in graph.inputs]
        self.outputs = [_spec(graph, t) for t in graph.outputs]
        self._constants = {t: tensor.data for t, tensor in enumerate(graph.tensors)
                           if tensor.data is not None}
        self._fold_constants()
        self._plan_frees()

    def run(self, feeds: Mapping[str, np.ndarray], tap: Tap | None = None) -> dict[str, np.ndarray]:
        """Run once; returns fresh arrays that share no memory with the feeds or the model.

        ``tap(name, value)`` sees every input as fed and every activation an operator writes, and may
        return a replacement (the planner measures what a lossy codec on a tensor does to the outputs).
        """
        check_feeds(self.path, self.inputs, feeds)
        values: dict[int, np.ndarray] = dict(self._constants)
        for spec, t in zip(self.inputs, self._graph.inputs):
            values[t] = np.asarray(feeds[spec.name], spec.dtype)
            if tap is not None and (replaced := tap(spec.name, values[t])) is not None:
                values[t] = np.asarray(replaced, spec.dtype)
        for call, kernel, frees in self._steps:
            _execute(call, kernel, values)
            if tap is not None:
                out = call.op.outputs[0]
                replaced = tap(call.outputs[0].name, values[out])
                if replaced is not None:
                    values[out] = np.asarray(replaced, call.outputs[0].dtype)
            for t in frees:
                del values[t]
        return {spec.name: np.array(values[t]) for spec, t in zip(self.outputs, self._graph.outputs)}

    def _check_order(self) -> None:
        """Fail at load, not half-way through run(), if a tensor is read before it has a value."""
        graph = self._graph
        known = set(graph.inputs) | {t for t, tensor in enumerate(graph.tensors) if tensor.is_constant}
        for call, _, _ in self._steps:
            for t in call.op.inputs:
                if t >= 0 and t not in known:
                    raise ModelFormatError(self.path, f"operator {call.index} ({call.op.kind}) reads "
                                                      f"tensor {t} before any operator writes it")
            known.update(call.op.outputs)
        for t in graph.outputs:
            if t not in known:
                raise ModelFormatError(self.path, f"graph output {t} is never written")

    def _fold_constants(self) -> None:
        """Run once, at load, the operators that read only constants (e.g. float16 weights).

        TFLite does the same for a DEQUANTIZE of constant weights, and it keeps run() to the
        operators that depend on the feeds.
        """
        remaining = []
        for call, kernel, frees in self._steps:
            if call.index in self._graph.constant_ops:
                _execute(call, kernel, self._constants)
            else:
                remaining.append((call, kernel, frees))
        self._steps = remaining

    def _plan_frees(self) -> None:
        """After each step, drop the activations no later step reads, to keep peak memory low."""
        keep = set(self._graph.outputs) | set(self._constants)
        last_use: dict[int, int] = {}
        for s, (call, _, _) in enumerate(self._steps):
            for t in call.op.inputs + call.op.outputs:
                if t >= 0 and t not in keep:
                    last_use[t] = s
        for t, s in last_use.items():
            self._steps[s][2].append(t)


def _execute(call: Call, kernel: Kernel, values: dict[int, np.ndarray]) -> None:
    """Run one operator on ``values`` (tensor index -> value) and store its output there."""
    args = [values[t] if t >= 0 else None for t in call.op.inputs]
    result = kernel(call, args)
    out = call.outputs[0]
    values[call.op.outputs[0]] = np.asarray(result, out.dtype)


def _kernel(call: Call) -> Kernel:
    """The kernel of one operator, or UnsupportedOpError naming it if it cannot run here."""
    op, where = call.op, f"operator {call.index} ({call.op.kind})"
    kernel = KERNELS.get(op.kind)
    if kernel is None:
        raise UnsupportedOpError(f"{where}: not supported by the numpy reference executor")
    activation = int(op.option("fused_activation_function", 0))
    if activation not in ACTIVATION_CODES:
        name = ACTIVATIONS.get(activation, str(activation))
        raise UnsupportedOpError(f"{where}: fused activation {name} is not supported by the numpy "
                                 "reference executor (TFLite's float kernels ignore or refuse it)")
    if len(op.outputs) != 1:
        raise UnsupportedOpError(f"{where}: {len(op.outputs)} outputs, the numpy reference "
                                 "executor expects one")
    x = call.inputs[0] if call.inputs else None
    w = call.inputs[1] if len(call.inputs) > 1 else None
    if op.kind == "CONV_2D" and x is not None and w is not None and x.shape[-1:] != w.shape[-1:]:
        raise UnsupportedOpError(f"{where}: grouped convolution ({x.shape[-1]} input channels, "
                                 f"filter has {w.shape[-1]}) is not supported by the numpy "
                                 "reference executor")
    if (op.kind == "DEPTHWISE_CONV_2D" and x is not None and w is not None and x.shape
            and w.shape and w.shape[-1] % max(x.shape[-1], 1)):
        raise UnsupportedOpError(f"{where}: {w.shape[-1]} filter channels are not a multiple of "
                                 f"{x.shape[-1]} input channels")
    if op.kind == "DEQUANTIZE" and x is not None and x.dtype != np.float16 and (
            x.dtype.kind not in "iu" or x.quantization is None):
        raise UnsupportedOpError(f"{where}: dequantizing {x.dtype} is not supported by the numpy "
                                 "reference executor")
    return kernel


def _spec(graph: Graph, t: int) -> TensorSpec:
    tensor = graph.tensors[t]
    return TensorSpec(tensor.name, tuple(tensor.shape), np.dtype(tensor.dtype))
