"""The ``codecs:`` section of cluster.yaml: which tensor codecs the planner may put on a link.

Every key, with its default::

    codecs:
      choose: [raw]            # codecs the planner may pick per link (worker/codecs: raw, fp16, uint8,
                               # uint8-channel, each optionally +zstd); raw is always allowed
      error_budget: 0.0        # max relative error at the model output (max |y - y_ref| / max |y_ref|);
                               # 0: lossless codecs only
      frames: 3                # results the output error of a lossy codec is measured on, per cut

The planner measures, for every cut and lossy codec, the model's output error with the values
crossing that cut encoded (the numpy executor on synthetic camera frames), and picks per link
the codec with the least transfer plus encode/decode time whose error keeps the plan's summed
errors inside the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from worker._yaml import Validator
from worker.wire import parse_codec


@dataclass(frozen=True)
class CodecSettings:
    """Which codecs the planner may choose per link, and the output error it may spend on them."""

    choose: tuple[str, ...] = ("raw",)
    error_budget: float = 0.0
    frames: int = 3

    @property
    def lossy(self) -> tuple[str, ...]:
        """The codecs among ``choose`` that change values (their output error must be measured)."""
        return tuple(c for c in self.choose if parse_codec(c).lossy)

    @property
    def candidates(self) -> tuple[str, ...]:
        """The codecs that may be chosen under the budget: raw, the lossless ones, the lossy ones if it is > 0."""
        lossless = [c for c in self.choose if c not in self.lossy]
        chosen = ["raw", *(c for c in lossless if c != "raw")]
        return tuple(chosen + list(self.lossy if self.error_budget > 0 else ()))


def parse_codec_settings(raw: Any, file: str = "cluster.yaml") -> CodecSettings:
    """Validate the ``codecs:`` mapping (None: all defaults); errors name ``codecs.KEY``."""
    v = Validator(file)
    c = v.mapping(raw if raw is not None else {}, "codecs", {f.name for f in fields(CodecSettings)})
    d = CodecSettings()
    choose = c.get("choose", list(d.choose))
    if not isinstance(choose, list) or not choose or not all(isinstance(x, str) for x in choose):
        raise v.fail("codecs.choose", "a non-empty list of codec names", choose)
    for name in choose:
        try:
            parse_codec(name)
        except ValueError as exc:
            raise v.fail("codecs.choose", str(exc), name) from None
    budget = v.number(c.get("error_budget", d.error_budget), "codecs.error_budget")
    if not 0 <= budget < 1:
        raise v.fail("codecs.error_budget", "a relative error in [0, 1)", budget)
    return CodecSettings(tuple(dict.fromkeys(choose)), float(budget),
                         v.integer(c.get("frames", d.frames), "codecs.frames", minimum=1))


__all__ = ["CodecSettings", "parse_codec_settings"]
