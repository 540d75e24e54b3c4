"""The ``mchair`` command: one sub-command module per area (model, demo, ...), imported only when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from worker import __version__
from worker.errors import UserError

# Every command (its module is orchestrator.cli.<command>, with add_arguments(parser)) and its one-line help.
# The help is here, not in the module, so that `mchair --help` imports no command: start-up stays well
# under a second on a Pi where the command modules would pull numpy, scipy and LiteRT.
COMMANDS: dict[str, str] = {
    "demo": "a local cluster runs a model on synthetic video: IPS, latency, and a check against the "
            "single-process reference",
    "model": "build, inspect, partition and check models",
    "profile": "measure this device: layer times, memory, load time (or the network link)",
    "plan": "plan a model for every cluster size 1..N on a profiled device type",
    "master": "run the master: find the agents, play musical chairs, report",
    "motion": "tell the master that CAMERA sees motion (or, with --stop, no longer)",
    "status": "the running master's view: every device's seat and figures, every stream",
    "agent": "run this device's agent until SIGINT, SIGTERM or a Shutdown (it outlives masters)",
    "fleet": "the agents as a whole: `mchair fleet shutdown` stops every agent of the cluster",
    "bench": "benchmarks that print figures and ratios against a baseline",
    "report": "a benchmark run's table and pictures (IPS vs devices, latency breakdown)",
    "lab": "an emulated swarm of Pis on this machine: network namespaces, shaped links, CPU and memory quotas",
}
# Imported by the master's commands and installed by `pip install musical-chair[master]`, not by the
# agent's base install (setup.cfg): a command that needs one of them says which extra is missing.
MASTER_MODULES = frozenset({"scipy", "matplotlib", "rich", "prometheus_client", "flatbuffers", "tflite"})
MASTER_EXTRA = "pip install 'musical-chair[master]'"


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: every command listed, the options of ``commands`` (default: all) filled in."""
    parser = argparse.ArgumentParser(prog="mchair", description="musical-chair: real-time DNN inference "
                                     "on a swarm of camera devices.")
    parser.add_argument("--version", action="version", version=f"musical-chair {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if commands is None or name in commands:
            import_module(f"{__name__}.{name}").add_arguments(p)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (the first argument that is not an option), if it names a command."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def missing_extra(exc: ModuleNotFoundError) -> UserError | None:
    """The one-line error for a master-side module this install lacks (None: some other missing module)."""
    top = (exc.name or "").partition(".")[0]
    if top not in MASTER_MODULES:
        return None
    return UserError(f"this command needs the master's packages ({top} is not installed): {MASTER_EXTRA}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn user errors into one line and exit status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _command_of(argv)
    try:
        args = build_parser(() if command is None else (command,)).parse_args(argv)
        return int(args.run(args) or 0)
    except UserError as exc:
        print(f"mchair: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        error = missing_extra(exc)
        if error is None:
            raise
        print(f"mchair: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
