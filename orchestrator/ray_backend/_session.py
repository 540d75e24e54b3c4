"""Starting or joining Ray: a local Ray on this machine, or an existing cluster at an address.

Ray is an extra (``pip install musical-chair[ray]``): it is imported only here, when asked for, so
the rest of the package works without it. A local Ray keeps its files under the build directory
when the path is short enough for its unix sockets, else under /tmp.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from worker.errors import UserError

INSTALL_HINT = "pip install musical-chair[ray]"
# AF_UNIX paths are at most 107 bytes; Ray adds ~70 (session_<date>_<pid>/sockets/plasma_store).
MAX_TEMP_DIR = 36
NAMESPACE_PREFIX = "mchair"


def import_ray() -> ModuleType:
    """The ``ray`` module; a UserError naming the extra to install when it is missing."""
    # Read by Ray when it is imported: no usage statistics; the auth token of `ray start` clusters is used.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if _has_auth_token():
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise UserError(f"the ray backend needs Ray: {INSTALL_HINT}") from None
    return ray


def ray_temp_dir(build_dir: Path) -> Path:
    """Where a local Ray keeps its session files: ``build_dir/ray`` if short enough, else /tmp/mchair-ray-*."""
    wanted = build_dir.resolve() / "ray"
    if len(str(wanted)) <= MAX_TEMP_DIR:
        return wanted
    return Path(tempfile.mkdtemp(prefix="mchair-ray-", dir="/tmp"))


def _has_auth_token() -> bool:
    """True when Ray's token for joining a cluster is at hand (its file, or the environment)."""
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")) or \
        (Path.home() / ".ray" / "auth_token").exists()


@dataclass
class RaySession:
    """One connection of this process to Ray: a local Ray it started (``address`` None) or a cluster it joined.

    ``resources`` are the custom resources of a local Ray (e.g. ``{"camera:kitchen": 1}``); a joined
    cluster has those its nodes were started with (``ray start --resources``).
    """

    address: str | None = None
    build_dir: Path = Path("build")
    resources: Mapping[str, float] = field(default_factory=dict)
    num_cpus: int | None = None
    namespace: str = ""
    temp_dir: Path | None = None
    started: bool = False

    def start(self) -> RaySession:
        """Start (or join) Ray unless this process is connected already; returns self."""
        if self.address is None and not _has_auth_token() and "ray" not in sys.modules:
            # A local Ray with token auth writes a token into ~/.ray unless it finds one: give it this
            # session's, in the environment its processes inherit (nothing written outside build/).
            os.environ.setdefault("RAY_AUTH_MODE", "token")
            os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        ray = import_ray()
        self.namespace = self.namespace or f"{NAMESPACE_PREFIX}-{secrets.token_hex(3)}"
        if ray.is_initialized():
            return self
        options: dict[str, Any] = {"namespace": self.namespace, "include_dashboard": False,
                                   "log_to_driver": False, "logging_level": "WARNING"}
        if self.address is None:
            self.temp_dir = ray_temp_dir(self.build_dir)
            self.temp_dir.mkdir(parents=True, exist_ok=True)
            options.update(_node_ip_address="127.0.0.1", _temp_dir=str(self.temp_dir),
                           resources=dict(self.resources), num_cpus=self.num_cpus)
        try:
            ray.init(address=self.address, **options)
        except ConnectionError as exc:
            raise UserError(f"--ray-address {self.address}: expected a running Ray cluster (ray start --head) "
                            f"whose auth token this machine has (~/.ray/auth_token): {exc}") from None
        self.started = True
        return self

    @property
    def local(self) -> bool:
        """True when this process started its own Ray (no address)."""
        return self.address is None

    def node_ip(self) -> str:
        """This process's address as Ray sees it (where the master listens on a joined cluster)."""
        return str(import_ray().util.get_node_ip_address())

    def totals(self) -> dict[str, float]:
        """The cluster's resources (CPU, memory in bytes, custom ones)."""
        return {k: float(v) for k, v in import_ray().cluster_resources().items()}

    def stop(self) -> None:
        """Disconnect from Ray; a local Ray is shut down with every actor and process of it."""
        if self.started:
            import_ray().shutdown()
            self.started = False


__all__ = ["INSTALL_HINT", "RaySession", "import_ray", "ray_temp_dir"]
