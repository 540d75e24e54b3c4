"""The master: finds the agents, binds plans to them (task tables), assigns, gathers results."""

from ._bind import bind, partition_plan
from ._discovery import SERVICE, Device, async_find_devices
from ._local import LocalCluster
from ._master import Master
from ._results import Inference, Results
from ._session import Report, async_run, status_line
from ._verify import Verdict, verify

__all__ = ["SERVICE", "Device", "Inference", "LocalCluster", "Master", "Report", "Results", "Verdict",
           "async_find_devices", "async_run", "bind", "partition_plan", "status_line", "verify"]
