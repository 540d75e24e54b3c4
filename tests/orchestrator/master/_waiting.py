"""Waiting in tests of live clusters: poll a condition, fail naming what never happened."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

TIMEOUT_S = 60.0


async def until(what: str, condition: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
    """Wait for ``condition``; fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
