"""A master inside the lab: in the master's namespace, it reaches the devices over the shaped links."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from worker.errors import UserError

from . import _net as net
from ._lab import Lab

if TYPE_CHECKING:
    from ..master import Device, Master
    from ..profile import Profile

T = TypeVar("T")
FIND_TIMEOUT_S = 60.0     # agents under a quarter of a core take a while to import and announce


def with_master(lab: Lab, model: str, profile: Profile,
                scenario: Callable[[Master, list[Device]], Awaitable[T]], discovery: str = "zeroconf",
                **options: Any) -> T:
    """Start a master for ``model`` in the lab's master namespace, wait for every device (zeroconf
    across the bridge, or the static list), run ``scenario(master, devices)``, stop the master (asked to
    send Shutdown, it ends the agents, waited for here: ``lab.respawn()`` starts them again); what
    the scenario returned."""
    # Imported here: the link relays (python -m orchestrator.lab._relay) load this package and must
    # not pay 2.7 s and 120 MB for the master each.
    from ..master import Master

    state = lab.state()
    names = [d.name for d in state.devices]

    async def main() -> T:
        master = Master(lab.cluster(discovery), model, profile, Path(state.work_dir) / "master", only=names,
                        **options)
        await master.async_start()
        try:
            devices = await master.async_wait_devices(len(names), FIND_TIMEOUT_S)
            if len(devices) < len(names):
                found = {d.peer.device for d in devices}
                raise UserError(f"{len(devices)} of {len(names)} lab devices found by {discovery} within "
                                f"{FIND_TIMEOUT_S:g} s; missing {sorted(set(names) - found)} (logs in "
                                f"{state.work_dir}/logs)")
            return await scenario(master, devices)
        finally:
            await master.async_stop("lab run over", shutdown_agents=True)

    try:
        return net.run_in(state.master_ns, main)
    finally:
        lab.wait_agents()


__all__ = ["FIND_TIMEOUT_S", "with_master"]
