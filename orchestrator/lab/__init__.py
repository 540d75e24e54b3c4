"""``mchair lab``: an emulated swarm of Raspberry Pis on one Linux machine. Every device is an
agent process in a network namespace of its own and a cgroup (CPU quota, memory limit), linked to
a bridge in a namespace of its own through a shaped link (one shared Wi-Fi channel, or a link each);
the master runs in a namespace too. Faults (link down, loss, SIGSTOP, slow CPU) while a run goes on."""

from ._lab import DEFAULT_ROOT, FAULTS, MASTER_PORT, Lab
from ._net import run_in
from ._run import with_master
from ._shaping import knobs
from ._spec import MEDIA, LabSpec, LinkSpec, parse_link, parse_loss, parse_memory
from ._state import DeviceState, LabState

__all__ = ["DEFAULT_ROOT", "FAULTS", "MASTER_PORT", "MEDIA", "DeviceState", "Lab", "LabSpec", "LabState",
           "LinkSpec", "knobs", "parse_link", "parse_loss", "parse_memory", "run_in", "with_master"]
