"""Seat engines exchanging values in shuffled order give the stream reference's results tag by tag."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from orchestrator.master import bind, partition_plan
from orchestrator.planner import plan_model
from orchestrator.profile import Profile
from orchestrator.toolchain import StreamReference, open_model
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.camera import SyntheticCamera, preprocess
from worker.executor import Runner, load_model
from worker.runtime import CAMERA_FRAME, SeatEngine
from worker.wire import Peer, Seat, TaskTable

MODEL = "action-recognition-tiny"
FRAMES = 18


@pytest.fixture(scope="module")
def reference() -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    spec = find_spec(MODEL)
    camera = SyntheticCamera(seed=9)
    frames = [preprocess(camera.read(), spec.input.shape) for _ in range(FRAMES)]
    results = {r.tag: next(iter(r.outputs.values())) for r in StreamReference(build_model(spec)).run(frames)}
    return frames, results


@pytest.fixture(scope="module")
def tables(fc_bound_profile: Profile, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[TaskTable, Path]]:
    model = open_model(MODEL)
    found = []
    for plan in plan_model(model, fc_bound_profile, 8).plans:
        out = tmp_path_factory.mktemp(f"n{plan.n}")
        manifest = partition_plan(plan, model, out)
        devices = [Peer(f"pi{i}", "127.0.0.1", 7100 + i) for i in range(plan.metrics.devices)]
        found.append((bind(plan, manifest, model, devices, "pi0", Peer("m", "127.0.0.1", 7000), 1),
                      out))
    return found


def run(table: TaskTable, directory: Path, frames: list[np.ndarray], seed: int
        ) -> tuple[dict[int, list[np.ndarray]], dict[Seat, SeatEngine]]:
    """Every seat's engine; values delivered in a random order among those in flight."""
    loaded: dict[str, Runner] = {}

    def load(sha: str) -> Runner:
        if sha not in loaded:
            loaded[sha] = load_model(directory / f"{sha}.tflite")
        return loaded[sha]

    engines = {seat: SeatEngine(table, seat, load) for seat in table.seats}
    recorder = table.seat(0, 0, 0)
    rng = random.Random(seed)
    in_flight: list[tuple[Seat, str, int, np.ndarray, int]] = []
    results: dict[int, dict[int, np.ndarray]] = {}
    final_shards = table.sink.shards
    for tag, frame in enumerate(frames):
        pending = engines[recorder].push(CAMERA_FRAME, tag, frame)
        while pending or in_flight:
            for out in pending:
                if out.route is None:
                    assert out.piece not in results.get(out.tag, {}), f"tag {out.tag} piece {out.piece} twice"
                    results.setdefault(out.tag, {})[out.piece] = out.value
                for seat in out.destinations:
                    in_flight.append((seat, out.name, out.tag, out.value, out.piece))
            pending = []
            if in_flight and (rng.random() < 0.7 or tag == len(frames) - 1):
                seat, name, t, value, piece = in_flight.pop(rng.randrange(len(in_flight)))
                pending = engines[seat].push(name, t, value, piece)
            elif in_flight:
                break   # let the next frames in: values of several tags are in flight at once
    joined = {t: [np.concatenate([p[k] for k in range(final_shards)], axis=-1)] for t, p in results.items()}
    return joined, engines


def test_engines_equal_the_reference_tag_by_tag(tables: list[tuple[TaskTable, Path]],
                                                reference: tuple[list[np.ndarray], dict[int, np.ndarray]]) -> None:
    frames, want = reference
    for index, (table, directory) in enumerate(tables):
        got, engines = run(table, directory, frames, seed=index)
        layout = " | ".join(f"{s.name} x{s.replicas} /{s.shards}" for s in table.stages)
        assert sorted(got) == sorted(want), layout
        for tag, value in want.items():
            np.testing.assert_allclose(got[tag][0], value, rtol=1e-5, atol=1e-6, err_msg=layout)
        # Nothing is left waiting: the first tags, whose windows never fill, do not count.
        assert all(engine.waiting() == 0 for engine in engines.values()), layout
        # Each replica ran only its own tags.
        for seat, engine in engines.items():
            stage = table.stages[seat.stage]
            if stage.replicas > 1 and engine.runs:
                assert engine.runs <= len(stage.tasks) * (FRAMES // stage.replicas + 1)


def test_replicas_split_the_work(tables: list[tuple[TaskTable, Path]],
                                 reference: tuple[list[np.ndarray], dict[int, np.ndarray]]) -> None:
    frames, _ = reference
    replicated = [(t, d) for t, d in tables if any(s.replicas > 1 for s in t.stages)]
    assert replicated, "the fc-bound plans replicate some stage"
    table, directory = replicated[-1]
    _, engines = run(table, directory, frames, seed=1)
    for stage in table.stages:
        if stage.replicas > 1:
            runs = [engines[table.seat(stage.index, r, 0)].runs for r in range(stage.replicas)]
            assert all(r > 0 for r in runs) and max(runs) - min(runs) <= len(stage.tasks) * 2, runs


def test_a_bad_value_fails_its_own_tag_only(tables: list[tuple[TaskTable, Path]]) -> None:
    table, directory = tables[0]
    assert len(table.seats) == 1, "the 1-device plan: one seat runs the whole model"
    spec = find_spec(MODEL)
    camera = SyntheticCamera(seed=4)
    frames = [preprocess(camera.read(), spec.input.shape) for _ in range(32)]
    want = {r.tag: next(iter(r.outputs.values())) for r in StreamReference(build_model(spec)).run(frames)}
    bad = 14
    engine = SeatEngine(table, table.seats[0], lambda sha: load_model(directory / f"{sha}.tflite"))
    got: dict[int, np.ndarray] = {}
    failed: list[int] = []
    for tag, frame in enumerate(frames):
        value = frame[..., :1] if tag == bad else frame   # the wrong shape: the model cannot take it
        for out in engine.push(CAMERA_FRAME, tag, value):
            if out.route is None:
                got[out.tag] = out.value
        failed += [t for t, _ in engine.take_failures()]
    assert bad in failed and engine.waiting() == 0
    # Only the tags whose windows (chained: flow, temporal, pyramid) reach the bad frame fail, and
    # at once; every other tag is the reference's.
    reach = table.first_complete_tag(0)
    assert set(got) | set(failed) == set(want) and not set(got) & set(failed)
    assert failed == list(range(bad, bad + reach + 1)) and set(range(bad + reach + 1, 32)) <= set(got), failed
    for tag, value in got.items():
        np.testing.assert_allclose(value, want[tag], rtol=1e-5, atol=1e-6, err_msg=f"tag {tag}")


def test_a_flood_of_far_future_tags_is_refused_and_the_stream_goes_on(tables: list[tuple[TaskTable, Path]]) -> None:
    table, directory = tables[0]
    spec = find_spec(MODEL)
    camera = SyntheticCamera(seed=6)
    frames = [preprocess(camera.read(), spec.input.shape) for _ in range(24)]
    want = {r.tag: next(iter(r.outputs.values())) for r in StreamReference(build_model(spec)).run(frames)}
    engine = SeatEngine(table, table.seats[0], lambda sha: load_model(directory / f"{sha}.tflite"))
    got: dict[int, np.ndarray] = {}
    for tag, frame in enumerate(frames):
        if tag == 10:   # a buggy peer with the secret: 1,000 values of tags the seat cannot hold
            assert all(engine.push(CAMERA_FRAME, 10**6 + k, frame) == [] for k in range(1000))
        got.update((o.tag, o.value) for o in engine.push(CAMERA_FRAME, tag, frame) if o.route is None)
    assert engine.refused == 1000 and engine.waiting() == 0 and not engine.take_failures()
    assert sorted(got) == sorted(want)
    for tag, value in want.items():
        np.testing.assert_allclose(got[tag], value, rtol=1e-5, atol=1e-6, err_msg=f"tag {tag}")
