"""What a lab made, recorded under the build directory so ``lab down`` can undo it even after the
lab itself crashed."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ._spec import LabSpec, LinkSpec

STATE_FILE = "state.json"


@dataclass
class DeviceState:
    """One emulated device: its namespace, address, bridge port, agent process and camera."""

    name: str
    netns: str
    address: str
    port: str                      # its link's end in the bridge namespace
    camera: str                    # its camera spec, or none
    pid: int = 0
    cpu: float = 0.0               # cores it may use now (``fault slow`` lowers it)
    link_up: bool = True
    loss: float = 0.0
    stopped: bool = False
    relay_pid: int = 0             # the process carrying its link when the lab adds delay


@dataclass
class LabState:
    """A lab: its spec, the bridge and master namespaces, the devices, the master's endpoint."""

    name: str
    spec: LabSpec
    bridge_ns: str
    master_ns: str
    master_address: str
    master_port: int
    work_dir: str
    devices: list[DeviceState] = field(default_factory=list)
    rtt_ms: list[float] = field(default_factory=list)   # master <-> first device ping: min, avg, max

    def device(self, name: str) -> DeviceState:
        """A device by name; KeyError naming the known ones."""
        for device in self.devices:
            if device.name == name:
                return device
        raise KeyError(f"no device {name!r} in lab {self.name}; it has {', '.join(d.name for d in self.devices)}")

    @property
    def namespaces(self) -> list[str]:
        """Every namespace of the lab (devices, master, then the bridge)."""
        return [d.netns for d in self.devices] + [self.master_ns, self.bridge_ns]


def save(state: LabState, directory: Path) -> None:
    """Write the state atomically (a crash mid-write leaves the previous one)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1))
    tmp.replace(directory / STATE_FILE)


def load(directory: Path) -> LabState | None:
    """The recorded state, or None when there is none."""
    path = directory / STATE_FILE
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    spec = raw.pop("spec")
    link = LinkSpec(**spec.pop("link"))
    devices = [DeviceState(**d) for d in raw.pop("devices")]
    return LabState(spec=LabSpec(link=link, **spec), devices=devices, **raw)


def forget(directory: Path) -> None:
    """Remove the recorded state (after ``lab down``)."""
    (directory / STATE_FILE).unlink(missing_ok=True)


__all__ = ["DeviceState", "LabState", "forget", "load", "save"]
