"""The agent: one per device; takes its seats from the master's Assign and runs them (docs/runtime.md).

Public API::

    Agent(name, secret, host=, port=, settings=, cache_dir=, camera=, master=, advertise=, motion=, ...)
        async with Agent(...) as agent: ...      .async_start() / .async_wait() / .async_stop()
        .port .epoch .table .recorder .camera_loop .rejects .drops .counters() -> AgentCounters
    ArtifactCache(directory)   .has/.path/.expect/.add_chunk/.runner   (artifacts by sha256)
    Peers(secret)              .send(peer, message)                    (outgoing connections by device)
    CameraLoop(camera, motion, on_motion)                              (camera for the agent's life, motion)
    Recorder(shape, fps, on_frame)                                     (one epoch's tags, back-pressure)
    Advertiser(device, host, port, properties)                         (zeroconf)
    DataTransport / Dropped                        (TensorBatches by another way than TCP: Agent(data_transport=))
    seat_label(seat) / parse_seat_label(label)                         ("device:stage.replica.shard")
    main(argv) / add_arguments(parser) / run(args)                     (python -m worker.agent)
    SHUTDOWN_EXIT                                  (its exit status after a Shutdown: systemd does not restart it)
"""

# Imported on first use, not here: `python -m worker.agent --help` must not pay for numpy, zeroconf and LiteRT
# (start-up time on a Pi). Type checkers see the plain imports.
from typing import TYPE_CHECKING

from worker._lazy import lazy_attributes

if TYPE_CHECKING:
    from ._advertise import SERVICE, Advertiser, device_properties, reachable_address
    from ._agent import Agent
    from ._artifacts import MAX_ARTIFACT_BYTES, ArtifactCache, ArtifactError
    from ._camera import CameraLoop
    from ._counters import DROP_REASONS, AgentCounters, Drops
    from ._main import add_arguments, build_agent, main, open_camera_option, run
    from ._peers import Peers
    from ._recorder import MAX_HALVINGS, FrameSource, Recorder, synthetic_camera
    from ._seats import (
        artifacts_of,
        is_sha256,
        parse_seat_label,
        seat_label,
        why_not_assigned,
        why_not_seated,
    )
    from ._systemd import SHUTDOWN_EXIT
    from ._transport import DataTransport, Dropped

__getattr__ = lazy_attributes(__name__, {
    "_advertise": ("SERVICE", "Advertiser", "device_properties", "reachable_address"),
    "_agent": ("Agent",),
    "_artifacts": ("MAX_ARTIFACT_BYTES", "ArtifactCache", "ArtifactError"),
    "_camera": ("CameraLoop",),
    "_counters": ("DROP_REASONS", "AgentCounters", "Drops"),
    "_main": ("add_arguments", "build_agent", "main", "open_camera_option", "run"),
    "_peers": ("Peers",),
    "_recorder": ("MAX_HALVINGS", "FrameSource", "Recorder", "synthetic_camera"),
    "_seats": ("artifacts_of", "is_sha256", "parse_seat_label", "seat_label", "why_not_assigned", "why_not_seated"),
    "_systemd": ("SHUTDOWN_EXIT",),
    "_transport": ("DataTransport", "Dropped"),
})

__all__ = [
    "DROP_REASONS",
    "MAX_ARTIFACT_BYTES",
    "MAX_HALVINGS",
    "SERVICE",
    "SHUTDOWN_EXIT",
    "Advertiser",
    "Agent",
    "AgentCounters",
    "ArtifactCache",
    "ArtifactError",
    "CameraLoop",
    "DataTransport",
    "Dropped",
    "Drops",
    "FrameSource",
    "Peers",
    "Recorder",
    "add_arguments",
    "artifacts_of",
    "build_agent",
    "device_properties",
    "is_sha256",
    "main",
    "open_camera_option",
    "parse_seat_label",
    "reachable_address",
    "run",
    "seat_label",
    "synthetic_camera",
    "why_not_assigned",
    "why_not_seated",
]
