"""``mchair lab``: an emulated swarm of Pis on this machine. Up, faults, status, down."""

from __future__ import annotations

import base64
import os
import signal
import socket
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from worker.cluster import ClusterConfig, load_cluster
from worker.errors import UserError

from . import _cgroups as cgroups
from . import _net as net
from . import _processes as processes
from . import _relay_control as relay
from . import _shaping as shaping
from . import _state
from ._spec import LabSpec, parse_loss
from ._state import DeviceState, LabState

MASTER_PORT = 7400
FAULTS = ("link-down", "link-up", "loss", "delay", "stop", "cont", "kill", "slow")
DEFAULT_ROOT = Path("build/lab")


class Lab:
    """One lab named ``name`` (the prefix of every namespace and cgroup it makes), recorded under
    ``root/name``. ``settings`` adds sections to the cluster.yaml it writes (e.g. ``game``)."""

    def __init__(self, name: str = "mclab", root: Path = DEFAULT_ROOT,
                 settings: Mapping[str, Any] | None = None) -> None:
        if not name.startswith("mclab") or len(name) > 8 or not name.isalnum():
            raise UserError(f"lab name {name!r}: expected mclab followed by at most 3 letters or digits")
        self.name, self.dir = name, (root / name).resolve()
        self.settings = dict(settings or {})

    # ---- what is there

    def state(self) -> LabState:
        """The recorded lab; UserError when none is up."""
        state = _state.load(self.dir)
        if state is None:
            raise UserError(f"no lab is up (nothing recorded in {self.dir}): mchair lab up --devices N")
        return state

    def cluster(self, discovery: str = "zeroconf") -> ClusterConfig:
        """The master's cluster.yaml: zeroconf on the master's address, or the static device list."""
        return load_cluster(self.dir / ("cluster.yaml" if discovery == "zeroconf" else "cluster-static.yaml"))

    def cameras(self) -> dict[str, str]:
        """Device -> camera spec, for the devices that have one."""
        return {d.name: d.camera for d in self.state().devices if d.camera != "none"}

    # ---- up and down

    def up(self, spec: LabSpec, log_level: str = "INFO") -> LabState:
        """Make the namespaces, bridge, links, cgroups and agents; the state. Undone if anything fails."""
        net.require_root()
        if _state.load(self.dir) is not None or net.namespaces(self.name):
            raise UserError(f"lab {self.name} is up already (or left over from a crash): mchair lab down first")
        if spec.link.loss and not shaping.nft_available():
            raise UserError(f"--link loss needs nftables, which is not installed: {shaping.INSTALL_NFT}")
        state = LabState(self.name, spec, f"{self.name}-br", f"{self.name}-master", net.address(0), MASTER_PORT,
                         str(self.dir))
        state.devices = [DeviceState(f"pi{i}", f"{self.name}-pi{i}", net.address(i + 1), f"p-pi{i}",
                                     f"synthetic:{spec.seed + i}" if i < spec.cameras else "none", cpu=spec.cpu,
                                     loss=spec.link.loss) for i in range(spec.devices)]
        _state.save(state, self.dir)   # first: a crash from here on is cleaned up by `lab down`
        try:
            self._make(state)
            self._write_configs(state)
            for device in state.devices:
                self._spawn(state, device, log_level)
            _state.save(state, self.dir)
        except BaseException:
            self.down()
            raise
        return state

    def _make(self, state: LabState) -> None:
        spec = state.spec
        net.add_bridge(state.bridge_ns)
        net.add_namespace(state.master_ns)
        net.add_veth(state.bridge_ns, state.master_ns, "p-master")
        net.attach(state.bridge_ns, state.master_ns, "p-master", state.master_address)
        for device in state.devices:
            net.add_namespace(device.netns)
            if spec.link.delay_ms:
                # The link is a relay's pair of TAPs: it adds the delay and jitter netem would.
                device.relay_pid = relay.start(state.bridge_ns, device.netns, device.port, spec.link,
                                               self.dir / device.name / "delay",
                                               self.dir / "logs" / f"{device.name}-relay.log")
            else:
                net.add_veth(state.bridge_ns, device.netns, device.port)
            net.attach(state.bridge_ns, device.netns, device.port, device.address)
            cgroups.create(self.name, device.name, spec.cpu, spec.memory_bytes)
            shaping.set_loss(device.netns, spec.link.loss)
        if spec.medium == "shared":
            shaping.shape_shared(state.bridge_ns, ["p-master", *(d.port for d in state.devices)], spec.link)
        else:
            for netns, port in [(state.master_ns, "p-master"), *((d.netns, d.port) for d in state.devices)]:
                shaping.shape_switched(state.bridge_ns, port, netns, spec.link)

    def _write_configs(self, state: LabState) -> None:
        secret = self.dir / "cluster.secret"
        secret.write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
        secret.chmod(0o600)
        static = [{"name": d.name, "host": d.address, "port": processes.AGENT_PORT, "camera": d.camera != "none"}
                  for d in state.devices]
        self._write_config("cluster.yaml", state, state.master_address, "zeroconf", [])
        self._write_config("cluster-static.yaml", state, state.master_address, "static", static)
        for device in state.devices:
            self._write_config(f"{device.name}/cluster.yaml", state, device.address, "zeroconf", [],
                               cache_dir=str(self.dir / device.name / "artifacts"))

    def _write_config(self, file: str, state: LabState, interface: str, discovery: str,
                      devices: list[dict[str, Any]], cache_dir: str = "") -> None:
        path = self.dir / file
        path.parent.mkdir(parents=True, exist_ok=True)
        agent = {"port": processes.AGENT_PORT, "threads": state.spec.threads,
                 "cache_dir": cache_dir or str(self.dir / "artifacts"), **self.settings.get("agent", {})}
        path.write_text(yaml.safe_dump({
            "name": self.name, "secret_file": str(self.dir / "cluster.secret"),
            "master": {"host": state.master_address, "port": state.master_port},
            "discovery": discovery, "interfaces": [interface], "devices": devices,
            "motion": {"enabled": False}, **self.settings, "agent": agent}))

    def _spawn(self, state: LabState, device: DeviceState, log_level: str) -> None:
        device.pid = processes.spawn_agent(self.name, device, self.dir / device.name / "cluster.yaml",
                                           self.dir / "logs" / f"{device.name}.log", log_level)
        device.stopped = False

    def respawn(self, log_level: str = "INFO") -> list[str]:
        """Start again every agent that is gone (a master's Shutdown ends them); their names."""
        net.require_root()
        state = self.state()
        started = []
        for device in state.devices:
            if processes.state_of(device.pid) == "gone":
                self._spawn(state, device, log_level)
                started.append(device.name)
        _state.save(state, self.dir)
        return started

    def wait_agents(self, timeout: float = 3.0) -> None:
        """Wait for the agents to exit after a master's Shutdown (they take ~0.3 s); end those still there
        after ``timeout`` (a device cut off never got it)."""
        pids = [d.pid for d in self.state().devices]
        deadline = time.monotonic() + timeout
        while any(processes.state_of(p) != "gone" for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        processes.end(p for p in pids if processes.state_of(p) != "gone")

    def down(self) -> list[str]:
        """End the agents, delete the namespaces (links, bridge, qdiscs, nft rules go with them) and
        the cgroups; also what a crashed lab left, found by name. The problems, if any."""
        net.require_root()
        state = _state.load(self.dir)
        pids = [d.pid for d in state.devices] if state is not None else []
        relays = [d.relay_pid for d in state.devices] if state is not None else []
        processes.end({*pids, *cgroups.members(self.name), *relays, *relay.find(self.name)})
        errors = net.delete_namespaces([*(state.namespaces if state else []), *net.namespaces(self.name)])
        errors += cgroups.remove(self.name)
        if not errors:
            _state.forget(self.dir)
        return errors

    # ---- faults

    def fault(self, name: str, action: str, value: str = "") -> str:
        """Inject ``action`` on device ``name`` (see FAULTS); what was done, in a few words."""
        net.require_root()
        state = self.state()
        try:
            device = state.device(name)
        except KeyError as exc:
            raise UserError(str(exc.args[0])) from None
        if action in ("link-down", "link-up"):
            net.set_port(state.bridge_ns, device.port, up=action == "link-up")
            device.link_up = action == "link-up"
            done = f"{name}'s link is {'up' if device.link_up else 'down (frames vanish, no RST)'}"
        elif action == "loss":
            device.loss = parse_loss(value)
            shaping.set_loss(device.netns, device.loss)
            done = f"{name} loses {device.loss * 100:g}% of its packets each way"
        elif action == "delay":
            if not device.relay_pid:
                raise UserError(f"lab fault delay: {name}'s link has no relay (no netem on this kernel): start "
                                "the lab with a delay in --link, e.g. --link 62mbit,4ms,1ms")
            ms = _factor(value, "delay", minimum=0.0)
            relay.set_delay(device.relay_pid, self.dir / name / "delay", ms, state.spec.link.jitter_ms)
            done = f"{name}'s link now delays frames {ms:g} ms each way (jitter {state.spec.link.jitter_ms:g} ms)"
        elif action in ("stop", "cont", "kill"):
            sig = {"stop": signal.SIGSTOP, "cont": signal.SIGCONT, "kill": signal.SIGKILL}[action]
            processes.send(device.pid, sig)
            device.stopped = action == "stop"
            done = f"{name}'s agent (pid {device.pid}) got {sig.name}"
        elif action == "slow":
            factor = _factor(value, "slow", minimum=1.0)
            device.cpu = state.spec.cpu / factor
            cgroups.set_cpu(self.name, name, device.cpu)
            done = f"{name} now has {device.cpu:.3g} cores ({factor:g}x slower)"
        else:
            raise UserError(f"lab fault {action!r}: expected one of {', '.join(FAULTS)}")
        _state.save(state, self.dir)
        return done

    # ---- measuring

    def measure_rtt(self, samples: int = 20) -> list[float]:
        """TCP connect times (one round trip: SYN, SYN-ACK) from the master's namespace to the first
        device's agent (once it listens), in ms: min, median, max; recorded for ``status``."""
        state = self.state()
        target = (state.devices[0].address, processes.AGENT_PORT)

        async def probe() -> list[float]:
            deadline = time.monotonic() + 60.0   # an agent under a quarter core takes seconds to listen
            while True:
                try:
                    socket.create_connection(target, timeout=2.0).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise UserError(f"{state.devices[0].name}'s agent does not listen on "
                                        f"{target[0]}:{target[1]}: see {self.dir}/logs") from None
                    time.sleep(0.2)
            times = []
            for _ in range(samples):
                started = time.perf_counter()
                with socket.create_connection(target, timeout=2.0):
                    times.append((time.perf_counter() - started) * 1000)
            return times

        times = net.run_in(state.master_ns, probe)
        state.rtt_ms = [round(min(times), 3), round(statistics.median(times), 3), round(max(times), 3)]
        _state.save(state, self.dir)
        return state.rtt_ms


def _factor(text: str, action: str, minimum: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise UserError(f"lab fault {action} {text!r}: expected a number of at least {minimum:g}"
                        + (" (3: a third of the CPU)" if action == "slow" else " (ms)"))
    return value


__all__ = ["DEFAULT_ROOT", "FAULTS", "MASTER_PORT", "Lab"]
