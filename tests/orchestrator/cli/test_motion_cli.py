"""``mchair motion``: the Motion event by hand, reaching a listening master, or one clear line."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Callable
from pathlib import Path

import yaml

from orchestrator.cli.motion import async_send_motion
from worker.cluster import load_cluster
from worker.wire import Connection, Motion

from .conftest import Run


def write_cluster(directory: Path, port: int) -> Path:
    (directory / "cluster.secret").write_bytes(base64.b64encode(os.urandom(32)))
    path = directory / "cluster.yaml"
    path.write_text(yaml.safe_dump({"secret_file": "cluster.secret", "master": {"host": "127.0.0.1", "port": port}}))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_motion_reaches_the_master_signed(tmp_path: Path) -> None:
    async def scenario() -> list[Motion]:
        got: list[Motion] = []
        config = load_cluster(write_cluster(tmp_path, 0))

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async for message in await Connection.async_accept(reader, writer, secret=config.secret()):
                got.append(message)  # type: ignore[arg-type]

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = load_cluster(write_cluster(tmp_path, port))
        await async_send_motion(config, "door", True)
        await async_send_motion(config, "door", False)
        for _ in range(100):
            if len(got) == 2:
                break
            await asyncio.sleep(0.02)
        server.close()
        return got

    got = asyncio.run(scenario())
    assert [(m.camera, m.moving) for m in got] == [("door", True), ("door", False)]


def test_motion_without_a_master_is_one_line(mchair: Run, user_error: Callable[..., str], tmp_path: Path) -> None:
    port = closed_port()
    write_cluster(tmp_path, port)
    user_error(mchair("motion", "door", "--cluster", "cluster.yaml"), f"127.0.0.1:{port}", "cannot connect")


def test_motion_with_a_bad_cluster_file_is_one_line(mchair: Run, user_error: Callable[..., str],
                                                    tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("master: {port: -1}\n")
    user_error(mchair("motion", "door", "--cluster", "bad.yaml"), "bad.yaml", "master.port")
