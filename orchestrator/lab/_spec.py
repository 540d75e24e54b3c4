"""What a lab is made of: how many devices, their CPU and memory, the Wi-Fi link, the medium."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from worker.errors import UserError

MEDIA = ("shared", "switched")
_UNITS = {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bit": 1.0}
_SIZES = {"kb": 2**10, "mb": 2**20, "gb": 2**30, "b": 1}


@dataclass(frozen=True)
class LinkSpec:
    """One device's Wi-Fi link: rate (bit/s), one-way delay and jitter (ms), packet loss (fraction)."""

    rate_bps: float = 62e6
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0

    def __str__(self) -> str:
        return (f"{self.rate_bps / 1e6:g}mbit,{self.delay_ms:g}ms,{self.jitter_ms:g}ms,"
                f"{self.loss * 100:g}%")


@dataclass(frozen=True)
class LabSpec:
    """A lab: ``devices`` agents (the first ``cameras`` with a synthetic camera), each limited to
    ``cpu`` cores and ``memory_bytes``, on ``link`` links joined by a ``medium``."""

    devices: int
    cameras: int = 1
    cpu: float = 0.25
    memory_bytes: int = 2**30
    link: LinkSpec = LinkSpec()
    medium: str = "shared"
    threads: int = 1          # LiteRT threads per interpreter on a device
    seed: int = 0             # the synthetic cameras' seeds: seed, seed + 1, ...

    def __post_init__(self) -> None:
        if not 1 <= self.devices <= 200:
            raise UserError(f"--devices {self.devices}: expected 1..200")
        if not 0 <= self.cameras <= self.devices:
            raise UserError(f"--cameras {self.cameras}: expected 0..{self.devices} (the number of devices)")
        if not 0.01 <= self.cpu <= 64:
            raise UserError(f"--cpu {self.cpu:g}: expected a number of cores, 0.01..64")
        if self.memory_bytes < 64 * 2**20:
            raise UserError(f"--memory {self.memory_bytes} bytes: expected at least 64MB")
        if self.medium not in MEDIA:
            raise UserError(f"--medium {self.medium!r}: expected {' or '.join(MEDIA)}")


def parse_link(text: str) -> LinkSpec:
    """``RATE[,DELAY[,JITTER[,LOSS]]]``, e.g. ``62mbit,4ms,1ms,0.1%``; UserError naming ``--link``."""
    parts = [p.strip() for p in text.split(",")]
    if not 1 <= len(parts) <= 4 or not parts[0]:
        raise UserError(f"--link {text!r}: expected RATE[,DELAY[,JITTER[,LOSS]]], e.g. 62mbit,4ms,1ms,0.1%")
    rate = _quantity(parts[0], _UNITS, "--link rate", "a rate like 62mbit")
    if rate < 1e5:
        raise UserError(f"--link rate {parts[0]!r}: expected at least 100kbit")
    delay = _ms(parts[1], "--link delay") if len(parts) > 1 else 0.0
    jitter = _ms(parts[2], "--link jitter") if len(parts) > 2 else 0.0
    loss = parse_loss(parts[3]) if len(parts) > 3 else 0.0
    if jitter > delay:
        raise UserError(f"--link jitter {jitter:g}ms: expected at most the delay ({delay:g}ms)")
    return LinkSpec(rate, delay, jitter, loss)


def parse_loss(text: str) -> float:
    """``0.1%`` or ``0.001`` as a fraction in [0, 1]; UserError otherwise."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UserError(f"loss {text!r}: expected a percentage like 0.1% or a fraction like 0.001") from None
    if not 0 <= value <= 1:
        raise UserError(f"loss {text!r}: expected 0..100%")
    return value


def parse_memory(text: str) -> int:
    """``1GB``, ``512MB`` as bytes; UserError naming ``--memory``."""
    return int(_quantity(text, _SIZES, "--memory", "a size like 1GB or 512MB"))


def _ms(text: str, what: str) -> float:
    value = _quantity(text, {"ms": 1.0, "s": 1000.0}, what, "a time like 4ms")
    if value > 10_000:
        raise UserError(f"{what} {text!r}: expected at most 10s")
    return value


def _quantity(text: str, units: Mapping[str, float], what: str, expected: str) -> float:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in units:
        raise UserError(f"{what} {text!r}: expected {expected}")
    return float(match.group(1)) * units[unit]


__all__ = ["MEDIA", "LabSpec", "LinkSpec", "parse_link", "parse_loss", "parse_memory"]
