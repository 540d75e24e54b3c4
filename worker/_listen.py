"""Listening on a TCP port, with a busy or bad address as one line that names the port and who holds it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from worker.errors import UserError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def async_listen(what: str, handler: Handler, host: str, port: int, **kwargs: Any) -> asyncio.Server:
    """``asyncio.start_server``; UserError ``WHAT: cannot listen on HOST:PORT: WHY (held by ...)`` if it fails."""
    try:
        return await asyncio.start_server(handler, host, port, **kwargs)
    except OSError as exc:
        holder = port_holder(port) if port else None
        held = f" (held by {holder})" if holder else ""
        # asyncio's message repeats the address; the errno's own words are enough next to ours.
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise UserError(f"{what}: cannot listen on {host}:{port}: {why}{held}") from None


def port_holder(port: int) -> str | None:
    """The process listening on TCP ``port`` (``pid 42: mchair agent --name pi1``); None if unknown."""
    import psutil  # only when a port is busy: it is not needed to serve

    try:
        listening = [c for c in psutil.net_connections(kind="tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid]
        if not listening:
            return None
        pid = listening[0].pid
        cmdline = psutil.Process(pid).cmdline()
    except (psutil.Error, OSError):
        return None
    # Interpreter and script by their base names: "python mchair agent --name pi1", not two long paths.
    words = [Path(w).name if i < 2 else w for i, w in enumerate(cmdline[:6])]
    return f"pid {pid}: {' '.join(words)}" if words else f"pid {pid}"
