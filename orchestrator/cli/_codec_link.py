"""``mchair bench codec``'s second part: a plan with and without codecs on a slow shared link.

The profile's link is replaced by a shared medium of ``--link-mbps`` (the paper's Wi-Fi: 62 Mbps),
the model is planned for ``--link-devices`` devices without codecs and with them (under the error
budget), and three plans run on a local cluster whose agents cap what they send at that rate
(``agent.send_mbps``: one pace for all of an agent's peers): the planner's without codecs, the
codec plan's layout sent raw, and the codec plan. Planned and measured IPS, bytes on the links
and the output error against the uncompressed reference make the table.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from worker.cluster import CodecSettings
from worker.errors import UserError

from ..master import LocalCluster, Report, Verdict, async_run, verify_runs
from ..planner import CostModel, PlanSet, build_problem, codec_facts, make_plan, plan_problem
from ..profile import LinkModel, Profile, find_profile
from ..toolchain.model import open_model
from ..toolchain.spec import ModelSpec
from ..toolchain.zoo import build_model, find_spec
from ._codec_args import codec_section
from ._table import format_table


@dataclass(frozen=True)
class LinkRun:
    """One plan on the capped link: planned and measured."""

    label: str
    layout: str
    codecs: str                # the codec of each stage's inputs
    ips_planned: float
    ips_measured: float
    error_planned: float       # the plan's summed per-cut errors
    error_measured: float      # largest relative error of the results against the reference
    checked: int
    sent_mb_per_s: float       # tensor bytes the agents sent (heartbeats), per second
    raw_mb_per_s: float        # the same tensors before encoding


def shared_link(profile: Profile, mbps: float) -> Profile:
    """``profile`` on a shared medium of ``mbps`` (its latency kept)."""
    return replace(profile, link=LinkModel(8 / (mbps * 1e6), profile.link.latency_s, "shared", mbps,
                                           f"emulated: {mbps:g} Mbps shared medium"))


def link_plans(model: str, profile: Profile, devices: int, codecs: CodecSettings) -> list[tuple[str, PlanSet]]:
    """The plan sets to run: the planner's without codecs, the codec plan's layout sent raw, the codec plan."""
    loaded = open_model(model)
    problem = build_problem(loaded, profile)
    raw = plan_problem(problem, devices)
    coded = plan_problem(replace(problem, codecs=codecs, codec_facts=codec_facts(problem, loaded, codecs)), devices)
    best = coded.plan(devices)
    if raw.plan(devices) is None or best is None:
        raise UserError(f"--link-model {model}: no plan for {devices} devices on profile {profile.name}")
    # The same layout without codecs: what the codecs themselves buy on that layout.
    same = make_plan(CostModel(problem), devices, best.algorithm, best.stages)
    forced = replace(coded, plans=tuple(same if p is best else p for p in coded.plans))
    return [("planner, raw only", raw), ("codec layout, raw", forced), ("codec layout, codecs", coded)]


def run_link_benchmark(model: str, profile_name: str, devices: int, mbps: float, seconds: float,
                       codecs: CodecSettings, work_dir: Path) -> list[LinkRun]:
    """Each plan of ``link_plans`` on ``devices`` local agents that send at most ``mbps``, verified."""
    spec = find_spec(model)
    build_model(spec)
    profile = shared_link(find_profile(profile_name), mbps)
    chosen = link_plans(model, profile, devices, codecs)
    runs = []
    for step, (label, plans) in enumerate(chosen, 1):
        plan = plans.plan(devices)
        assert plan is not None   # checked by link_plans
        stage_codecs = ", ".join(d.codec for d in plan.details[1:]) or "-"
        print(f"[link {step}/{len(chosen)}] {label}: {plan.layout()} ({stage_codecs}), planned "
              f"{plan.metrics.ips:.1f} IPS; {devices} agents sending <= {mbps:g} Mbps, {seconds:g} s ...",
              file=sys.stderr, flush=True)
        settings = codecs if step == len(chosen) else CodecSettings()
        sent, raw, report, verdict = asyncio.run(_measure(model, spec, profile, devices, mbps, seconds, settings,
                                                          plans, work_dir / f"run{step}"))
        if not verdict.ok:
            raise UserError(f"{label}: {verdict.checked - verdict.equal} of {verdict.checked} results outside the "
                            f"error budget {settings.error_budget:g} (largest relative error {verdict.worst:.2g})")
        span = report.seconds or seconds
        runs.append(LinkRun(label, plan.layout(), stage_codecs, plan.metrics.ips, report.ips, plan.error,
                            verdict.worst, verdict.checked, sent / span / 1e6, raw / span / 1e6))
    return runs


async def _measure(model: str, spec: ModelSpec, profile: Profile, devices: int, mbps: float, seconds: float,
                   settings: CodecSettings, plans: PlanSet, work_dir: Path) -> tuple[int, int, Report, Verdict]:
    """Run ``plans`` on a fresh local cluster: link bytes sent and raw, the run's report, its verdict."""
    local = LocalCluster(work_dir, devices, settings={
        "motion": {"enabled": False}, "agent": {"send_mbps": mbps},
        "codecs": codec_section(settings)})
    master, found = await local.async_start_with_master(model, profile, plans=plans)
    try:
        report = await async_run(master, found, local.recorder, seconds)
        await asyncio.sleep(1.5)   # one more heartbeat: the recorder's last frame numbers, the last link bytes
    finally:
        await local.async_stop_with(master, "benchmark over")
    verdict = verify_runs(spec, local.cameras[local.recorder], master.streams[local.recorder].runs,
                          settings.error_budget)
    links = master.state.link_bytes.values()
    return sum(link.sent for link in links), sum(link.raw for link in links), report, verdict


def link_table(runs: list[LinkRun], mbps: float) -> str:
    """Planned and measured IPS of both plans, the codecs' gain, and the error they cost."""
    rows = [(r.label, r.layout, r.codecs, round(r.ips_planned, 1), round(r.ips_measured, 1),
             round(r.ips_measured / r.ips_planned, 2) if r.ips_planned else "-", round(r.sent_mb_per_s * 8, 1),
             round(r.raw_mb_per_s * 8, 1), f"{r.error_planned:.2g}", f"{r.error_measured:.2g}", r.checked)
            for r in runs]
    table = format_table(("plan", "layout", "stage input codecs", "IPS planned", "IPS measured", "measured / planned",
                          "Mbps sent", "Mbps raw", "error planned", "error measured", "results checked"), rows)
    lines = [f"{b.label} -> {c.label}: planned {c.ips_planned / b.ips_planned:.2f}x, measured "
             f"{c.ips_measured / b.ips_measured:.2f}x" for b, c in ((runs[0], runs[-1]), (runs[1], runs[-1]))
             if b.ips_planned and b.ips_measured]
    return (f"\non a {mbps:g} Mbps shared medium (agents' senders capped on loopback; the agents share this "
            f"machine's cores, so a plan over several devices cannot measure more compute than one)\n\n{table}\n\n"
            + "\n".join(lines) + "\n")


__all__ = ["LinkRun", "link_table", "run_link_benchmark", "shared_link"]
