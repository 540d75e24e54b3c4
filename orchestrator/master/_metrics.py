"""Prometheus metrics of the master: the same figures as ``mchair status``, served over HTTP.

The text is made by prometheus-client from a collector that reads the master's Status at scrape
time (nothing to keep in step); the HTTP side is a few lines of asyncio so the master stays one
event loop with no server thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from worker._listen import async_listen
from worker.wire import Status

log = logging.getLogger("mchair.master")
MAX_REQUEST = 8192


class StatusCollector(Collector):
    """Metric families of one Status, read when Prometheus scrapes."""

    def __init__(self, snapshot: Callable[[], Status]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """Every figure of the status as a metric family."""
        s = self._snapshot()
        device = ["device"]
        up = GaugeMetricFamily("mchair_device_up", "1 while the device is alive", labels=device)
        fill = GaugeMetricFamily("mchair_device_queue_fill", "Fullest input buffer of the device (0..1)", labels=device)
        ips = GaugeMetricFamily("mchair_device_ips", "Tags per second of the device's busiest stage", labels=device)
        slow = GaugeMetricFamily("mchair_device_slowdown", "Contention scale the game uses (1: normal)", labels=device)
        rss = GaugeMetricFamily("mchair_device_rss_bytes", "Resident memory of the agent", labels=device)
        epoch = GaugeMetricFamily("mchair_device_epoch", "Epoch of the device's last heartbeat", labels=device)
        silent = GaugeMetricFamily("mchair_device_last_heartbeat_seconds", "Seconds since the device's last message",
                                   labels=device)
        drops = CounterMetricFamily("mchair_device_dropped_frames", "Frames the device dropped", labels=device)
        stage = GaugeMetricFamily("mchair_stage_seconds", "Compute time per run of a stage on a device",
                                  labels=["device", "stage", "kind"])
        for d in s.devices:
            up.add_metric([d.device], 1.0 if d.alive else 0.0)
            fill.add_metric([d.device], d.queue_fill)
            ips.add_metric([d.device], d.ips)
            slow.add_metric([d.device], d.slowdown)
            rss.add_metric([d.device], d.rss_mb * 2**20)
            epoch.add_metric([d.device], d.epoch)
            if d.last_heartbeat_s >= 0:
                silent.add_metric([d.device], d.last_heartbeat_s)
            drops.add_metric([d.device], d.drops)
            for t in d.stage_ms:
                stage.add_metric([d.device, t.stage, "measured"], t.ms / 1000)
                if t.expected_ms > 0:
                    stage.add_metric([d.device, t.stage, "expected"], t.expected_ms / 1000)
        yield from (up, fill, ips, slow, rss, epoch, silent, drops, stage)
        stream = ["stream"]
        active = GaugeMetricFamily("mchair_stream_active", "1 while the stream's camera sees motion", labels=stream)
        sips = GaugeMetricFamily("mchair_stream_ips", "Results per second over the last 5 s", labels=stream)
        devices = GaugeMetricFamily("mchair_stream_devices", "Devices seated for the stream", labels=stream)
        latency = GaugeMetricFamily("mchair_stream_t_forward_seconds", "Capture-to-result time of the current epoch",
                                    labels=["stream", "quantile"])
        results = CounterMetricFamily("mchair_stream_results", "Results delivered", labels=stream)
        lost = CounterMetricFamily("mchair_stream_lost_results", "Results lost (in flight at a reassignment, "
                                   "or dropped)", labels=stream)
        duplicates = CounterMetricFamily("mchair_stream_duplicate_results", "Results that came twice", labels=stream)
        refused = CounterMetricFamily("mchair_stream_refused_results", "Results the master refused (no live epoch, "
                                      "tag out of the window, wrong shape)", labels=stream)
        for st in s.streams:
            active.add_metric([st.camera], 1.0 if st.active else 0.0)
            sips.add_metric([st.camera], st.ips)
            devices.add_metric([st.camera], len(st.devices))
            latency.add_metric([st.camera, "0.5"], st.t_forward_p50_ms / 1000)
            latency.add_metric([st.camera, "0.95"], st.t_forward_p95_ms / 1000)
            results.add_metric([st.camera], st.results)
            lost.add_metric([st.camera], st.lost)
            duplicates.add_metric([st.camera], st.duplicates)
            refused.add_metric([st.camera], st.refused)
        yield from (active, sips, devices, latency, results, lost, duplicates, refused)
        yield CounterMetricFamily("mchair_reassignments", "New epochs of any stream", value=s.reassignments)
        yield GaugeMetricFamily("mchair_epoch", "The newest epoch", value=s.epoch)


class MetricsServer:
    """``GET /metrics`` (or ``/``) on ``host:port`` answers the Prometheus text of ``snapshot()``."""

    def __init__(self, host: str, port: int, snapshot: Callable[[], Status]) -> None:
        self.host, self.port = host, port
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StatusCollector(snapshot))
        self._server: asyncio.base_events.Server | None = None

    async def async_start(self) -> int:
        """Listen; the port (the real one when 0 was asked)."""
        self._server = await async_listen("metrics", self._async_serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return self.port

    async def async_stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _async_serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            method, path, *_ = head[:MAX_REQUEST].decode("latin-1").split(" ", 2) + ["", ""]
            if method != "GET" or path.split("?")[0] not in ("/", "/metrics"):
                body, status, kind = b"not found: GET /metrics\n", "404 Not Found", "text/plain"
            else:
                body, status, kind = generate_latest(self.registry), "200 OK", CONTENT_TYPE_LATEST
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass   # a scanner or a half request: nothing to answer
        finally:
            writer.close()


__all__ = ["MetricsServer", "StatusCollector"]
