"""The seating math: sharing devices among streams, seating a plan (against brute force), choosing a plan."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping, Sequence

import pytest

from orchestrator.master._bind import seat_keys
from orchestrator.master._seating import Seating, StreamDemand, choose, seat, share
from orchestrator.planner import Metrics, Plan, Stage, StagePlan, plan_model
from orchestrator.profile import Profile, find_profile
from orchestrator.toolchain import open_model

ANY = tuple(range(1, 21))   # plans for 1..20 devices, each using all of them


def demand(camera: str, priority: int = 0, useful: tuple[int, ...] = ANY) -> StreamDemand:
    return StreamDemand(camera, priority, useful)


def alive(*names: str, **scales: float) -> dict[str, float]:
    return {**dict.fromkeys(names, 1.0), **scales}


DEVICES = [f"d{i}" for i in range(7)]


# Sharing --------------------------------------------------------------------------------------------

def test_equal_split_gives_remainders_to_priority_then_motion_order() -> None:
    devices = alive("c1", "c2", "c3", *DEVICES)
    got = share(devices, [demand("c1"), demand("c2"), demand("c3")], "equal", {})
    assert [len(got[c]) for c in ("c1", "c2", "c3")] == [4, 3, 3]
    got = share(devices, [demand("c1"), demand("c2"), demand("c3", priority=1)], "equal", {})
    assert [len(got[c]) for c in ("c1", "c2", "c3")] == [3, 3, 4]
    assert sorted(d for ds in got.values() for d in ds) == sorted(devices)
    assert all(got[c][0] == c for c in got)


def test_priority_fills_streams_in_turn() -> None:
    devices = alive("c1", "c2", "c3", *DEVICES)
    got = share(devices, [demand("c1"), demand("c2", 1, useful=(1, 2, 3, 4, 5, 5, 5)), demand("c3", 2)],
                "priority", {})
    assert [len(got[c]) for c in ("c3", "c2", "c1")] == [8, 1, 1]
    got = share(devices, [demand("c1"), demand("c2", 1), demand("c3", 2, useful=(1, 2, 3, 4, 4, 4))],
                "priority", {})
    assert [len(got[c]) for c in ("c3", "c2", "c1")] == [4, 5, 1]


def test_cameras_stay_with_their_streams_and_a_dead_camera_gets_nothing() -> None:
    devices = alive("c1", "c2", *DEVICES[:4])
    got = share(devices, [demand("c1"), demand("c2"), demand("c3")], "equal", {"c2": "c1", "c3": "c1"})
    assert got["c3"] == () and got["c2"][0] == "c2" and "c2" not in got["c1"]
    assert len(got["c1"]) == len(got["c2"]) == 3
    # An inactive camera is an ordinary device.
    got = share(alive("c1", "c9"), [demand("c1")], "equal", {})
    assert got == {"c1": ("c1", "c9")}


def test_devices_stay_with_the_stream_they_serve() -> None:
    devices = alive("c1", "c2", *DEVICES[:4])
    current = {"d2": "c2", "d3": "c2", "d0": "c1", "d1": "c1"}
    assert share(devices, [demand("c1"), demand("c2")], "equal", current) == {
        "c1": ("c1", "d0", "d1"), "c2": ("c2", "d2", "d3")}
    # c2 shrinks to make room for c3: it keeps one of its own, the faster; c1 (earlier motion) keeps both.
    devices["d2"] = 1.5
    got = share(devices | {"c3": 1.0}, [demand("c1"), demand("c2"), demand("c3")], "equal", current)
    assert got == {"c1": ("c1", "d0", "d1"), "c2": ("c2", "d3"), "c3": ("c3", "d2")}


def test_new_devices_are_the_fastest_then_by_name() -> None:
    got = share(alive("c1", "b", "a", "z", x=2.0, y=1.5), [demand("c1", useful=(1, 2, 3))], "equal", {})
    assert got == {"c1": ("c1", "a", "b")}


def test_devices_a_stream_cannot_use_go_to_the_others() -> None:
    devices = alive("c1", "c2", *DEVICES)
    got = share(devices, [demand("c1", 5, useful=(1, 2, 2, 2, 2)), demand("c2")], "equal", {})
    assert (len(got["c1"]), len(got["c2"])) == (2, 7)
    # A size whose plan leaves devices idle is skipped: 3 uses 2, so c1 gets 2 or 4.
    got = share(alive("c1", "c2", *DEVICES[:4]), [demand("c1", 1, useful=(1, 2, 2, 4)), demand("c2")],
                "equal", {})
    assert (len(got["c1"]), len(got["c2"])) == (4, 2)
    # Nobody can use the rest: it stays idle.
    got = share(devices, [demand("c1", useful=(1, 2)), demand("c2", useful=(1, 2, 3))], "equal", {})
    assert (len(got["c1"]), len(got["c2"])) == (2, 3)


def test_a_stream_that_needs_several_devices_gets_them_when_others_can_spare() -> None:
    big = (0, 0, 3, 4, 5, 6)
    devices = alive("c1", "c2", "d0", "d1")
    got = share(devices, [demand("c1", 1), demand("c2", useful=big)], "equal", {})
    assert (len(got["c1"]), len(got["c2"])) == (1, 3)
    # Not enough even with c1 on its camera alone: c2 keeps its camera, c1 takes the rest.
    got = share(alive("c1", "c2", "d0"), [demand("c1"), demand("c2", 1, useful=big)], "equal", {})
    assert (len(got["c1"]), len(got["c2"])) == (2, 1)
    # Under priority a higher stream keeps what it can use.
    got = share(devices, [demand("c1", 1), demand("c2", useful=big)], "priority", {})
    assert (len(got["c1"]), len(got["c2"])) == (3, 1)


def test_sharing_is_checked_and_deterministic() -> None:
    with pytest.raises(ValueError, match="policy"):
        share(alive("c1"), [demand("c1")], "random", {})
    with pytest.raises(ValueError, match="one stream per camera"):
        share(alive("c1"), [demand("c1"), demand("c1")], "equal", {})
    rng = random.Random(7)
    for _ in range(50):
        devices = {f"n{i}": rng.choice([1.0, 1.0, 2.0]) for i in range(rng.randint(1, 12))}
        streams = [demand(c, rng.randint(0, 2), tuple(min(k, rng.randint(1, 6)) for k in range(1, 9)))
                   for c in rng.sample(sorted(devices), rng.randint(1, len(devices)))]
        current = {d: rng.choice([s.camera for s in streams]) for d in devices}
        for policy in ("equal", "priority"):
            got = share(devices, streams, policy, current)
            assert got == share(dict(reversed(devices.items())), streams, policy, current)
            used = [d for ds in got.values() for d in ds]
            assert len(used) == len(set(used)) and all(got[s.camera][0] == s.camera for s in streams)


# Seating --------------------------------------------------------------------------------------------

def fake_plan(stages: Sequence[tuple[float, int, int]]) -> Plan:
    """A plan with these (busy_s, replicas, shards) stages, the first the recorder's."""
    details = tuple(StagePlan(f"s{i}", (f"u{i}",), (("b", f"u{i}", f"u{i}"),), r, k, i == 0, busy, busy,
                              0.0, 0.0, 0.0) for i, (busy, r, k) in enumerate(stages))
    period = max(busy for busy, _, _ in stages)
    devices = sum(r * k for _, r, k in stages)
    metrics = Metrics(1 / period, period, period, 0.0, 0.0, 0.0, 0.0, 0.0, devices, "s")
    return Plan(devices, "fake", tuple(Stage(i, i, r, k) for i, (_, r, k) in enumerate(stages)), details, metrics)


def artifacts(plan: Plan) -> list[frozenset[str]]:
    """One artifact per stage and shard: replicas share theirs."""
    return [frozenset({f"{plan.details[stage].name}#{shard}"}) for stage, _, shard in seat_keys(plan)]


def sizes_of(*plans: Plan) -> dict[str, int]:
    names = sorted({a for plan in plans for seat_set in artifacts(plan) for a in seat_set})
    return {a: 1000 + 10 * i for i, a in enumerate(names)}


@pytest.fixture(scope="module")
def fc_plans(fc_bound_profile: Profile) -> dict[int, Plan]:
    """action-recognition-tiny, compute bound: 8 devices are recorder, 2 CNNs, pyramid_s, dense1 /3, dense2."""
    found = plan_model(open_model("action-recognition-tiny"), fc_bound_profile, 8)
    return {p.n: p for p in found.plans if p is not None}


@pytest.fixture(scope="module")
def replica_plans() -> dict[int, Plan]:
    """alexnet-tiny on rpi3 without the camera's limit: the recorder, then replicas of the whole net."""
    found = plan_model(open_model("alexnet-tiny"), find_profile("rpi3"), 6, fps=1000)
    return {p.n: p for p in found.plans if p is not None}


def seat_plan(plan: Plan, devices: Sequence[str], held: Mapping[str, frozenset[str]] | None = None,
              scales: Mapping[str, float] | None = None) -> Seating:
    return seat(plan, devices, artifacts(plan), held or {}, sizes_of(plan), scales or {})


def test_seat_order_is_the_bind_order(fc_plans: dict[int, Plan]) -> None:
    plan = fc_plans[8]
    assert plan.layout().endswith("pyramid_s | pyramid_t..dense1 /3 | dense2..softmax")
    assert seat_keys(plan) == [(0, 0, 0), (1, 0, 0), (2, 0, 0), (3, 0, 0), (4, 0, 0), (4, 0, 1), (4, 0, 2),
                               (5, 0, 0)]
    assert seat_keys(plan.details) == seat_keys(plan)


def test_recorder_is_fixed_and_holders_keep_their_seats(fc_plans: dict[int, Plan]) -> None:
    plan = fc_plans[8]
    devices = [f"pi{i}" for i in range(8)]
    seats = artifacts(plan)
    # pi5 already holds seat 0's and seat 4's artifacts: it cannot take seat 0 (pi0 records).
    held = {"pi5": seats[0] | seats[4], "pi1": seats[7]}
    got = seat_plan(plan, devices, held)
    assert got.order[0] == "pi0" and got.order[4] == "pi5" and got.order[7] == "pi1"
    sizes = sizes_of(plan)
    assert got.bytes_to_load == sum(sizes.values()) - sizes[next(iter(seats[4]))] - sizes[next(iter(seats[7]))]
    assert got.loads == 6 and sorted(got.order) == devices
    assert got.period_s == max(d.busy_s for d in plan.details)


def test_a_slowed_device_gets_the_lightest_seat(fc_plans: dict[int, Plan]) -> None:
    plan = fc_plans[8]
    busy = [plan.details[stage].busy_s for stage, _, _ in seat_keys(plan)]
    light = min(range(1, 8), key=lambda i: busy[i])
    assert 2.5 * busy[light] < max(busy) < 2.5 * sorted(busy[1:])[1]
    for slowed in ("pi1", "pi4", "pi7"):
        got = seat_plan(plan, [f"pi{i}" for i in range(8)], scales={slowed: 2.5})
        assert got.order[light] == slowed and got.period_s == max(busy)


def test_more_devices_than_seats_leaves_the_slowest_out(fc_plans: dict[int, Plan]) -> None:
    plan = fc_plans[8]
    devices = [f"pi{i}" for i in range(10)]
    got = seat_plan(plan, devices, scales={"pi2": 3.0, "pi6": 2.5})
    assert len(got.order) == 8 and not {"pi2", "pi6"} & set(got.order)
    with pytest.raises(ValueError, match="8 seats, only 7 devices"):
        seat_plan(plan, devices[:7])


def brute_force(plan: Plan, devices: Sequence[str], seats: Sequence[frozenset[str]],
                held: Mapping[str, frozenset[str]], sizes: Mapping[str, int],
                scales: Mapping[str, float]) -> tuple[float, int, int]:
    busy = [plan.details[stage].busy_s for stage, _, _ in seat_keys(plan)]

    def figures(order: Sequence[str]) -> tuple[float, int, int]:
        loads = [sum(sizes[a] for a in need - held.get(d, frozenset())) for need, d in zip(seats, order)]
        return (max(b * scales.get(d, 1.0) for b, d in zip(busy, order)), sum(loads),
                sum(1 for x in loads if x))

    return min(figures((devices[0], *rest)) for rest in itertools.permutations(devices[1:], len(seats) - 1))


def test_seating_matches_brute_force_on_random_cases() -> None:
    rng = random.Random(2024)
    pool = [f"w{i}" for i in range(6)]
    sizes = {a: rng.choice([100, 250, 400, 1000]) for a in pool}
    for _ in range(300):
        stages, target = [(rng.choice([0.01, 0.02, 0.03]), 1, 1)], rng.randint(1, 6)
        while sum(r * k for _, r, k in stages) < target:
            stages.append((rng.choice([0.01, 0.02, 0.03, 0.05]), rng.randint(1, 2), rng.randint(1, 2)))
        plan = fake_plan(stages)
        n_seats = len(seat_keys(plan))
        if n_seats > 6:
            continue
        devices = [f"pi{i}" for i in range(n_seats + rng.randint(0, 2))]
        seats = [frozenset(rng.sample(pool, rng.randint(0, 2))) for _ in range(n_seats)]
        held = {d: frozenset(rng.sample(pool, rng.randint(0, 3))) for d in devices}
        scales = {d: rng.choice([1.0, 1.0, 1.5, 2.0, 3.0]) for d in devices}
        got = seat(plan, devices, seats, held, sizes, scales)
        assert (got.period_s, got.bytes_to_load, got.loads) == brute_force(plan, devices, seats, held, sizes,
                                                                           scales)
        assert got.order[0] == devices[0] and len(set(got.order)) == n_seats


# Choosing a plan ------------------------------------------------------------------------------------

def recording(plans: Mapping[int, Plan]) -> tuple[Callable[[int], Plan | None], list[int]]:
    calls: list[int] = []

    def plan_for(k: int) -> Plan | None:
        calls.append(k)
        return plans.get(k)
    return plan_for, calls


def test_at_full_speed_only_the_plan_for_n_is_seated(replica_plans: dict[int, Plan]) -> None:
    plan_for, calls = recording(replica_plans)
    devices = [f"pi{i}" for i in range(5)]
    got = choose(devices, plan_for, artifacts, {}, sizes_of(replica_plans[5]), {})
    assert calls == [5] and got is not None and got.plan is replica_plans[5]
    assert got.ips == pytest.approx(replica_plans[5].metrics.ips)


def test_a_slowed_device_is_left_out_when_that_is_faster(replica_plans: dict[int, Plan]) -> None:
    plan_for, calls = recording(replica_plans)
    devices = ["pi0", "pi1", "pi2", "pi3"]
    got = choose(devices, plan_for, artifacts, {}, sizes_of(*replica_plans.values()), {"pi3": 3.0})
    assert sorted(calls) == [1, 2, 3, 4] and got is not None
    assert got.plan is replica_plans[3] and "pi3" not in got.seating.order
    assert got.ips == pytest.approx(replica_plans[3].metrics.ips)
    assert got.ips > 1.5 * replica_plans[4].metrics.ips / 3   # plan 4 would seat pi3 on a replica


def test_a_slowed_device_takes_a_light_seat_when_that_is_faster() -> None:
    # Three devices: a heavy and a light stage; two: one stage a little slower than the heavy one.
    plans = {3: fake_plan([(0.01, 1, 1), (0.03, 1, 1), (0.005, 1, 1)]), 2: fake_plan([(0.01, 1, 1), (0.035, 1, 1)])}
    sizes = sizes_of(*plans.values())
    got = choose(["rec", "a", "b"], plans.get, artifacts, {}, sizes, {"a": 3.0})
    assert got is not None and got.plan is plans[3] and got.seating.order == ("rec", "b", "a")
    assert got.ips == pytest.approx(1 / 0.03)
    # Within 2% of the best throughput, the plan whose weights are already there wins.
    plans[2] = fake_plan([(0.01, 1, 1), (0.0302, 1, 1)])
    held = {"b": frozenset({"s1#0"}), "rec": frozenset({"s0#0"})}
    got = choose(["rec", "a", "b"], plans.get, artifacts, held, sizes, {"a": 3.0})
    assert got is not None and got.plan is plans[2] and got.seating.bytes_to_load == 0
    assert choose(["rec"], {}.get, artifacts, {}, {}, {}) is None
