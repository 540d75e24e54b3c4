"""Seat labels on the wire, and the checks a task table from the network must pass before it is used."""

from __future__ import annotations

import re

from worker.wire import Assign, Seat, TaskTable

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_LABEL = re.compile(r"^(?P<device>.+):(?P<stage>\d+)\.(?P<replica>\d+)\.(?P<shard>\d+)$")
MAX_FRAME_VALUES = 64 * 1024 * 1024  # a frame_shape larger than this is a lie, not a camera


def seat_label(seat: Seat) -> str:
    """The seat as TensorBatch.source / AlmostFull.seat / Resume.seat name it: ``device:stage.replica.shard``."""
    return f"{seat.device}:{seat.stage}.{seat.replica}.{seat.shard}"


def parse_seat_label(label: str) -> Seat | None:
    """The seat a label names, or None when it is not a seat label."""
    match = _LABEL.match(label)
    if match is None:
        return None
    return Seat(match["device"], int(match["stage"]), int(match["replica"]), int(match["shard"]))


def is_sha256(text: str) -> bool:
    """True for 64 lower-case hex digits (artifact names become file names: nothing else may pass)."""
    return bool(_SHA256.match(text))


def why_not_seated(table: TaskTable, device: str) -> str:
    """Why ``table`` cannot be run by ``device`` ('' when it can): checked before any file or engine is made."""
    if table.fps <= 0:
        return f"fps {table.fps} is not positive"
    if len(table.frame_shape) != 4 or any(d <= 0 for d in table.frame_shape):
        return f"frame_shape {list(table.frame_shape)} is not [1, H, W, C]"
    size = 1
    for d in table.frame_shape:
        size *= d
    if size > MAX_FRAME_VALUES:
        return f"frame_shape {list(table.frame_shape)} is too large"
    if not 0 < table.almost_full < table.buffer:
        return f"almost_full {table.almost_full} is not between 0 and buffer {table.buffer}"
    for index, stage in enumerate(table.stages):
        if stage.index != index or stage.replicas < 1 or stage.shards < 1:
            return f"stage {index} ({stage.name}) is malformed"
        shas = [t.sha256 for t in stage.tasks if t.sha256] + list(stage.shard_sha256)
        bad = [s for s in shas if not is_sha256(s)]
        if bad:
            return f"stage {index}: artifact name {bad[0][:80]!r} is not a sha256"
        if stage.shard_sha256 and len(stage.shard_sha256) != stage.shards:
            return f"stage {index}: {len(stage.shard_sha256)} shard artifacts for {stage.shards} shards"
        for route in stage.routes:
            if not 0 <= route.stage < len(table.stages):
                return f"stage {index}: route to unknown stage {route.stage}"
        for feed in stage.inputs:
            if not 0 <= feed.source < len(table.stages) or feed.window < 1 or feed.pieces < 1:
                return f"stage {index}: input {feed.name} is malformed"
    for seat in table.seats:
        if not 0 <= seat.stage < len(table.stages):
            return f"seat {seat_label(seat)} is on an unknown stage"
        stage = table.stages[seat.stage]
        if not (0 <= seat.replica < stage.replicas and 0 <= seat.shard < stage.shards):
            return f"seat {seat_label(seat)} is outside its stage's replicas x shards"
    names = {p.device for p in table.devices}
    missing = sorted({s.device for s in table.seats} - names)
    if missing:
        return f"devices {missing} have seats but no address"
    places = [(s.stage, s.replica, s.shard) for s in table.seats]
    if len(set(places)) != len(places):
        return "a seat is taken twice"
    wanted = sum(s.replicas * s.shards for s in table.stages)
    if len(places) != wanted:
        # destinations() looks up every replica x shard of a stage: each must have a device.
        return f"{len(places)} seats for the {wanted} places of the stages"
    return ""


def why_not_assigned(message: Assign, device: str, has_camera: bool) -> str:
    """Why ``device`` (with a camera or not) cannot take ``message`` ('' when it can)."""
    table = message.table
    if table.epoch != message.epoch:
        return f"table of epoch {table.epoch} in an Assign of {message.epoch}"
    reason = why_not_seated(table, device)
    if not reason and not has_camera and any(table.stages[s.stage].recorder for s in table.seats_of(device)):
        reason = f"{device} has no camera to record {table.stream}"
    return reason


def artifacts_of(table: TaskTable, seat: Seat) -> list[str]:
    """The artifacts ``seat`` runs (its shard's for the split task), as SeatEngine loads them."""
    stage = table.stages[seat.stage]
    out = []
    for task in stage.tasks:
        sha = task.sha256
        if stage.shard_sha256 and sha == stage.shard_sha256[0]:
            sha = stage.shard_sha256[seat.shard]
        if sha:
            out.append(sha)
    return out


__all__ = ["artifacts_of", "why_not_assigned", "is_sha256", "parse_seat_label", "seat_label", "why_not_seated"]
