"""cluster.yaml: what the master and every agent of one cluster agree on.

Every key, with its default::

    name: home                     # the cluster: agents advertise it (TXT cluster=), masters of others ignore them
    secret_file: cluster.secret    # HMAC key of control messages (at least 16 bytes), relative to this file
    master: {host: 127.0.0.1, port: 7400}   # where agents send results, heartbeats, artifact requests
    discovery: zeroconf            # zeroconf (agents advertise themselves) or static (the list below)
    interfaces: []                 # zeroconf interfaces (addresses); empty: all
    devices: []                    # static discovery: [{name: pi1, host: 10.0.0.11, port: 7401, camera: true}]
    agent:
      port: 7401                   # an agent's TCP port (0: any free port)
      cache_dir: ~/.cache/musical-chair/artifacts   # artifacts by sha256
      cache_mb: 4096               # artifact cache cap: least recently used ones no seat needs are deleted; 0: none
      link_dir: ""                 # where this disk already has artifacts (a local master's partitions): linked
      threads: 0                   # LiteRT threads per interpreter (0: LiteRT's default)
      max_frame_mb: 64             # larger frames are refused and the connection closed
      buffer: 64                   # tags a stage may hold
      almost_full: 48              # at this many, the recorder is asked to lower its rate
      heartbeat_s: 1.0             # heartbeat period
      send_mbps: 0                 # cap on what an agent sends, all peers together (emulates a slow shared
                                   # link on loopback for benchmarks and tests); 0: no cap
    motion: {}                     # the motion detector of camera agents: keys in worker/motion/_settings.py
    game: {}                       # musical chairs (sharing, lost devices, contention): worker/_game_settings.py
    codecs: {}                     # tensor codecs the planner may use per link, error budget: worker/_codec_settings.py
    metrics:
      port: 0                      # master only: Prometheus metrics on http://<master.host>:<port>/metrics; 0: off
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._codec_settings import CodecSettings, parse_codec_settings
from ._game_settings import GameSettings, parse_game_settings
from ._yaml import Validator, read_yaml
from .errors import ConfigError
from .motion import MotionSettings, parse_motion_settings

DISCOVERY = ("zeroconf", "static")
MIN_SECRET = 16


@dataclass(frozen=True)
class Endpoint:
    """A host and a TCP port."""

    host: str
    port: int


@dataclass(frozen=True)
class DeviceEntry:
    """A device of a static cluster."""

    name: str
    host: str
    port: int
    camera: bool = False


@dataclass(frozen=True)
class MetricsSettings:
    """Where the master serves its Prometheus metrics."""

    port: int = 0      # 0: not served


@dataclass(frozen=True)
class AgentSettings:
    """How every agent of the cluster runs."""

    port: int = 7401
    cache_dir: str = "~/.cache/musical-chair/artifacts"
    cache_mb: float = 4096.0     # over it the least recently used artifacts no seat uses are deleted; 0: no cap
    link_dir: str = ""           # artifacts already on this disk (a local master's): hard-linked, not copied
    threads: int = 0
    max_frame_mb: float = 64.0
    buffer: int = 64
    almost_full: int = 48
    heartbeat_s: float = 1.0
    send_mbps: float = 0.0

    @property
    def max_frame_bytes(self) -> int:
        """The frame limit in bytes."""
        return int(self.max_frame_mb * 1024 * 1024)


@dataclass(frozen=True)
class ClusterConfig:
    """A parsed cluster.yaml."""

    name: str = "home"
    secret_file: Path = Path("cluster.secret")
    master: Endpoint = Endpoint("127.0.0.1", 7400)
    discovery: str = "zeroconf"
    interfaces: tuple[str, ...] = ()
    devices: tuple[DeviceEntry, ...] = ()
    agent: AgentSettings = field(default_factory=AgentSettings)
    file: str = ""
    motion: MotionSettings = field(default_factory=MotionSettings)
    game: GameSettings = field(default_factory=GameSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    codecs: CodecSettings = field(default_factory=CodecSettings)

    def secret(self) -> bytes:
        """The HMAC key, read from ``secret_file``."""
        try:
            key = self.secret_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(self.file or "cluster.yaml", "secret_file",
                              f"cannot read {self.secret_file}: {exc.strerror or exc}") from None
        if len(key) < MIN_SECRET:
            raise ConfigError(self.file or "cluster.yaml", "secret_file",
                              f"{self.secret_file} holds {len(key)} bytes, expected at least {MIN_SECRET}")
        return key


def load_cluster(path: str | Path) -> ClusterConfig:
    """Read and validate a cluster.yaml."""
    return parse_cluster(read_yaml(path) or {}, str(path))


def parse_cluster(raw: Any, file: str = "cluster.yaml") -> ClusterConfig:
    """Validate a cluster config already loaded from YAML."""
    v = Validator(file)
    top = v.mapping(raw, "", {"name", "secret_file", "master", "discovery", "interfaces", "devices", "agent",
                              "motion", "game", "metrics", "codecs"})
    base = Path(file).parent
    master = v.mapping(top.get("master", {}), "master", {"host", "port"})
    discovery = top.get("discovery", "zeroconf")
    if discovery not in DISCOVERY:
        raise v.fail("discovery", " or ".join(DISCOVERY), discovery)
    interfaces = top.get("interfaces", []) or []
    if not isinstance(interfaces, list) or not all(isinstance(i, str) for i in interfaces):
        raise v.fail("interfaces", "a list of addresses", interfaces)
    devices = []
    for i, d in enumerate(top.get("devices", []) or []):
        key = f"devices[{i}]"
        d = v.mapping(d, key, {"name", "host", "port", "camera"})
        camera = d.get("camera", False)
        if not isinstance(camera, bool):
            raise v.fail(f"{key}.camera", "true or false", camera)
        devices.append(DeviceEntry(v.string(d.get("name"), f"{key}.name"), v.string(d.get("host"), f"{key}.host"),
                                   v.integer(d.get("port"), f"{key}.port", minimum=1), camera))
    if discovery == "static" and not devices:
        raise ConfigError(file, "devices", "expected at least one device with discovery: static")
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise ConfigError(file, "devices", f"expected unique names, got {names}")
    a = v.mapping(top.get("agent", {}) or {}, "agent", set(AgentSettings.__dataclass_fields__))
    defaults = AgentSettings()
    agent = AgentSettings(
        v.integer(a.get("port", defaults.port), "agent.port", minimum=0),
        v.string(a.get("cache_dir", defaults.cache_dir), "agent.cache_dir"),
        v.number(a.get("cache_mb", defaults.cache_mb), "agent.cache_mb"),
        v.string(a["link_dir"], "agent.link_dir") if "link_dir" in a else defaults.link_dir,
        v.integer(a.get("threads", defaults.threads), "agent.threads", minimum=0),
        v.number(a.get("max_frame_mb", defaults.max_frame_mb), "agent.max_frame_mb", positive=True),
        v.integer(a.get("buffer", defaults.buffer), "agent.buffer", minimum=2),
        v.integer(a.get("almost_full", defaults.almost_full), "agent.almost_full", minimum=1),
        v.number(a.get("heartbeat_s", defaults.heartbeat_s), "agent.heartbeat_s", positive=True),
        v.number(a.get("send_mbps", defaults.send_mbps), "agent.send_mbps"))
    if agent.cache_mb < 0:
        raise v.fail("agent.cache_mb", "0 (no cap) or a positive size in MB", agent.cache_mb)
    if agent.send_mbps < 0:
        raise v.fail("agent.send_mbps", "0 (no cap) or a positive rate in Mbit/s", agent.send_mbps)
    if agent.almost_full >= agent.buffer:
        raise v.fail("agent.almost_full", f"less than agent.buffer ({agent.buffer})", agent.almost_full)
    metrics = v.mapping(top.get("metrics", {}) or {}, "metrics", {"port"})
    game = parse_game_settings(top.get("game"), file)
    # A timeout within one heartbeat period would lose every device between two heartbeats.
    if game.heartbeat_timeout_s <= agent.heartbeat_s:
        raise v.fail("game.heartbeat_timeout_s", f"more than agent.heartbeat_s ({agent.heartbeat_s:g})",
                     game.heartbeat_timeout_s)
    return ClusterConfig(
        v.string(top.get("name", "home"), "name"),
        base / v.string(top.get("secret_file", "cluster.secret"), "secret_file"),
        Endpoint(v.string(master.get("host", "127.0.0.1"), "master.host"),
                 v.integer(master.get("port", 7400), "master.port", minimum=0)),
        discovery, tuple(interfaces), tuple(devices), agent, file, parse_motion_settings(top.get("motion"), file),
        game, MetricsSettings(v.integer(metrics.get("port", 0), "metrics.port", minimum=0)),
        parse_codec_settings(top.get("codecs"), file))


__all__ = ["AgentSettings", "ClusterConfig", "CodecSettings", "DeviceEntry", "Endpoint", "MetricsSettings",
           "load_cluster", "parse_codec_settings", "parse_cluster"]
