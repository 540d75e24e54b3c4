"""``--codecs`` and ``--error-budget``: the commands that plan let the command line override cluster.yaml."""

from __future__ import annotations

import argparse
from dataclasses import replace

from worker.cluster import CodecSettings, parse_codec_settings
from worker.wire import CODECS


def add_codec_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--codecs`` and ``--error-budget`` to a command that plans."""
    p.add_argument("--codecs", metavar="C1,C2", help=f"codecs the planner may use per link ({', '.join(CODECS)}; "
                   "default: cluster.yaml's codecs.choose, else raw)")
    p.add_argument("--error-budget", type=float, metavar="E", help="max relative error at the model output the "
                   "codecs may cost (default: cluster.yaml's codecs.error_budget, else 0: lossless only)")


def codec_settings(args: argparse.Namespace, base: CodecSettings | None = None) -> CodecSettings:
    """``base`` (cluster.yaml's) with the command line's ``--codecs`` and ``--error-budget`` over it."""
    settings = base or CodecSettings()
    raw = {"choose": args.codecs.split(",") if args.codecs else list(settings.choose),
           "error_budget": settings.error_budget if args.error_budget is None else args.error_budget,
           "frames": settings.frames}
    parsed = parse_codec_settings(raw, "command line")
    return replace(settings, choose=parsed.choose, error_budget=parsed.error_budget)


def codec_section(settings: CodecSettings) -> dict[str, object]:
    """``settings`` as the ``codecs:`` section of a cluster.yaml this command writes."""
    return {"choose": list(settings.choose), "error_budget": settings.error_budget, "frames": settings.frames}


__all__ = ["add_codec_arguments", "codec_section", "codec_settings"]
