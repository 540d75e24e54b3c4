"""The master: finds the agents, plays musical chairs with them (plans bound to devices as task
tables, re-seated whenever motion, devices or contention change), and gathers the results."""

from ._bind import bind, partition_plan
from ._discovery import SERVICE, Device, DeviceBrowser, async_find_devices
from ._fleet import Fleet
from ._local import LocalCluster
from ._master import Master
from ._results import Inference, Results
from ._session import Report, async_run, async_watch, status_line
from ._state import ClusterState
from ._streams import EpochRun, Reassignment, Stream, StreamFigures, stream_figures
from ._verify import Verdict, verify, verify_runs

__all__ = ["SERVICE", "ClusterState", "Device", "DeviceBrowser", "EpochRun", "Fleet", "Inference", "LocalCluster",
           "Master", "Reassignment", "Report", "Results", "Stream", "StreamFigures", "Verdict",
           "async_find_devices", "async_run", "async_watch", "bind", "partition_plan", "status_line",
           "stream_figures", "verify", "verify_runs"]
