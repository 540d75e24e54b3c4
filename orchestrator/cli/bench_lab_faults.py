"""``mchair bench lab-faults``: what faults cost a stream in the lab. A stage device's link cut
silently (no RST: lost by the heartbeat timeout) -> time to the next result, frames lost,
duplicates; a loss burst on every link -> IPS before, during and after, and how long after the
burst the stream is back to its rate; the contention detector in a steady run, then with a device
slowed."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..lab import MEDIA, Lab, LabSpec, parse_link, parse_loss, with_master
from ..master import Device, Inference, Master, Stream
from ..profile import find_profile
from ..toolchain.zoo import build_model, find_spec
from ._table import format_table

CAMERA = "pi0"
BACK_WITHIN_S = 5.0          # the burst's target: back to the rate within this long after it ends
RATE_WINDOW_S = 1.0
AFTER_S = 20.0               # watched after the burst
SLOWED_S = 60.0              # watched after a device is slowed


def add_benchmarks(bsub: argparse._SubParsersAction) -> None:
    """Register ``bench lab-faults``."""
    p = bsub.add_parser("lab-faults", help="a stage device's link cut, then a loss burst, in the lab (root)")
    p.add_argument("--devices", type=int, default=4, metavar="N", help="lab devices (default 4)")
    p.add_argument("--model", default="action-recognition-tiny", help="(default action-recognition-tiny)")
    p.add_argument("--profile", default="rpi3", metavar="P", help="profile the master plans with (default rpi3)")
    p.add_argument("--cpu", type=float, default=0.25, metavar="CORES", help="CPU per device (default 0.25)")
    p.add_argument("--link", default="62mbit", metavar="RATE[,...]", help="every link (default 62mbit)")
    p.add_argument("--medium", choices=MEDIA, default="shared", help="(default shared)")
    p.add_argument("--loss", default="30%", metavar="P", help="loss of the burst on every link (default 30%%)")
    p.add_argument("--burst", type=float, default=10.0, metavar="S", help="length of the burst (default 10)")
    p.add_argument("--steady", type=float, default=120.0, metavar="S",
                   help="a steady run this long for the contention detector, then a device slowed (default 120; 0: "
                        "skip)")
    p.add_argument("--slow", type=float, default=3.0, metavar="FACTOR", help="how much slower (default 3)")
    p.add_argument("--name", default="mclab", help="the lab's name (default mclab)")
    p.add_argument("--dir", type=Path, default=Path("build/lab"), metavar="DIR", help="(default build/lab)")
    p.set_defaults(run=_faults)


@dataclass(frozen=True)
class Cut:
    """A stage device's link cut while the stream ran."""

    device: str
    to_next_result_s: float     # from the cut to the first result of the epoch without it
    lost: int                   # frames recorded that never gave a result
    duplicates: int


@dataclass(frozen=True)
class Burst:
    """A loss burst on every link: results per second around it."""

    ips_before: float
    ips_during: float
    ips_after: float
    back_after_s: float         # from the burst's end to the first 1 s window at 90 % of the rate before
    duplicates: int
    reseats: list[str]          # why the stream was re-seated during and after the burst


@dataclass(frozen=True)
class Contention:
    """Re-plans for contention in a steady run, then after a device is slowed."""

    steady_replans: list[str]
    slowed: str
    slowed_replans: list[str]


def _faults(args: argparse.Namespace) -> int:
    loss = parse_loss(args.loss)
    spec = LabSpec(args.devices, 1, args.cpu, link=parse_link(args.link), medium=args.medium)
    build_model(find_spec(args.model))
    lab = Lab(args.name, args.dir)
    lab.up(spec, "WARNING")
    timeout_s = lab.cluster().game.heartbeat_timeout_s
    try:
        print(f"{args.devices} lab devices ({args.cpu:g} cores, {spec.link} {args.medium}); {args.model} ...",
              file=sys.stderr, flush=True)
        cut = with_master(lab, args.model, find_profile(args.profile), lambda m, d: _cut(lab, m, d))
        lab.fault(cut.device, "link-up")
        lab.respawn("WARNING")
        burst = with_master(lab, args.model, find_profile(args.profile),
                            lambda m, d: _burst(lab, m, d, loss, args.burst))
        contention = None
        if args.steady > 0:
            lab.respawn("WARNING")
            contention = with_master(lab, args.model, find_profile(args.profile),
                                     lambda m, d: _contention(lab, m, d, args.steady, args.slow))
    finally:
        lab.down()
    print(f"link of stage device {cut.device} cut silently (heartbeat timeout {timeout_s:g} s)\n")
    print(format_table(("figure", "value", "target"), [
        ("cut -> next result s", round(cut.to_next_result_s, 2), f"<= {timeout_s + 1:g} (timeout + 1 s)"),
        ("frames lost", cut.lost, "counted"), ("duplicates", cut.duplicates, "0")]))
    back = "never" if burst.back_after_s < 0 else round(burst.back_after_s, 2)
    print(f"\n{loss * 100:g}% loss on every link for {args.burst:g} s\n")
    print(format_table(("figure", "value", "target"), [
        ("IPS before", round(burst.ips_before, 2), ""), ("IPS during", round(burst.ips_during, 2), ""),
        ("IPS after", round(burst.ips_after, 2), ""),
        ("back to 90% of the rate after s", back, f"<= {BACK_WITHIN_S:g}"), ("duplicates", burst.duplicates, "0")]))
    print(f"\nre-seated {len(burst.reseats)} times during and after the burst"
          + "".join(f"\n  {reason}" for reason in burst.reseats))
    met = cut.to_next_result_s <= timeout_s + 1 and 0 <= burst.back_after_s <= BACK_WITHIN_S and \
        cut.duplicates == burst.duplicates == 0
    if contention is not None:
        print(f"\ncontention detector: {len(contention.steady_replans)} re-plans in a steady run of {args.steady:g} s "
              f"(target 0); {len(contention.slowed_replans)} in {SLOWED_S:g} s after {contention.slowed} was slowed "
              f"{args.slow:g}x (target 1, if the gain pays the reload)"
              + "".join(f"\n  {r}" for r in contention.steady_replans + contention.slowed_replans))
        met = met and not contention.steady_replans and len(contention.slowed_replans) <= 1
    print(f"\ntargets {'met' if met else 'NOT met'}")
    return 0


async def _steady(master: Master, devices: Sequence[Device], results: int = 30) -> Stream:
    await master.async_assign(devices, CAMERA)
    stream = master.streams[CAMERA]
    while stream.current is None or len(stream.current.results.inferences) < results:
        await asyncio.sleep(0.05)
    return stream


async def _cut(lab: Lab, master: Master, devices: list[Device]) -> Cut:
    stream = await _steady(master, devices)
    before = stream.current
    assert before is not None
    table = before.table
    victim = next(s.device for s in table.seats if s.stage == table.sink.index and s.device != CAMERA)
    cut_at = time.monotonic()
    await asyncio.to_thread(lab.fault, victim, "link-down")
    while not (stream.current is not before and stream.current is not None and stream.current.results.inferences):
        await asyncio.sleep(0.02)
    first = stream.current.results.inferences[0].received_s
    await asyncio.sleep(2.0)
    return Cut(victim, first - cut_at, stream.lost(), stream.duplicates())


async def _burst(lab: Lab, master: Master, devices: list[Device], loss: float, seconds: float) -> Burst:
    stream = await _steady(master, devices)
    await asyncio.sleep(5.0)
    first_run = len(stream.runs)
    start = time.monotonic()
    names = [d.name for d in devices]
    for name in names:
        await asyncio.to_thread(lab.fault, name, "loss", str(loss))
    await asyncio.sleep(seconds)
    end = time.monotonic()
    for name in names:
        await asyncio.to_thread(lab.fault, name, "loss", "0")
    await asyncio.sleep(AFTER_S)
    done = stream.inferences()
    rate = _ips(done, start - 5.0, start)
    back = -1.0
    t = end
    while t + RATE_WINDOW_S <= end + AFTER_S:
        if _ips(done, t, t + RATE_WINDOW_S) >= 0.9 * rate:
            back = t - end
            break
        t += 0.1
    reseats = [r.reassignment.reason for r in stream.runs[first_run:]]
    return Burst(rate, _ips(done, start, end), _ips(done, end, end + AFTER_S), back, stream.duplicates(), reseats)


async def _contention(lab: Lab, master: Master, devices: list[Device], steady_s: float,
                      factor: float) -> Contention:
    stream = await _steady(master, devices)
    first = len(stream.runs)
    await asyncio.sleep(steady_s)
    steady = [r.reassignment.reason for r in stream.runs[first:]]
    current = stream.current
    assert current is not None
    victim = next(s.device for s in current.table.seats if s.device != CAMERA)
    first = len(stream.runs)
    await asyncio.to_thread(lab.fault, victim, "slow", str(factor))
    await asyncio.sleep(SLOWED_S)
    return Contention(steady, victim, [r.reassignment.reason for r in stream.runs[first:]])


def _ips(done: Sequence[Inference], since: float, until: float) -> float:
    return sum(since <= i.received_s < until for i in done) / (until - since)
