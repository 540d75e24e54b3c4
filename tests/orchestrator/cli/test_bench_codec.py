"""``mchair bench codec``: bytes and speed of every codec against raw, measured in the same run."""

from __future__ import annotations

from collections.abc import Callable

from worker.codecs import CODECS

from .conftest import Run


def test_bench_codec_prints_every_codec_against_raw(mchair: Run) -> None:
    result = mchair("bench", "codec", "--sizes", "16KB", "--seconds", "0.02")
    assert result.returncode == 0, result.stderr
    for codec in CODECS:
        assert f" {codec} " in result.stdout, codec
    assert "alexnet-tiny" in result.stdout, "a real model's activations are measured too"


def test_bench_codec_sizes_are_checked(mchair: Run, user_error: Callable[..., str]) -> None:
    user_error(mchair("bench", "codec", "--sizes", "lots"), "lots")
