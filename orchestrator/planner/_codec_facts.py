"""What the tensor codecs do to one model: bytes per value and output error per cut, measured.

The planner charges a link the bytes its codec leaves and keeps the model's output error inside
the user's budget, so both are measured on the model itself, not assumed: the model runs over
synthetic camera frames on the numpy executor, once as it is (every value between units is
encoded with every codec: the bytes it would take on the wire; zstd's depend on the values) and
once per cut and lossy codec with the values crossing that cut encoded and decoded on their way
(the output error: ``max |y - y_ref| / max |y_ref|`` over the outputs of ``frames`` results).
Figures are cached by model content in the model cache, so a master re-plans without rerunning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import numpy as np

from worker.cluster import CodecSettings
from worker.wire import encode_tensor

from ..profile import Progress
from ..toolchain.activations import Key, ModelStream
from ..toolchain.model import Model
from ..toolchain.zoo import cache_dir
from ._problem import CodecFacts, Problem, crossing

VERSION = 1          # of the cached figures' meaning




def value_key(problem: Problem, value: int) -> Key:
    """Where the stream reference sees ``value``: the model input, a step's output, or a layer's tensor."""
    v = problem.values[value]
    return ("", v.name) if v.producer == 0 else (problem.units[v.producer].block, v.name)


def round_trip(value: np.ndarray, codec: str) -> np.ndarray | None:
    """``value`` as a receiver gets it in ``codec``; None when the codec refuses it (it goes raw)."""
    try:
        return encode_tensor("x", value, codec).array()
    except ValueError:
        return None


def codec_facts(problem: Problem, model: Model, settings: CodecSettings, progress: bool = True) -> CodecFacts:
    """The figures of ``settings.choose`` on ``model`` (whose planning problem is ``problem``), cached."""
    codecs = tuple(c for c in settings.choose if c != "raw")
    lossy = settings.lossy if settings.error_budget > 0 else ()
    stream = ModelStream(model)
    key = hashlib.sha256(json.dumps([VERSION, stream.identity, codecs, lossy, settings.frames]).encode()).hexdigest()
    path = cache_dir() / "codec-facts" / f"{key[:24]}.json"
    if path.exists():
        raw = json.loads(path.read_text())
        if len(raw["ratios"]["raw"]) == len(problem.values):   # else: a stale file of another problem
            return CodecFacts({c: tuple(r) for c, r in raw["ratios"].items()},
                              {c: tuple(e) for c, e in raw["errors"].items()}, raw["frames"], raw["results"])
    facts = _measure(problem, stream, codecs, lossy, settings.frames, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(facts)))
    return facts


def _measure(problem: Problem, stream: ModelStream, codecs: Sequence[str], lossy: Sequence[str], wanted: int,
             progress: bool) -> CodecFacts:
    keys = {value_key(problem, vi): vi for vi in range(len(problem.values))}
    seen: dict[int, list[np.ndarray]] = {}

    def record(block: str, tensor: str, value: np.ndarray) -> None:
        vi = keys.get((block, tensor))
        if vi is not None and len(seen.setdefault(vi, [])) < wanted:
            seen[vi].append(np.array(value))

    reference, frames = stream.run(wanted, record)
    raw_bytes = {vi: sum(x.nbytes for x in xs) for vi, xs in seen.items()}
    ratios: dict[str, tuple[float, ...]] = {"raw": tuple(1.0 for _ in problem.values)}
    for codec in codecs:
        ratios[codec] = tuple(sum(encode_tensor("x", x, codec).nbytes for x in seen[vi]) / raw_bytes[vi]
                              if raw_bytes.get(vi) else 1.0 for vi in range(len(problem.values)))
    m = len(problem.units)
    cuts = [j for j in range(1, m) if crossing(problem, j)]
    errors: dict[str, tuple[float, ...]] = {}
    # A lossless stage after a lossy one changes no value: uint8+zstd errs as uint8 does.
    stages = {c: c.split("+")[0] for c in lossy}
    bar = Progress(len(cuts) * len(set(stages.values())), enabled=progress)
    for codec in dict.fromkeys(stages.values()):
        per_cut = [0.0] * (m + 1)
        for j in cuts:
            perturb = {value_key(problem, vi) for vi in crossing(problem, j)}

            def tap(block: str, tensor: str, value: np.ndarray, perturb: set[Key] = perturb,
                    codec: str = codec) -> np.ndarray | None:
                return round_trip(value, codec) if (block, tensor) in perturb else None

            bar.step(f"output error of {codec} at the cut before {problem.units[j].name}")
            got, _ = stream.run(wanted, tap, frames)
            per_cut[j] = _error(reference, got)
        errors.update({c: tuple(per_cut) for c, stage in stages.items() if stage == codec})
    bar.close()
    return CodecFacts(ratios, errors, frames, len(reference))


def _error(reference: Sequence[Mapping[str, np.ndarray]], got: Sequence[Mapping[str, np.ndarray]]) -> float:
    """Largest ``max |y - y_ref| / max |y_ref|`` over the results and their outputs."""
    worst = 0.0
    for want, have in zip(reference, got):
        for name, y in want.items():
            scale = float(np.max(np.abs(y))) or 1.0
            worst = max(worst, float(np.max(np.abs(have[name].astype(np.float64) - y))) / scale)
    return worst


__all__ = ["CodecFacts", "codec_facts", "round_trip", "value_key"]
