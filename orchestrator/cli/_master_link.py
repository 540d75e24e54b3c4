"""An authenticated connection from a command (``mchair motion``, ``mchair status``) to the cluster's master."""

from __future__ import annotations

from worker.cluster import ClusterConfig
from worker.errors import UserError
from worker.wire import Connection, HandshakeError

TIMEOUT_S = 5.0


def master_where(cluster: ClusterConfig) -> str:
    """How errors name the master: its address and the file that gave it."""
    return f"master at {cluster.master.host}:{cluster.master.port} (from {cluster.file or 'cluster.yaml'})"


async def async_connect_master(cluster: ClusterConfig) -> Connection:
    """A connection to the cluster's master, handshake done with the cluster's secret; UserError when it
    cannot be reached or does not prove the secret."""
    secret = cluster.secret()
    try:
        return await Connection.async_open(cluster.master.host, cluster.master.port, secret=secret,
                                           data=cluster.security.data, max_bytes=cluster.agent.max_frame_bytes,
                                           timeout=TIMEOUT_S)
    except HandshakeError as exc:
        raise UserError(f"{master_where(cluster)}: {exc}") from None
    except (OSError, TimeoutError) as exc:
        raise UserError(f"{master_where(cluster)}: cannot connect: "
                        f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
