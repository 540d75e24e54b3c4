"""``mchair lab``: an emulated swarm of Pis on this machine (namespaces, shaped links, cgroups):
up, status, fault, down, and run (up + master + a stream + down)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from worker.errors import UserError

from ..lab import FAULTS, MEDIA, Lab, LabSpec, knobs, parse_link, parse_memory, with_master
from ..lab._processes import state_of
from ..master import Device, Master, Report, async_run, verify_runs
from ..profile import find_profile
from ..toolchain.zoo import build_model, find_spec
from ._table import format_table
from .master import format_report, format_streams


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-commands of ``lab`` and their options."""
    parser.description = ("an emulated swarm of Pis on this machine: namespaces, Wi-Fi links, CPU shares, "
                          "faults (root)")
    lsub = parser.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    up = lsub.add_parser("up", help="start N devices, each an agent in its own namespace and cgroup")
    _add_up_arguments(up)
    up.set_defaults(run=_up)
    run = lsub.add_parser("run", help="up + a master + one stream for --seconds + a check + down")
    _add_up_arguments(run)
    run.add_argument("--model", default="action-recognition-tiny", metavar="M",
                     help="built-in model or spec (default action-recognition-tiny)")
    run.add_argument("--profile", default="rpi3", metavar="P", help="profile the master plans with (default rpi3)")
    run.add_argument("--seconds", type=float, default=10.0, metavar="S", help="how long to stream (default 10)")
    run.add_argument("--discovery", choices=("zeroconf", "static"), default="zeroconf",
                     help="how the master finds the devices (default zeroconf, multicast across the bridge)")
    run.set_defaults(run=_run)
    status = lsub.add_parser("status", help="the lab's devices, their processes and links, and how each link "
                                            "knob is emulated")
    _add_name(status)
    status.set_defaults(run=_status)
    down = lsub.add_parser("down", help="remove every namespace, cgroup and process the lab made (also after a "
                                        "crash of the lab)")
    _add_name(down)
    down.set_defaults(run=_down)
    restart = lsub.add_parser("restart", help="start again the agents that are gone (a lab run's master ends them)")
    _add_name(restart)
    restart.add_argument("--log-level", default="INFO", help="the agents' log level (default INFO)")
    restart.set_defaults(run=_restart)
    fault = lsub.add_parser("fault", help="inject a fault on one device while a run goes on")
    _add_name(fault)
    fault.add_argument("device", help="a device of the lab (pi0, pi1, ...)")
    fault.add_argument("action", choices=FAULTS, help="link-down|link-up|loss P|delay MS|stop|cont|kill|slow FACTOR")
    fault.add_argument("value", nargs="?", default="", help="P for loss (0.3 or 30%%), FACTOR for slow")
    fault.set_defaults(run=_fault)


def _add_name(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="mclab", help="the lab (prefix of its namespaces and cgroups; default mclab)")
    p.add_argument("--dir", type=Path, default=Path("build/lab"), metavar="DIR",
                   help="where labs record their state, configs and agent logs (default build/lab)")


def _add_up_arguments(p: argparse.ArgumentParser) -> None:
    _add_name(p)
    p.add_argument("--devices", type=int, required=True, metavar="N", help="devices (agents) to emulate")
    p.add_argument("--cameras", type=int, default=1, metavar="K", help="the first K have a synthetic camera "
                                                                       "(default 1)")
    p.add_argument("--cpu", type=float, default=0.25, metavar="CORES", help="CPU per device (default 0.25)")
    p.add_argument("--memory", default="1GB", metavar="SIZE", help="memory per device (default 1GB)")
    p.add_argument("--link", default="62mbit", metavar="RATE[,DELAY[,JITTER[,LOSS]]]",
                   help="every device's link, e.g. 62mbit,4ms,1ms,0.1%% (default 62mbit)")
    p.add_argument("--medium", choices=MEDIA, default="shared",
                   help="shared: one channel for every link (Wi-Fi); switched: a link each (default shared)")
    p.add_argument("--threads", type=int, default=1, metavar="T", help="LiteRT threads per device (default 1)")
    p.add_argument("--log-level", default="INFO", help="the agents' log level (default INFO)")


def _spec(args: argparse.Namespace) -> LabSpec:
    return LabSpec(args.devices, args.cameras, args.cpu, parse_memory(args.memory), parse_link(args.link),
                   args.medium, args.threads)


def _up(args: argparse.Namespace) -> int:
    lab = Lab(args.name, args.dir)
    state = lab.up(_spec(args), args.log_level.upper())
    print(f"lab {state.name}: {len(state.devices)} devices up; master address {state.master_address}:"
          f"{state.master_port} in namespace {state.master_ns}; configs in {state.work_dir}\n"
          f"  a master there: ip netns exec {state.master_ns} mchair master --cluster "
          f"{state.work_dir}/cluster.yaml --model M --devices {len(state.devices)}\n"
          f"  mchair lab status | mchair lab fault pi0 link-down | mchair lab down")
    return 0


def _status(args: argparse.Namespace) -> int:
    lab = Lab(args.name, args.dir)
    state = lab.state()
    spec = state.spec
    print(f"lab {state.name}: {len(state.devices)} devices, {spec.cpu:g} cores and "
          f"{spec.memory_bytes / 2**20:.0f} MB each, {spec.medium} medium, link {spec.link}; master "
          f"{state.master_address}:{state.master_port} (namespace {state.master_ns})\n")
    rows = [(d.name, d.address, str(d.pid), state_of(d.pid), f"{d.cpu:.3g}", "up" if d.link_up else "DOWN",
             f"{d.loss * 100:g}%", d.camera) for d in state.devices]
    print(format_table(("device", "address", "pid", "agent", "cores", "link", "loss", "camera"), rows))
    print("\nhow each link knob is emulated on this kernel\n")
    print(format_table(("knob", "asked", "emulated by"), knobs(spec.link, spec.medium)))
    rtt = lab.measure_rtt() if state_of(state.devices[0].pid) == "running" else state.rtt_ms
    if rtt:
        print(f"\nmeasured: TCP connect round trip master -> {state.devices[0].name}, idle: min {rtt[0]:.3f} ms, "
              f"median {rtt[1]:.3f} ms, max {rtt[2]:.3f} ms")
    return 0


def _down(args: argparse.Namespace) -> int:
    errors = Lab(args.name, args.dir).down()
    for error in errors:
        print(f"mchair lab down: could not remove {error}", file=sys.stderr)
    print(f"lab {args.name} is down" if not errors else f"lab {args.name}: {len(errors)} things left")
    return 1 if errors else 0


def _restart(args: argparse.Namespace) -> int:
    started = Lab(args.name, args.dir).respawn(args.log_level.upper())
    print(f"started {', '.join(started)}" if started else "every agent is running")
    return 0


def _fault(args: argparse.Namespace) -> int:
    print(Lab(args.name, args.dir).fault(args.device, args.action, args.value))
    return 0


def _run(args: argparse.Namespace) -> int:
    spec, profile = _spec(args), find_profile(args.profile)
    if spec.cameras < 1:
        raise UserError("lab run needs --cameras 1 or more: the stream is the first camera's")
    model = find_spec(args.model)
    print(f"building {model.name} (cached after the first run) ...", file=sys.stderr, flush=True)
    build_model(model)
    lab = Lab(args.name, args.dir)
    state = lab.up(spec, args.log_level.upper())
    recorder = state.devices[0].name

    async def stream(master: Master, devices: list[Device]) -> tuple[Master, Report]:
        print(f"found {', '.join(d.name for d in devices)} by {args.discovery}; streaming {args.seconds:g} s ...",
              file=sys.stderr, flush=True)
        report = await async_run(master, devices, recorder, args.seconds,
                                 lambda line: print(f"  {line}", file=sys.stderr, flush=True))
        await asyncio.sleep(1.5)   # one more heartbeat: the recorder's last frame numbers
        return master, report

    try:
        master, report = with_master(lab, args.model, profile, stream, args.discovery)
    finally:
        errors = lab.down()
    stream_ = master.streams[recorder]
    verdict = verify_runs(model, state.devices[0].camera, stream_.runs)
    print(format_report(report))
    print("\n" + format_streams(master))
    print(f"\nlab {state.name} is {'down' if not errors else 'NOT fully down: ' + '; '.join(errors)}")
    print(f"{verdict.equal} of {verdict.checked} results equal the single-process reference tag by tag"
          + ("" if verdict.ok else f"; MISMATCH from tag {verdict.first_bad_tag}"))
    return 0 if verdict.ok and not errors else 1
