"""One interface over both algorithms: a model and a profile in, a PlanSet for n = 1..n_max out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from worker.cluster import CodecSettings
from worker.errors import UserError

from ..profile import Profile
from ..toolchain.model import Model
from ._codec_facts import codec_facts
from ._cost import CostModel, Solution, Stage
from ._optimal import optimal_solutions
from ._paper import paper_stages
from ._plan import Plan, PlanSet, make_plan
from ._problem import DEFAULT_MAX_SHARDS, Problem, build_problem

Algorithm = Callable[[CostModel, int, "float | None"], list["Solution | None"]]


def _paper(cost: CostModel, n_max: int, latency_bound: float | None) -> list[Solution | None]:
    """Algorithm 1's stages for every n (it proves nothing about them)."""
    return [Solution(s) if s else None for s in paper_stages(cost, n_max, latency_bound)]


ALGORITHMS: dict[str, Algorithm] = {"paper": _paper, "optimal": optimal_solutions}
log = logging.getLogger("mchair.planner")


def plan_problem(problem: Problem, n_max: int, algorithm: str = "optimal",
                 latency_bound: float | None = None) -> PlanSet:
    """Plans for n = 1..n_max of an already built problem."""
    if algorithm not in ALGORITHMS:
        raise UserError(f"--algorithm {algorithm}: expected one of {', '.join(ALGORITHMS)}")
    if n_max < 1:
        raise UserError(f"--devices {n_max}: expected at least 1")
    cost = CostModel(problem)
    chosen = ALGORITHMS[algorithm](cost, n_max, latency_bound)
    plans = tuple(_within_budget(problem, _make(cost, n, algorithm, s), algorithm, latency_bound) if s else None
                  for n, s in enumerate(chosen, 1))
    reasons = tuple("" if p else _why_not(cost, n, latency_bound) for n, p in enumerate(plans, 1))
    return PlanSet(problem.model, problem.profile.name, algorithm, n_max, latency_bound, problem.memory_bytes,
                   plans, reasons)


def _within_budget(problem: Problem, plan: Plan, algorithm: str, latency_bound: float | None) -> Plan:
    """``plan``, or one re-planned with less error per cut when its cuts' errors add up past the budget."""
    budget = problem.codecs.error_budget
    for attempt in range(4):
        if plan.error <= budget * (1 + 1e-9):
            return plan
        # Each cut was allowed the whole budget; several lossy cuts add up (to first order): shrink
        # the share per cut in proportion, and at the last attempt allow lossless codecs only.
        share = budget * budget / plan.error * 0.999 if attempt < 3 else 0.0
        cost = CostModel(problem, share)
        found = ALGORITHMS[algorithm](cost, plan.n, latency_bound)[plan.n - 1]
        if found is None:
            break
        plan = _make(cost, plan.n, algorithm, found)
    return plan


def _make(cost: CostModel, n: int, algorithm: str, found: Solution) -> Plan:
    """The plan of ``found``, each stage's inputs raw where the cut's codec would slow the plan."""
    stages: tuple[Stage, ...] = found.stages
    if cost.p.codec_facts is not None:
        stages = cost.refine_codecs(stages)
    plan = make_plan(cost, n, algorithm, stages)
    # Sending a cut raw is outside the space the bound covers: a plan it speeds up is its own bound.
    return replace(plan, bound_ips=max(found.bound_ips, plan.metrics.ips))


def plan_model(model: Model, profile: Profile, n_max: int, algorithm: str = "optimal",
               latency_bound: float | None = None, memory_mb: float | None = None,
               max_shards: int = DEFAULT_MAX_SHARDS, fps: float | None = None,
               codecs: CodecSettings | None = None, progress: bool = True) -> PlanSet:
    """Plans for n = 1..n_max of ``model`` (as the toolchain loaded it) on the profiled device type.

    ``codecs``: the codecs links may use and the output error budget (default: raw everywhere); the
    codecs' bytes and errors on this model are measured (and cached) first, with progress on stderr.
    """
    problem = build_problem(model, profile, memory_mb, max_shards, fps)
    if codecs is not None:
        untimed = [c for c in codecs.choose if c != "raw" and c not in profile.codecs]
        if untimed:
            log.warning("profile %s has no encode/decode time for %s: the planner will not use them "
                        "(`mchair profile MODEL` on the device measures them)", profile.name, ", ".join(untimed))
            codecs = replace(codecs, choose=tuple(c for c in codecs.choose if c not in untimed) or ("raw",))
        if codecs.choose != ("raw",):
            problem = replace(problem, codecs=codecs, codec_facts=codec_facts(problem, model, codecs, progress))
    return plan_problem(problem, n_max, algorithm, latency_bound)


def _why_not(cost: CostModel, n: int, latency_bound: float | None) -> str:
    """Why no plan exists for ``n`` devices: a layer too big, too few devices, or the latency bound."""
    units = cost.p.units
    mb = cost.p.memory_bytes / 1e6
    base = cost.p.profile.memory.base_mb
    if mb <= base:
        return f"a device's {mb:g} MB do not even hold the agent ({base:g} MB in profile {cost.p.profile.name})"
    for i, u in enumerate(units):
        if not any(cost.segment(i, i + 1, k).valid for k in range(1, u.max_shards + 1)):
            split = f" even split {u.max_shards} ways" if u.max_shards > 1 else ""
            return f"layer {u.name} needs more than the {mb:.0f} MB a device has{split}"
    fewest = _fewest_devices(cost)
    if fewest > n:
        big = [u.name for i, u in enumerate(units) if not cost.segment(i, i + 1, 1).valid]
        why = f" ({', '.join(big)} must be split to fit {mb:.0f} MB)" if big else ""
        return f"needs at least {fewest} devices{why}"
    if latency_bound is not None:
        return f"no plan on {n} devices meets the latency bound of {latency_bound:g} s"
    return f"no plan on {n} devices"


def _fewest_devices(cost: CostModel) -> int:
    """The fewest devices any plan needs, however slow."""
    if cost.segment(0, cost.m, 1).valid:
        return 1        # (and no search over every segment of a deep model)
    inf = 10**9
    best = [0] + [inf] * cost.m
    for i in range(1, cost.m + 1):
        for j in range(i):
            for k in range(1, (cost.p.units[i - 1].max_shards if j else 1) + 1):
                if best[j] + k < best[i] and cost.segment(j, i, k).valid:
                    best[i] = best[j] + k
    return best[cost.m]


__all__ = ["ALGORITHMS", "plan_model", "plan_problem"]
