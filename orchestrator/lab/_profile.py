"""The profile of a lab device: this host's profile with every compute time stretched by the
device's CPU quota, its memory limit, and the lab's link (rate, and the round trip measured across
the bridge), so the planner predicts the lab and not the host."""

from __future__ import annotations

from dataclasses import replace

from ..profile import CodecTiming, LinkModel, LoadModel, ModelTimings, Profile
from ._spec import LabSpec


def lab_profile(host: Profile, spec: LabSpec, rtt_s: float = 0.0) -> Profile:
    """``host`` as seen from inside a device of ``spec``: times x 1/cpu (a quota of a quarter core
    runs four times longer; above one core a single LiteRT thread gains nothing), ``spec``'s memory,
    link rate and medium; ``rtt_s`` the measured round trip (its half is the message latency)."""
    k = 1.0 / min(spec.cpu, 1.0)
    ops = {name: replace(op, intercept_s=op.intercept_s * k, s_per_mmac=op.s_per_mmac * k, s_per_mb=op.s_per_mb * k,
                         s_per_mb2=op.s_per_mb2 * k, s_per_out_mb=op.s_per_out_mb * k)
           for name, op in host.ops.items()}
    memory_mb = spec.memory_bytes / 2**20
    device = replace(host.device, name=f"lab-{host.device.name}", cores=1, memory_mb=memory_mb,
                     usable_memory_mb=min(host.device.usable_memory_mb, memory_mb - host.memory.base_mb))
    link = LinkModel(8.0 / spec.link.rate_bps, rtt_s / 2 or host.link.latency_s, spec.medium,
                     spec.link.rate_bps / 1e6, source=f"lab link {spec.link} ({spec.medium}); latency: half the "
                     f"round trip measured across the bridge ({rtt_s * 1000:.3f} ms)")
    return replace(host, name=f"lab-{host.name}-cpu{spec.cpu:g}", device=device, link=link, ops=ops,
                   load=LoadModel(host.load.base_s * k, host.load.s_per_mb * k, host.load.rel_error, host.load.source),
                   task_overhead_s=host.task_overhead_s * k, camera_s=host.camera_s * k,
                   steps={s: t * k for s, t in host.steps.items()},
                   models={m: _stretch(t, k) for m, t in host.models.items()},
                   codecs={c: CodecTiming(t.encode_s_per_mb * k, t.decode_s_per_mb * k, t.source)
                           for c, t in host.codecs.items()},
                   source="", notes=f"{host.name} scaled to a lab device: {spec.cpu:g} cores, "
                                    f"{memory_mb:.0f} MB, link {spec.link} {spec.medium}")


def _stretch(timings: ModelTimings, k: float) -> ModelTimings:
    layers = {n: replace(t, time_s=t.time_s * k, load_s=t.load_s * k, shards={s: v * k for s, v in t.shards.items()})
              for n, t in timings.layers.items()}
    tasks = tuple(replace(t, time_s=t.time_s * k, load_s=t.load_s * k) for t in timings.tasks)
    return replace(timings, layers=layers, tasks=tasks, steps={s: v * k for s, v in timings.steps.items()})


__all__ = ["lab_profile"]
