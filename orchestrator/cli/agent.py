"""``mchair agent``: run this device's agent (the same as ``python -m worker.agent``)."""

from __future__ import annotations

import argparse

from worker.agent import add_arguments as add_agent_arguments
from worker.agent import run as run_agent


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``agent``."""
    p.description = "Run this device's agent: listen, advertise, take seats from the master."
    add_agent_arguments(p)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    # A bad name, cluster file or secret raises UserError: mchair prints it as one line, exit 2.
    return run_agent(args)
