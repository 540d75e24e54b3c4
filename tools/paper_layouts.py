"""Print the paper's layouts (Figs. 14, 18, 22, 24) next to our plans, under one profile.

Each paper layout is written as stages of unit names; it is evaluated with the planner's cost
model and compared with the `optimal` and `paper` planners at the same number of devices.
Usage: python tools/paper_layouts.py [PROFILE]   (default rpi3); prints a markdown table.
"""

from __future__ import annotations

import sys

from orchestrator.planner import CostModel, Stage, build_problem, plan_problem
from orchestrator.profile import find_profile
from orchestrator.toolchain import open_model

# (model, figure, [(first unit, last unit, replicas, shards), ...])
LAYOUTS = [
    ("action-recognition", "Fig. 14a, 1 device", [("camera", "softmax", 1, 1)]),
    ("action-recognition-half", "Fig. 14b, 4 devices",
     [("camera", "optical_flow", 1, 1), ("conv1s", "fc1s", 1, 1), ("conv1t", "fc1t", 1, 1),
      ("pyramid_s", "softmax", 1, 1)]),
    ("action-recognition", "Fig. 18a, 5 devices",
     [("camera", "optical_flow", 1, 1), ("conv1s", "fc1s", 1, 1), ("conv1t", "fc1t", 1, 1),
      ("pyramid_s", "dense1", 1, 1), ("dense2", "softmax", 1, 1)]),
    ("action-recognition", "Fig. 18b, 8 devices",
     [("camera", "optical_flow", 1, 1), ("conv1s", "fc1s", 1, 1), ("conv1t", "fc1t", 1, 1),
      ("pyramid_s", "dense1", 1, 2), ("dense2", "dense2", 1, 2), ("dense3", "softmax", 1, 1)]),
    ("action-recognition", "Fig. 18c, 10 devices",
     [("camera", "optical_flow", 1, 1), ("conv1s", "fc1s", 2, 1), ("conv1t", "fc1t", 2, 1),
      ("pyramid_s", "dense1", 1, 2), ("dense2", "dense2", 1, 2), ("dense3", "softmax", 1, 1)]),
    ("action-recognition", "Fig. 18d, 12 devices",
     [("camera", "optical_flow", 1, 1), ("conv1s", "fc1s", 3, 1), ("conv1t", "fc1t", 3, 1),
      ("pyramid_s", "dense1", 1, 2), ("dense2", "dense2", 1, 2), ("dense3", "softmax", 1, 1)]),
    ("alexnet", "Fig. 22a, 4 devices (+ recorder)",
     [("camera", "camera", 1, 1), ("conv1", "flatten", 1, 1), ("fc1", "fc1", 1, 2), ("fc2", "softmax", 1, 1)]),
    ("alexnet", "Fig. 22b, 6 devices",
     [("camera", "camera", 1, 1), ("conv1", "flatten", 2, 1), ("fc1", "fc1", 1, 2), ("fc2", "softmax", 1, 1)]),
    ("vgg16", "Fig. 24a, 8 devices",
     [("camera", "camera", 1, 1), ("conv1_1", "pool2", 1, 1), ("conv3_1", "pool3", 1, 1),
      ("conv4_1", "pool4", 1, 1), ("conv5_1", "flatten", 1, 1), ("fc1", "fc1", 1, 2), ("fc2", "softmax", 1, 1)]),
    ("vgg16", "Fig. 24b, 11 devices",
     [("camera", "camera", 1, 1), ("conv1_1", "flatten", 7, 1), ("fc1", "fc1", 1, 2), ("fc2", "softmax", 1, 1)]),
]


def main() -> None:
    """Print the comparison table."""
    profile = find_profile(sys.argv[1] if len(sys.argv) > 1 else "rpi3")
    problems = {}
    print("| model | paper layout | devices | IPS | t_forward s | ours (optimal) IPS | t_forward s | ours/paper IPS "
          "| paper planner IPS | our layout |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model, figure, layout in LAYOUTS:
        if model not in problems:
            problems[model] = build_problem(open_model(model), profile)
        problem = problems[model]
        cost = CostModel(problem)
        index = {u.name: i for i, u in enumerate(problem.units)}
        stages = tuple(Stage(index[a], index[b], r, k) for a, b, r, k in layout)
        theirs = cost.evaluate(stages)
        n = theirs.devices
        ours = plan_problem(problem, n, "optimal").plan(n)
        greedy = plan_problem(problem, n, "paper").plan(n)
        ratio = ours.metrics.ips / theirs.ips
        print(f"| {model} | {figure} | {n} | {theirs.ips:.3f} | {theirs.t_forward_s:.2f} | {ours.metrics.ips:.3f} | "
              f"{ours.metrics.t_forward_s:.2f} | {ratio:.2f} | "
              f"{greedy.metrics.ips if greedy else float('nan'):.3f} | {ours.layout()} |")


if __name__ == "__main__":
    main()
