"""The ``mchair`` command: one sub-command module per area (model, demo, ...)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from worker import __version__
from worker.errors import UserError

from . import agent, bench, demo, lab, master, model, motion, plan, profile, report, status

COMMANDS = (demo, model, profile, plan, master, motion, status, agent, bench, report, lab)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="mchair", description="musical-chair: real-time DNN inference "
                                     "on a swarm of camera devices.")
    parser.add_argument("--version", action="version", version=f"musical-chair {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn user errors into one line and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"mchair: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
