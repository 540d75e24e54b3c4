"""Which results belong: of a live epoch, with a tag the epoch can still hold, shaped as the model's outputs.

A holder of the cluster secret (a buggy or old agent) can still send a Result of an epoch long
gone, a tag far ahead of the stream, or tensors of the wrong shape. Such a result is refused
before it is kept: counted per (peer, reason), logged once per pair, never held in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from worker.wire import Result

from ..toolchain.model import Model
from ._streams import EpochRun

# Why the master refused a result; stable names, for counters and logs.
REFUSE_REASONS = (
    "earlier-master",  # an epoch from before this master started: a stream an earlier master seated
    "unknown-epoch",   # the master never assigned that stream this epoch (one that is over: counted late)
    "far-tag",         # further ahead than the epoch can hold (its results window past the recorder)
    "old-tag",         # before the window: the epoch released or skipped it long ago
    "bad-shard",       # a shard index the sink stage does not have
    "bad-shape",       # tensors that are not the model's outputs (names, dtypes, shapes)
)


@dataclass(frozen=True)
class OutputSpec:
    """One result tensor as the model makes it: its dtype and shape."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Refusal:
    """Why a result does not belong: one of REFUSE_REASONS and a line of detail."""

    reason: str
    detail: str


def output_specs(model: Model) -> dict[str, OutputSpec]:
    """The model's results, as the task table names them, with their dtypes and shapes."""
    return {f"{b}/{ref.name}": OutputSpec(ref.dtype, tuple(int(d) for d in ref.shape))
            for b in model.outputs for ref in model.block(b).outputs}


def why_refused(run: EpochRun | None, result: Result, specs: Mapping[str, OutputSpec],
                first_epoch: int = 0) -> Refusal | None:
    """Why ``result`` does not belong to ``run`` (its stream's epoch of that number), or None when it does.

    ``specs`` empty: shapes are not checked (a caller without the model). Epochs up to ``first_epoch``
    (where this master started counting) are an earlier master's: its agents go on until re-seated."""
    if run is None and result.epoch <= first_epoch:
        return Refusal("earlier-master", f"Result of stream {result.stream[:80]!r} epoch {result.epoch}: an "
                       f"earlier master's (this one started at {first_epoch})")
    if run is None:
        return Refusal("unknown-epoch", f"Result of stream {result.stream[:80]!r} epoch {result.epoch}: "
                       "not an epoch this master assigned to that stream")
    results, tag = run.results, result.tag
    released = results.next_tag if results.next_tag is not None else run.table.first_complete_tag(
        run.table.sink.index)
    # The recorder's heartbeats say how far the camera got: a result cannot be much ahead of both.
    ahead = max(released, run.recorded) + results.max_held
    if tag >= ahead:
        return Refusal("far-tag", f"tag {tag} of epoch {result.epoch}: the epoch holds tags below {ahead}")
    if tag < released - results.max_held:
        return Refusal("old-tag", f"tag {tag} of epoch {result.epoch}: tags before {released} were released")
    shards = results.shards
    if not (0 <= result.shard < shards or (shards == 1 and result.shard == -1)):
        return Refusal("bad-shard", f"shard {result.shard} of tag {tag}: the sink stage has {shards}")
    return _why_bad_tensors(result, specs, shards) if specs else None


def _why_bad_tensors(result: Result, specs: Mapping[str, OutputSpec], shards: int) -> Refusal | None:
    """The tensors must be the model's outputs, each shard's piece split on the last axis."""
    names = sorted(t.name for t in result.tensors)
    if names != sorted(specs):
        return Refusal("bad-shape", f"tag {result.tag}: tensors {[n[:80] for n in names[:8]]}, expected "
                       f"{sorted(specs)}")
    for tensor in result.tensors:
        want = specs[tensor.name]
        shape = tuple(tensor.shape)
        # A shard's piece: the full shape but for the last axis, a part of it (joined and checked again).
        fits = shape == want.shape if shards == 1 else (
            len(shape) == len(want.shape) and shape[:-1] == want.shape[:-1] and 0 < shape[-1] <= want.shape[-1])
        if tensor.dtype != want.dtype or not fits:
            return Refusal("bad-shape", f"tag {result.tag}: {tensor.name} is {tensor.dtype}{list(shape)[:8]}, "
                           f"expected {want.dtype}{list(want.shape)}")
    return None


__all__ = ["REFUSE_REASONS", "OutputSpec", "Refusal", "output_specs", "why_refused"]
