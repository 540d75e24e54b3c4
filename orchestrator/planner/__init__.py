"""The planner: for every cluster size 1..n_max, which layers go together, replicated or split.

``plan_model`` is the entry point. Two algorithms share one cost model (``_cost``): ``paper``
(Algorithm 1 of the Musical Chair paper, greedy) and ``optimal`` (exact while cheap, then a bisection
over periods that proves an IPS bound for every plan). ``_synthetic`` builds deep DAG problems.
``_codec_facts`` measures what the tensor codecs do to a model (bytes per value, output error
per cut) so the cost model can pick a codec per link within the user's error budget.
"""

from ._codec_facts import codec_facts, round_trip
from ._cost import CostModel, Metrics, Solution, Stage, better
from ._draw import draw_ips, draw_plan, draw_plans
from ._plan import Plan, PlanSet, StagePlan, make_plan
from ._planner import ALGORITHMS, plan_model, plan_problem
from ._problem import DEFAULT_MAX_SHARDS, CodecFacts, Problem, Unit, Value, build_problem, crossing
from ._synthetic import DEEP_DAGS, deep_dag

__all__ = [
    "ALGORITHMS", "DEEP_DAGS", "DEFAULT_MAX_SHARDS", "CodecFacts", "CostModel", "Metrics", "Plan", "PlanSet",
    "Problem", "Solution", "Stage", "StagePlan", "Unit", "Value", "better", "build_problem", "codec_facts", "crossing",
    "deep_dag", "draw_ips", "draw_plan", "draw_plans", "make_plan", "plan_model", "plan_problem", "round_trip",
]
