"""Binding plans to devices: the task table is complete, routes match inputs, seats match the plan,
and running the table's dataflow in one process gives the stream reference's results tag by tag."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import fastavro
import numpy as np
import pytest

from orchestrator.master import bind, partition_plan
from orchestrator.master._bind import seat_artifacts
from orchestrator.planner import Plan, plan_model
from orchestrator.profile import Profile, find_profile
from orchestrator.toolchain import StreamReference, open_model
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.agent import artifacts_of
from worker.camera import SyntheticCamera, preprocess
from worker.errors import UserError
from worker.executor import Runner, load_model
from worker.stream import Window, builtin_step
from worker.wire import Peer, TaskTable

ROOT = Path(__file__).resolve().parents[3]
MODEL = "action-recognition-tiny"
MASTER = Peer("master", "127.0.0.1", 7000)


@pytest.fixture(scope="module")
def plans(fc_bound_profile: Profile) -> list[Plan]:
    found = plan_model(open_model(MODEL), fc_bound_profile, 8)
    return [p for p in found.plans if p is not None]


def peers(n: int) -> list[Peer]:
    return [Peer(f"pi{i}", "127.0.0.1", 7100 + i) for i in range(n)]


def table_of(plan: Plan, out: Path, recorder: str = "pi0") -> TaskTable:
    model = open_model(MODEL)
    manifest = partition_plan(plan, model, out)
    return bind(plan, manifest, model, peers(plan.metrics.devices), recorder, MASTER, epoch=3)


def test_tables_are_complete_and_consistent(plans: list[Plan], tmp_path: Path) -> None:
    assert any(p.metrics.devices > 3 for p in plans)
    for plan in plans:
        table = table_of(plan, tmp_path / f"n{plan.n}")
        assert table.epoch == 3 and table.stream == "pi0" and len(table.stages) == len(plan.details)
        # Seats: replicas x shards per stage, one device each, the recorder's on the recording device.
        assert len(table.seats) == plan.metrics.devices == len({s.device for s in table.seats})
        assert table.seats_of("pi0") == (table.seat(0, 0, 0),)
        for stage, detail in zip(table.stages, plan.details):
            assert (stage.replicas, stage.shards) == (detail.replicas, detail.shards)
            assert sum(1 for s in table.seats if s.stage == stage.index) == detail.devices
            assert len(stage.shard_sha256) == (stage.shards if stage.shards > 1 else 0)
            for sha in (*stage.shard_sha256, *(t.sha256 for t in stage.tasks if t.sha256)):
                assert (tmp_path / f"n{plan.n}" / f"{sha}.tflite").exists()
            # Every tensor a task reads comes from an earlier task of the stage or from a feed.
            known = {"camera/frame"} if stage.recorder else set()
            feeds = {i.name for i in stage.inputs}
            for task in stage.tasks:
                assert all(name in known or name in feeds for name in task.inputs), (stage.name, task)
                known.update(task.outputs)
            # Every received input has a route from its producer, with the consumer's window.
            for i in stage.inputs:
                if i.source != stage.index:
                    assert any(r.name == i.sent_as and r.stage == stage.index and r.window == i.window
                               for r in table.stages[i.source].routes)
                    assert i.pieces == table.stages[i.source].shards
        assert {r for s in table.stages for r in s.results} == {"fusion/softmax"}


def test_task_table_round_trips_through_its_avro_schema(plans: list[Plan], tmp_path: Path) -> None:
    schema = fastavro.parse_schema(json.loads((ROOT / "worker/wire/schemas/TaskTable.avsc").read_text()))
    table = table_of(plans[-1], tmp_path)
    record = dataclasses.asdict(table)
    out = tmp_path / "table.avro"
    with out.open("wb") as f:
        fastavro.writer(f, schema, [record])
    with out.open("rb") as f:
        (back,) = list(fastavro.reader(f))
    assert back["stages"][1]["tasks"][0]["inputs"] == list(table.stages[1].tasks[0].inputs)
    assert back["seats"] == [dataclasses.asdict(s) for s in table.seats]


def test_destinations_follow_replicas_windows_and_shards(plans: list[Plan], tmp_path: Path) -> None:
    table = table_of(plans[-1], tmp_path)
    for stage in table.stages:
        for route in stage.routes:
            to = table.stages[route.stage]
            for tag in range(6):
                seats = table.destinations(route, tag)
                replicas = {s.replica for s in seats}
                assert table.owner(route.stage, tag) in replicas
                assert len(replicas) == min(route.window, to.replicas)
                assert len(seats) == len(replicas) * to.shards


def test_seat_artifacts_of_a_plan_are_those_its_bound_table_loads(plans: list[Plan], tmp_path: Path) -> None:
    """What the master expects each seat to hold (plan + manifest) is what the agents load (the table)."""
    model = open_model(MODEL)
    assert any(d.shards > 1 for p in plans for d in p.details), "expected a plan with a split stage"
    for plan in plans:
        manifest = partition_plan(plan, model, tmp_path / f"n{plan.n}")
        table = bind(plan, manifest, model, peers(plan.metrics.devices), "pi0", MASTER, epoch=1)
        assert seat_artifacts(plan, manifest) == [frozenset(artifacts_of(table, s)) for s in table.seats], \
            plan.layout()


def test_bind_refuses_too_few_devices_and_an_unknown_recorder(plans: list[Plan], tmp_path: Path) -> None:
    plan = plans[-1]
    model = open_model(MODEL)
    manifest = partition_plan(plan, model, tmp_path)
    with pytest.raises(UserError, match="needs"):
        bind(plan, manifest, model, peers(plan.metrics.devices - 1), "pi0", MASTER, 1)
    with pytest.raises(UserError, match="recorder 'cam9'"):
        bind(plan, manifest, model, peers(plan.metrics.devices), "cam9", MASTER, 1)


def run_table(table: TaskTable, directory: Path, frames: list[np.ndarray]) -> dict[int, dict[str, np.ndarray]]:
    """The table's dataflow in one process: every task fires for a tag once its inputs (and windows)
    are there; split tasks run every shard and concatenate. Replicas do not change values."""
    runners: dict[str, Runner] = {}

    def runner(sha: str) -> Runner:
        if sha not in runners:
            runners[sha] = load_model(directory / f"{sha}.tflite")
        return runners[sha]

    store: dict[str, dict[int, np.ndarray]] = {}
    results: dict[int, dict[str, np.ndarray]] = {}
    for tag, frame in enumerate(frames):
        store.setdefault("camera/frame", {})[tag] = frame
        for stage in table.stages:
            feeds = {i.name: i for i in stage.inputs}
            for task in stage.tasks:
                values = []
                for name in task.inputs:
                    feed = feeds.get(name)
                    source = store.get(feed.sent_as if feed else name, {})
                    if feed is None or feed.window == 1:
                        values.append(source.get(tag))
                        continue
                    window = [source[t] for t in sorted(source) if t <= tag][-feed.window:]
                    ok = tag in source and len(window) == feed.window
                    values.append(Window(feed.window, feed.stride, feed.mode).assemble(window) if ok else None)
                if any(v is None for v in values):
                    continue
                if task.builtin:
                    outputs = [builtin_step(task.builtin)(values)]
                else:
                    shas = stage.shard_sha256 if stage.shard_sha256 and task.sha256 == stage.shard_sha256[0] \
                        else (task.sha256,)
                    pieces = []
                    for sha in shas:
                        r = runner(sha)
                        got = r.run({spec.name: v for spec, v in zip(r.inputs, values)})
                        pieces.append([got[spec.name] for spec in r.outputs])
                    outputs = [np.concatenate(p, axis=-1) for p in zip(*pieces)]
                for name, value in zip(task.outputs, outputs):
                    store.setdefault(name, {})[tag] = value
                    if name in stage.results:
                        results.setdefault(tag, {})[name] = value
    return results


def test_running_the_table_equals_the_stream_reference(plans: list[Plan], tmp_path: Path) -> None:
    spec = find_spec(MODEL)
    camera = SyntheticCamera(seed=4)
    frames = [preprocess(camera.read(), spec.input.shape) for _ in range(16)]
    reference = {r.tag: r.outputs for r in StreamReference(build_model(spec)).run(frames)}
    assert reference, "the reference produced results"
    for plan in {p.metrics.devices: p for p in plans}.values():
        table = table_of(plan, tmp_path / f"n{plan.n}")
        got = run_table(table, tmp_path / f"n{plan.n}", frames)
        assert sorted(got) == sorted(reference), plan.layout()
        for tag, outputs in reference.items():
            (want,) = outputs.values()
            np.testing.assert_allclose(got[tag]["fusion/softmax"], want, rtol=1e-5, atol=1e-6, err_msg=plan.layout())


def test_a_model_whose_input_is_not_called_frame(fc_bound_profile: Profile, tmp_path: Path) -> None:
    """alexnet's input is `image`: the camera's tensor is still the recorder's camera/frame."""
    model = open_model("alexnet-tiny")
    spec = model.spec
    assert spec is not None
    camera = SyntheticCamera(seed=2)
    frames = [preprocess(camera.read(), spec.input.shape) for _ in range(4)]
    reference = {r.tag: next(iter(r.outputs.values())) for r in StreamReference(build_model(spec)).run(frames)}
    for plan in plan_model(model, fc_bound_profile, 4).plans:
        out = tmp_path / f"n{plan.n}"
        manifest = partition_plan(plan, model, out)
        table = bind(plan, manifest, model, peers(plan.metrics.devices), "pi0", MASTER, epoch=1)
        got = run_table(table, out, frames)
        assert sorted(got) == sorted(reference)
        for tag, want in reference.items():
            np.testing.assert_allclose(next(iter(got[tag].values())), want, rtol=1e-5, atol=1e-6)


def test_a_tflite_file_binds_and_equals_the_whole_file(third_party: Callable[[str], Path], tmp_path: Path) -> None:
    """A .tflite's inputs, whatever they are called, are the camera's frame on every plan."""
    path = third_party("face_detection_short_range")
    model = open_model(path)
    camera = SyntheticCamera(seed=1)
    frames = [preprocess(camera.read(), model.input.shape) for _ in range(2)]
    whole = load_model(path)
    plans = [p for p in plan_model(model, find_profile("rpi3"), 3).plans if p is not None]
    assert len({p.layout() for p in plans}) > 1, "expected plans that cut the file"
    for plan in plans:
        out = tmp_path / f"n{plan.n}"
        table = bind(plan, partition_plan(plan, model, out), model, peers(plan.metrics.devices), "pi0", MASTER, 1)
        got = run_table(table, out, frames)
        assert sorted(got) == [0, 1], plan.layout()
        for tag, frame in enumerate(frames):
            for name, want in whole.run({whole.inputs[0].name: frame}).items():
                np.testing.assert_allclose(got[tag][f"{path.stem}/{name}"], want, rtol=1e-5, atol=1e-6)
