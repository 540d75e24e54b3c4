"""The ``codecs:`` section of cluster.yaml: which tensor codecs the planner may put on a link (keys below).

The planner measures, for every cut and lossy codec, the model's output error with the values
crossing that cut encoded (the numpy executor on synthetic camera frames), and picks per link
the codec with the least transfer plus encode/decode time whose error keeps the plan's summed
errors inside the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker._config_keys import Integer, Number, Strings, key, parse_section
from worker.wire import CODECS, parse_codec


@dataclass(frozen=True)
class CodecSettings:
    """Which codecs the planner may choose per link, and the output error it may spend on them."""

    choose: tuple[str, ...] = key(("raw",), Strings("a non-empty list of codec names", min_len=1, check=parse_codec),
                                  f"codecs the planner may pick per link: {', '.join(f'`{c}`' for c in CODECS)} "
                                  "(e.g. `[raw, raw+zstd, fp16, uint8-channel+zstd]`); `raw` is always allowed")
    error_budget: float = key(0.0, Number(0, 1, below=True),
                              "the largest relative error at the model output (`max |y - y_ref| / max |y_ref|`) "
                              "the plan's codecs may cost; 0: lossless codecs only")
    frames: int = key(3, Integer(1, 1000), "results of synthetic camera frames the codecs' output error is "
                      "measured on")

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
    return parse_section(CodecSettings, {} if raw is None else raw, "codecs", file)


__all__ = ["CodecSettings", "parse_codec_settings"]
