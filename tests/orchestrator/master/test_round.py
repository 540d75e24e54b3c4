"""A round of musical chairs without sockets: state and events in, moves out (real plans, partitions
and tables of a small model; nothing is sent)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from orchestrator.master._discovery import Device
from orchestrator.master._fleet import Member
from orchestrator.master._layouts import Layouts, table_artifacts
from orchestrator.master._round import Moves, after_acks, play_round
from orchestrator.master._state import ClusterState, Event, epoch_base
from orchestrator.master._streams import Stream
from orchestrator.toolchain.model import open_model
from worker.cluster import ClusterConfig
from worker.wire import Ack, Heartbeat, LinkBytes, Peer, Release, Result, Resume

from ._live import MODEL, PROFILE

MASTER = Peer("master", "127.0.0.1", 7000)
CONFIG = ClusterConfig()


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Layouts:
    return Layouts(CONFIG, open_model(MODEL), PROFILE, tmp_path_factory.mktemp("round"), "optimal", None, None)


def cluster_state(*names: str, cameras: tuple[str, ...] = ("pi0",)) -> ClusterState:
    state = ClusterState()
    for i, name in enumerate(names):
        state.members[name] = Member(Device(Peer(name, "127.0.0.1", 7100 + i), name in cameras), True, 0.0)
    return state


def motion(state: ClusterState, camera: str, moving: bool = True, since: float = 1.0) -> list[Event]:
    stream = state.streams.setdefault(camera, Stream(camera))
    stream.active, stream.since = moving, since
    return [Event(f"motion {'started' if moving else 'stopped'} on {camera}", 1000)]


def apply(state: ClusterState, moves: Moves) -> None:
    """What the server does with moves, minus the sending."""
    state.epoch = max(state.epoch, moves.epoch)
    for camera in moves.stops:
        state.streams[camera].release()
    for camera, run in moves.starts:
        state.streams[camera].start(run)
    for device, artifacts in moves.holds:
        state.members[device].held.update(artifacts)


def test_motion_starts_an_epoch_and_an_unchanged_round_keeps_it(layouts: Layouts) -> None:
    state = cluster_state("pi0", "pi1", "pi2")
    moves = play_round(state, motion(state, "pi0"), CONFIG.game, layouts, MASTER)
    [(camera, run)] = moves.starts
    assert camera == "pi0" and moves.epoch == run.epoch == 1 and not moves.stops and not moves.sends
    assert run.table.stream == "pi0" and run.table.devices[0].device == "pi0"
    assert run.reassignment.reason == "motion started on pi0" and run.reassignment.event_ns == 1000
    assert run.reassignment.bytes_to_load > 0     # nothing held yet
    assert {p.device for p in run.table.devices} <= {"pi0", "pi1", "pi2"}
    assert len(run.table.devices) == run.plan.metrics.devices
    apply(state, moves)
    # The same state again: nothing changes, the stream keeps its epoch.
    again = play_round(state, [Event("pi1 is back", 2000)], CONFIG.game, layouts, MASTER)
    assert again.starts == [] and again.stops == [] and again.sends == [] and again.epoch == 1


def test_acks_resume_the_recorder_or_release_every_seat(layouts: Layouts) -> None:
    state = cluster_state("pi0", "pi1", "pi2")
    moves = play_round(state, motion(state, "pi0"), CONFIG.game, layouts, MASTER)
    apply(state, moves)
    [(camera, run)] = moves.starts
    ok = {p.device: Ack(epoch=run.epoch, device=p.device, ok=True, detail="") for p in run.table.devices}
    done = after_acks(state, camera, run, ok)
    [(peer, resume)] = done.sends
    assert peer.device == "pi0" and resume == Resume(epoch=run.epoch, seat="*", stream="pi0")
    assert done.holds == list(zip((s.device for s in run.table.seats), table_artifacts(run.table)))
    assert done.epoch == state.epoch and done.reason is None
    apply(state, done)
    assert any(needed for _, needed in done.holds)     # the model's seats load weights (the camera's none)
    assert all(needed <= state.members[device].held for device, needed in done.holds)

    refused = {**ok, "pi0": Ack(epoch=run.epoch, device="pi0", ok=False, detail="no memory")}
    failed = after_acks(state, camera, run, refused)
    assert failed.stops == ["pi0"] and failed.reason == "pi0: no memory" and failed.epoch == run.epoch + 1
    assert [(p.device, m) for p, m in failed.sends] == [
        (p.device, Release(epoch=run.epoch + 1, stream="pi0", reason="a seat refused its table"))
        for p in run.table.devices]


def test_motion_stopping_releases_the_streams_devices(layouts: Layouts) -> None:
    state = cluster_state("pi0", "pi1", "pi2")
    apply(state, play_round(state, motion(state, "pi0"), CONFIG.game, layouts, MASTER))
    run = state.streams["pi0"].current
    assert run is not None
    moves = play_round(state, motion(state, "pi0", moving=False), CONFIG.game, layouts, MASTER)
    assert moves.starts == [] and moves.stops == ["pi0"] and moves.epoch == 2
    assert {p.device for p, _ in moves.sends} == {p.device for p in run.table.devices}
    assert all(m == Release(epoch=2, stream="pi0", reason="motion stopped on pi0") for _, m in moves.sends)


def test_a_lost_device_reseats_the_stream_without_it(layouts: Layouts) -> None:
    state = cluster_state("pi0", "pi1", "pi2")
    apply(state, play_round(state, motion(state, "pi0"), CONFIG.game, layouts, MASTER))
    old = state.streams["pi0"].current
    assert old is not None and len(old.table.devices) == 3
    state.members["pi2"].alive = False
    moves = play_round(state, [Event("pi2 lost", 3000)], CONFIG.game, layouts, MASTER)
    [(_, run)] = moves.starts
    assert "pi2" not in {p.device for p in run.table.devices} and run.epoch == 2
    assert run.reassignment.old_devices == tuple(p.device for p in old.table.devices)
    # pi2 is freed but lost: it is sent nothing; the Release epoch is used all the same.
    assert moves.sends == [] and moves.epoch == 3 and moves.stops == []


def test_motion_on_a_device_without_a_camera_waits(layouts: Layouts) -> None:
    state = cluster_state("pi0", "pi1")
    moves = play_round(state, motion(state, "pi1"), CONFIG.game, layouts, MASTER)
    assert moves.starts == [] and moves.epoch == 0
    assert moves.reason == "pi1 is not an alive device with a camera"


def test_heartbeats_and_results_update_the_state(layouts: Layouts) -> None:
    state = cluster_state("pi0", "pi1", "pi2")
    apply(state, play_round(state, motion(state, "pi0"), CONFIG.game, layouts, MASTER))
    run = state.streams["pi0"].current
    assert run is not None
    beat = Heartbeat(device="pi0", epoch=run.epoch, time_ns=0, queue_fill=0.0, ips=0.0, first_tag=0, frames=(10, 11),
                     links=(LinkBytes(peer="pi1", codec="raw", bytes=100, raw_bytes=100),))
    assert state.add_heartbeat(beat) is run
    assert state.add_heartbeat(dataclasses.replace(beat, first_tag=2, frames=(13,))) is run
    assert run.frames == {0: 10, 1: 11, 2: 13} and state.heartbeats["pi0"].frames == (13,)
    assert (state.link_bytes[("pi0", "pi1", "raw")].sent, state.link_bytes[("pi0", "pi1", "raw")].raw) == (200, 200)
    assert state.add_heartbeat(dataclasses.replace(beat, epoch=99)) is None
    late = Result(epoch=99, stream="pi0", tag=0, tensors=(), compute_ms=1.0, transfer_ms=0.0, queue_ms=0.0)
    assert state.add_result(late) == []


def test_a_new_master_assigns_above_every_epoch_an_agent_reports(layouts: Layouts) -> None:
    # pi1 ran under an older master up to epoch 7_000: a round of this master must start above it,
    # or the agent refuses the Assign as stale.
    state = cluster_state("pi0", "pi1")
    state.add_heartbeat(Heartbeat(device="pi1", epoch=7_000, time_ns=0, queue_fill=0.0, ips=0.0, drops=0))
    moves = play_round(state, motion(state, "pi0"), CONFIG.game, layouts, MASTER)
    [(_, run)] = moves.starts
    assert run.epoch == run.table.epoch == 7_001 and moves.epoch == 7_001
    # An agent of an older epoch does not lower the counter.
    apply(state, moves)
    state.add_heartbeat(Heartbeat(device="pi0", epoch=3, time_ns=0, queue_fill=0.0, ips=0.0, drops=0))
    assert state.epoch == 7_001


def test_a_master_started_later_counts_epochs_from_higher() -> None:
    # One epoch per microsecond: a master started 2 ms after another that played 1000 rounds starts above it.
    first = epoch_base()
    time.sleep(0.002)
    assert epoch_base() >= first + 2000 and first > 1_700_000_000 * 10**6, "microseconds since 1970"
