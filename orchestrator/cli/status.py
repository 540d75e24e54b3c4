"""``mchair status [--watch [S]] [--json]``: the running master's view of every device and stream."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from worker.cluster import ClusterConfig, load_cluster
from worker.errors import UserError
from worker.wire import Status, StatusRequest, WireError

from ._master_link import TIMEOUT_S, async_connect_master, master_where
from ._table import format_table

if TYPE_CHECKING:  # rich is imported only where a terminal shows it
    from rich.console import RenderableType

DEVICE_HEADERS = ("device", "alive", "stream", "seats", "epoch", "queue", "IPS", "stage ms (plan)", "slowdown",
                  "drops", "RSS MB", "heard s ago")
STREAM_HEADERS = ("stream", "motion", "epoch", "devices", "results", "IPS", "t_forward p50 / p95 ms", "lost",
                  "duplicates", "refused", "error (budget)", "layout")
LINK_HEADERS = ("device", "to", "codec", "KB/s sent", "KB/s raw", "sent / raw")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``status``."""
    p.description = ("Asks the master of cluster.yaml (over the cluster's signed protocol) for its "
                     "view: per device its seats, queue fill, IPS, stage time against the plan, "
                     "slowdown, drops, memory, epoch and last heartbeat; per stream its devices, "
                     "IPS and t_forward. A table (coloured in a terminal), or JSON.")
    p.add_argument("--cluster", type=Path, default=Path("cluster.yaml"), metavar="cluster.yaml",
                   help="where the master listens, and the secret (default cluster.yaml)")
    p.add_argument("--watch", nargs="?", type=float, const=1.0, metavar="S",
                   help="refresh every S seconds (default 1) until Ctrl-C")
    p.add_argument("--json", action="store_true", help="print the status as JSON (one object per refresh)")
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    if args.watch is not None and args.watch <= 0:
        raise UserError(f"--watch {args.watch:g}: expected a positive number of seconds")
    cluster = load_cluster(args.cluster)
    try:
        asyncio.run(_async_show(cluster, args.watch, args.json))
    except KeyboardInterrupt:
        pass
    return 0


async def _async_show(cluster: ClusterConfig, every: float | None, as_json: bool) -> None:
    terminal = sys.stdout.isatty() and not as_json
    if terminal and every is not None:
        from rich.live import Live  # rich only where a terminal shows it
        with Live(auto_refresh=False) as live:
            while True:
                live.update(rich_view(await async_fetch_status(cluster)), refresh=True)
                await asyncio.sleep(every)
    while True:
        status = await async_fetch_status(cluster)
        if as_json:
            print(json.dumps(dataclasses.asdict(status)), flush=True)
        elif terminal:
            from rich.console import Console
            Console().print(rich_view(status))
        else:
            print(plain_view(status) + "\n", flush=True)
        if every is None:
            return
        await asyncio.sleep(every)


async def async_fetch_status(cluster: ClusterConfig) -> Status:
    """Ask the cluster's master for its Status; UserError when it cannot be reached or does not answer."""
    where = master_where(cluster)
    conn = await async_connect_master(cluster)
    try:
        await conn.async_send(StatusRequest(time_ns=time.time_ns()))
        answer = await asyncio.wait_for(conn.async_receive(), TIMEOUT_S)
    except (TimeoutError, EOFError, WireError, OSError) as exc:
        raise UserError(f"{where}: no status ({type(exc).__name__}; is it an mchair master with this "
                        f"cluster's secret?)") from None
    finally:
        await conn.async_close()
    if not isinstance(answer, Status):
        raise UserError(f"{where}: answered {type(answer).__name__}, expected Status")
    return answer


def _rows(status: Status) -> tuple[list[Sequence[object]], list[Sequence[object]]]:
    """The device and stream rows both views show."""
    devices: list[Sequence[object]]
    streams: list[Sequence[object]]
    devices = [(d.device, "yes" if d.alive else "NO", d.stream or "-", ", ".join(d.seats) or "-", d.epoch,
                f"{d.queue_fill:.0%}", round(d.ips, 1),
                ", ".join(f"{t.stage} {t.ms:.1f}" + (f" ({t.expected_ms:.1f})" if t.expected_ms else "")
                          for t in d.stage_ms) or "-",
                f"x{d.slowdown:.2f}" if d.slowdown != 1.0 else "-", d.drops, round(d.rss_mb),
                round(d.last_heartbeat_s, 1) if d.last_heartbeat_s >= 0 else "never")
               for d in status.devices]
    streams = [(s.camera, "yes" if s.active else "no", s.epoch or "-", len(s.devices), s.results, round(s.ips, 1),
                f"{s.t_forward_p50_ms:.0f} / {s.t_forward_p95_ms:.0f}", s.lost, s.duplicates, s.refused,
                (f"{s.output_error:.2g}" if s.output_error >= 0 else "-") + f" ({s.error_budget:g})", s.layout or "-")
               for s in status.streams]
    return devices, streams


def link_row(device: str, peer: str, codec: str, sent_per_s: float, raw_per_s: float) -> Sequence[object]:
    """One row of ``LINK_HEADERS``: a link's codec, KB/s as sent and as the decoded tensors, their ratio."""
    return (device, peer, codec, round(sent_per_s / 1e3, 1), round(raw_per_s / 1e3, 1),
            round(sent_per_s / raw_per_s, 3) if raw_per_s else "-")


def link_rows(status: Status) -> list[Sequence[object]]:
    """One row per device and peer it sent tensors to over the last heartbeat period."""
    return [link_row(d.device, link.peer, link.codec, link.bytes_per_s, link.raw_bytes_per_s)
            for d in status.devices for link in d.links]


def _title(status: Status) -> str:
    alive = sum(d.alive for d in status.devices)
    return (f"{status.model} (profile {status.profile}), epoch {status.epoch}, {alive} of {len(status.devices)} "
            f"devices alive, {status.reassignments} reassignments")


def plain_view(status: Status) -> str:
    """The status as plain-text tables (piped output, logs)."""
    devices, streams = _rows(status)
    links = link_rows(status)
    return "\n\n".join((_title(status), format_table(DEVICE_HEADERS, devices),
                        format_table(STREAM_HEADERS, streams) if streams else "no stream yet",
                        format_table(LINK_HEADERS, links) if links else "no tensors on the network"))


def rich_view(status: Status) -> RenderableType:
    """The status as rich tables (a terminal): lost devices and slowed ones stand out."""
    from rich.console import Group
    from rich.table import Table

    devices, streams = _rows(status)
    table = Table(title=_title(status), title_justify="left")
    for header in DEVICE_HEADERS:
        table.add_column(header, overflow="fold")
    for d, row in zip(status.devices, devices):
        table.add_row(*map(str, row), style="red" if not d.alive else "yellow" if d.slowdown != 1.0 else None)
    view = Table(title="streams", title_justify="left")
    for header in STREAM_HEADERS:
        view.add_column(header, overflow="fold")
    for s, row in zip(status.streams, streams):
        view.add_row(*map(str, row), style="green" if s.active else "dim")
    links = Table(title="links", title_justify="left")
    for header in LINK_HEADERS:
        links.add_column(header)
    for row in link_rows(status):
        links.add_row(*map(str, row))
    return Group(table, view, links)
