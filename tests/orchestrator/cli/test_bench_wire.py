"""`mchair bench wire` and `mchair bench hop` with tiny sizes, as a user runs them."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

Run = Callable[..., subprocess.CompletedProcess[str]]


def _rows(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines() if line[:1].isdigit()]


def test_bench_wire_prints_speeds_ratios_and_the_verdict(mchair: Run) -> None:
    result = mchair("bench", "wire", "--sizes", "1KB", "4MB", "--seconds", "0.04")
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)   # the wire table, then the sealing table (raw, mac, aead)
    assert [r[:2] for r in rows] == [["1.0", "KB"], ["4.0", "MB"]] * 2
    assert all(float(v.replace(",", "")) > 0 for r in rows for v in r[2:])
    assert [len(r) for r in rows[2:]] == [2 + 7] * 2
    assert "memcpy" in result.stdout and "ratio" in result.stdout
    assert "target: encode+decode at least 0.5 x memcpy at 4.0 MB:" in result.stdout
    assert "target: aead at least 0.25 x memcpy at 4.0 MB:" in result.stdout
    assert "[2/2] wire 4.0 MB" in result.stderr and "[2/2] seal 4.0 MB" in result.stderr


def test_bench_wire_without_the_target_size_says_so(mchair: Run) -> None:
    result = mchair("bench", "wire", "--sizes", "16k", "--seconds", "0.02")
    assert result.returncode == 0, result.stderr
    assert "not measured" in result.stdout and len(_rows(result.stdout)) == 2


def test_bench_hop_compares_avro_with_raw_bytes(mchair: Run) -> None:
    result = mchair("bench", "hop", "--sizes", "1KB", "300KB", "--count", "5")
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert [r[:2] for r in rows] == [["1.0", "KB"], ["300.0", "KB"]]
    assert all(len(r) == 2 + 7 and float(r[-1]) > 0 for r in rows)
    assert "p50 ratio" in result.stdout and "echo server" in result.stderr


def test_bench_sizes_are_checked(mchair: Run, user_error: Callable[..., str]) -> None:
    user_error(mchair("bench", "wire", "--sizes", "lots"), "--sizes lots")
    user_error(mchair("bench", "hop", "--count", "0"), "--count 0")
