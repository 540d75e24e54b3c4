"""Delay and jitter without netem: a relay of our own carries a device's link. The device's
``eth0`` and its bridge port are TAP devices this process holds; every frame waits its delay (plus
a uniform jitter, never reordered, as on one radio) in a queue before it is written to the other side.

``python -m orchestrator.lab._relay BRIDGE_NS PORT NETNS DELAY_MS JITTER_MS`` prints ``ready`` once
both TAPs exist; SIGHUP re-reads ``DELAY_MS JITTER_MS`` from the file named by ``--control``.
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import os
import random
import signal
import struct
import sys
import threading
import time
from pathlib import Path

from . import _net as net

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
MAX_FRAME = 65_536
MAX_QUEUE = 10_000          # frames in flight per direction; more are dropped, as a full radio queue would


class Delay:
    """The current delay and jitter in seconds (changed by SIGHUP from the control file)."""

    def __init__(self, delay_ms: float, jitter_ms: float) -> None:
        self.delay_s, self.jitter_s = delay_ms / 1000, jitter_ms / 1000

    def sample(self) -> float:
        """One frame's delay: the mean plus a uniform jitter of +-jitter."""
        return max(0.0, self.delay_s + random.uniform(-self.jitter_s, self.jitter_s))


def open_tap(netns: str, name: str) -> int:
    """A TAP device ``name`` in ``netns``, held by the returned fd (it vanishes when the fd closes)."""
    net.enter(netns)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def carry(src: int, dst: int, delay: Delay) -> None:
    """Forward frames from ``src`` to ``dst``, each after its delay, in order (two threads: one
    reads and stamps, one writes when due)."""
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = threading.Condition()

    def reader() -> None:
        last_due = 0.0
        while True:
            frame = os.read(src, MAX_FRAME)
            # Never before the frame ahead of it: a radio does not reorder.
            last_due = max(last_due, time.monotonic() + delay.sample())
            with ready:
                if len(queue) < MAX_QUEUE:
                    queue.append((last_due, frame))
                    ready.notify()

    def writer() -> None:
        while True:
            with ready:
                while not queue:
                    ready.wait()
                due, frame = queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with ready:
                queue.popleft()
            try:
                os.write(dst, frame)
            except OSError:
                pass   # the other side is down (lab fault link-down): the frame is lost

    threading.Thread(target=reader, daemon=True).start()
    threading.Thread(target=writer, daemon=True).start()


def main() -> None:
    """Open both TAPs, say ready, carry frames both ways until killed."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.lab._relay")
    parser.add_argument("bridge_ns")
    parser.add_argument("port")
    parser.add_argument("netns")
    parser.add_argument("delay_ms", type=float)
    parser.add_argument("jitter_ms", type=float)
    parser.add_argument("--control", type=Path, required=True)
    args = parser.parse_args()
    delay = Delay(args.delay_ms, args.jitter_ms)
    device_side = open_tap(args.netns, net.IFNAME)
    bridge_side = open_tap(args.bridge_ns, args.port)

    def reload(*_: object) -> None:
        ms, jitter = (float(x) for x in args.control.read_text().split())
        delay.delay_s, delay.jitter_s = ms / 1000, jitter / 1000

    signal.signal(signal.SIGHUP, reload)
    carry(device_side, bridge_side, delay)
    carry(bridge_side, device_side, delay)
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
