"""Benchmark run records and their pictures: ``mchair bench pipeline --json`` writes a
``PipelineBenchmark``; ``mchair report`` reads it back and draws it like the paper's Figs. 19 and 20."""

from ._draw import draw_ips_vs_devices, draw_latency_breakdown
from ._record import BENCHMARK, VERSION, PipelineBenchmark, PipelineRun

__all__ = ["BENCHMARK", "VERSION", "PipelineBenchmark", "PipelineRun", "draw_ips_vs_devices",
           "draw_latency_breakdown"]
