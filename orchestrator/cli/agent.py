"""``mchair agent``: run this device's agent (the same as ``python -m worker.agent``)."""

from __future__ import annotations

import argparse

from worker.agent import add_arguments, run


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``agent``."""
    p = sub.add_parser("agent", help="run this device's agent until SIGINT, SIGTERM or a Shutdown from the master",
                       description="Run this device's agent: listen, advertise, take seats from the master.")
    add_arguments(p)
    p.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    # A bad name, cluster file or secret raises UserError: mchair prints it as one line, exit 2.
    return run(args)
