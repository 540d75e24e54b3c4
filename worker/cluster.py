"""cluster.yaml: what the master and every agent of one cluster agree on.

Every key is declared once, below and in the settings modules of its section (worker/motion/_settings.py,
worker/_game_settings.py, worker/_codec_settings.py), with its kind, range, default and doc; the reference
in docs/cluster-yaml.md is generated from them (``python -m worker.config_doc``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from ._codec_settings import CodecSettings, parse_codec_settings
from ._config_keys import (
    Broken,
    Choice,
    FilePath,
    Flag,
    Integer,
    Number,
    Records,
    Rule,
    Strings,
    Text,
    key,
    parse_section,
    required,
    section,
)
from ._game_settings import GameSettings
from ._yaml import read_yaml
from .errors import ConfigError
from .motion import MotionSettings
from .wire import AEAD, DATA_MODES

DISCOVERY = ("zeroconf", "static")
MIN_SECRET = 16
PORT = Integer(0, 65535)
MAX_FRAME_MB = 4095    # the frame prefix is 4 bytes: a frame is less than 4 GiB


@dataclass(frozen=True)
class Endpoint:
    """A host and a TCP port."""

    host: str = key("127.0.0.1", Text(), "the address the master listens on, and where agents send results, "
                    "heartbeats and artifact requests. On a LAN, this is the master machine's LAN address "
                    "(not `0.0.0.0`: agents connect to it)")
    port: int = key(7400, PORT, "the master's TCP port")


@dataclass(frozen=True)
class DeviceEntry:
    """A device of a static cluster."""

    name: str = required(Text(), "the device's name: the `--name` its agent runs with")
    host: str = required(Text(), "the agent's address")
    port: int = required(Integer(1, 65535), "the agent's TCP port: `agent.port` unless the agent runs with `--port`")
    camera: bool = key(False, Flag(), "`true` for a device whose camera can start a stream")


@dataclass(frozen=True)
class MetricsSettings:
    """Where the master serves its Prometheus metrics."""

    port: int = key(0, PORT, "master only: serve Prometheus metrics on `http://<master.host>:<port>/metrics` (plain "
                    "HTTP: what it exposes is in [security.md](security.md)); 0: off")


def _almost_full_under_buffer(agent: AgentSettings) -> Broken | None:
    if agent.almost_full < agent.buffer:
        return None
    return Broken("almost_full", f"less than agent.buffer ({agent.buffer})", agent.almost_full)


@dataclass(frozen=True)
class SecuritySettings:
    """How connections protect what they carry (authentication cannot be turned off)."""

    data: str = key(AEAD, Choice(DATA_MODES),
                    "`aead`: every frame after the handshake is encrypted and authenticated (ChaCha20-Poly1305); "
                    "`mac`: authenticated only, for users who accept that the LAN reads the tensors. Every "
                    "connection proves the cluster secret either way: no setting turns authentication off")


@dataclass(frozen=True)
class AgentSettings:
    """How every agent of the cluster runs."""

    RULES: ClassVar[tuple[Rule, ...]] = (_almost_full_under_buffer,)

    port: int = key(7401, PORT, "an agent's TCP port (0: any free port; `mchair agent --port` overrides it)")
    cache_dir: str = key("~/.cache/musical-chair/artifacts", Text(),
                         "where an agent keeps the artifacts (`.tflite` files) it fetched, by sha256. `~` is the "
                         "agent's user's home")
    cache_mb: float = key(4096.0, Number(0, 10_000_000),
                          "cap on the artifact cache in MB: over it, the least recently used artifacts that no seat "
                          "needs are deleted (0: no cap)")
    link_dir: str = key("", Text(empty=True),
                        "a directory on the same disk that already holds artifacts by sha256 (a local master's "
                        "partitions): they are hard-linked into the cache instead of fetched and copied")
    threads: int = key(0, Integer(0, 256), "LiteRT threads per interpreter (0: LiteRT's default)")
    max_frame_mb: float = key(64.0, Number(0, MAX_FRAME_MB, above=True),
                              "larger frames are refused and the connection is closed (the master and "
                              "`mchair motion` use the same limit)")
    buffer: int = key(64, Integer(2, 4096), "tags a stage may hold. The master writes it into every task table")
    almost_full: int = key(48, Integer(1, 4095),
                           "at this many tags, the recorder is asked to lower its rate (less than `buffer`)")
    heartbeat_s: float = key(1.0, Number(0, 3600, above=True), "heartbeat period in seconds")
    send_mbps: float = key(0.0, Number(0, 100_000),
                           "cap on the Mbit/s an agent sends, all peers together, paced as one shared medium "
                           "(0: no cap). It emulates a slow Wi-Fi on loopback for benchmarks and tests (`mchair "
                           "bench codec`); messages a full send queue drops are counted in the agent's drops")

    @property
    def max_frame_bytes(self) -> int:
        """The frame limit in bytes."""
        return int(self.max_frame_mb * 1024 * 1024)


def _devices_when_static(c: ClusterConfig) -> Broken | None:
    if c.discovery == "static" and not c.devices:
        return Broken("devices", "at least one device with discovery: static", [])
    return None


def _unique_device_names(c: ClusterConfig) -> Broken | None:
    names = [d.name for d in c.devices]
    return Broken("devices", "unique names", names) if len(set(names)) != len(names) else None


def _timeout_over_heartbeat(c: ClusterConfig) -> Broken | None:
    # A timeout within one heartbeat period would lose every device between two heartbeats.
    if c.game.heartbeat_timeout_s > c.agent.heartbeat_s:
        return None
    return Broken("game.heartbeat_timeout_s", f"more than agent.heartbeat_s ({c.agent.heartbeat_s:g})",
                  c.game.heartbeat_timeout_s)


@dataclass(frozen=True)
class ClusterConfig:
    """A parsed cluster.yaml."""

    RULES: ClassVar[tuple[Rule, ...]] = (_devices_when_static, _unique_device_names, _timeout_over_heartbeat)

    name: str = key("home", Text(), "the cluster's name. Agents advertise it in their zeroconf TXT record "
                    "(`cluster=`), and a master seats only the agents of its own cluster: several clusters can "
                    "share a LAN (give each its own name and secret)")
    secret_file: Path = key(Path("cluster.secret"), FilePath(),
                            "the file holding the cluster secret (every connection's handshake proves it: "
                            "[security.md](security.md)), relative to `cluster.yaml`. It "
                            f"must hold at least {MIN_SECRET} bytes (surrounding whitespace is stripped). Make "
                            "one with `head -c 32 /dev/urandom | base64 > cluster.secret`")
    master: Endpoint = section(Endpoint, "where the master listens")
    discovery: str = key("zeroconf", Choice(DISCOVERY),
                         "`zeroconf`: agents advertise `<device>._mchair._tcp.local.` and the master browses for "
                         "them; `static`: the master seats the devices listed in `devices`, and agents do not "
                         "advertise")
    interfaces: tuple[str, ...] = key((), Strings("a list of addresses"),
                                      "the addresses zeroconf uses (empty: all interfaces). An agent also "
                                      "**listens** on the first one unless it is given `--host` (empty: on all "
                                      "addresses, `0.0.0.0`). A file shared by several hosts should leave it "
                                      "empty")
    devices: tuple[DeviceEntry, ...] = key((), Records(DeviceEntry),
                                           "with `discovery: static`, the devices the master seats. At "
                                           "least one is required with `static`, and names must be unique")
    agent: AgentSettings = section(AgentSettings, "how every agent runs; the agents and the master read it",
                                   table=True)
    file: str = ""    # the file it was read from (not a key)
    motion: MotionSettings = section(MotionSettings, "the motion detector of camera agents", table=True)
    game: GameSettings = section(GameSettings, "how the master shares devices among the cameras that see motion "
                                 "(see [musical-chairs.md](musical-chairs.md))", table=True)
    metrics: MetricsSettings = section(MetricsSettings, "the master's Prometheus metrics")
    codecs: CodecSettings = section(CodecSettings, "which tensor codecs the planner may put on a link, and the "
                                    "output error they may cost (see [planner.md](planner.md#tensor-codecs)). The "
                                    "master reads it; `--codecs` and `--error-budget` on `mchair plan`, `master` "
                                    "and `demo` override it", table=True)
    security: SecuritySettings = section(SecuritySettings, "how connections protect what they carry "
                                         "(see [security.md](security.md))")

    def secret(self) -> bytes:
        """The HMAC key, read from ``secret_file``."""
        try:
            data = self.secret_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(self.file or "cluster.yaml", "secret_file",
                              f"cannot read {self.secret_file}: {exc.strerror or exc}") from None
        if len(data) < MIN_SECRET:
            raise ConfigError(self.file or "cluster.yaml", "secret_file",
                              f"{self.secret_file} holds {len(data)} bytes, expected at least {MIN_SECRET}")
        return data


def load_cluster(path: str | Path) -> ClusterConfig:
    """Read and validate a cluster.yaml (an empty file is the defaults)."""
    raw = read_yaml(path)
    return parse_cluster({} if raw is None else raw, str(path))


def parse_cluster(raw: Any, file: str = "cluster.yaml") -> ClusterConfig:
    """Validate a cluster config already loaded from YAML."""
    config = parse_section(ClusterConfig, raw, "", file)
    return replace(config, secret_file=Path(file).parent / config.secret_file, file=file)


__all__ = ["AgentSettings", "ClusterConfig", "CodecSettings", "DeviceEntry", "Endpoint", "MetricsSettings",
           "SecuritySettings",
           "load_cluster", "parse_codec_settings", "parse_cluster"]
