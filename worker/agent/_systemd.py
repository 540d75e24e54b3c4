"""``--print-systemd``: the systemd unit that runs this agent as a service (docs/install-pi.md).

systemd does not read a unit the way a shell reads a command line: ``ExecStart=`` splits words on
whitespace with its own quotes and C escapes, expands ``$VAR`` and ``%`` specifiers, and takes a
lone ``;`` as a command separator; other settings expand ``%`` only. The quoting here follows
systemd.service(5) and systemd.unit(5), so a path with spaces or a ``%`` reaches the agent intact.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path

from worker.errors import UserError

UNIT_FILE = "/etc/systemd/system/mchair-agent.service"
# The agent's exit status after a Shutdown (``mchair fleet shutdown``): the unit restarts it after
# anything else (a crash, a clean exit, a lost master), but not after it was asked to stop.
SHUTDOWN_EXIT = 3
# Words made only of these need no quotes in ExecStart= ('%' and '$' are doubled whether quoted or not).
_PLAIN = re.compile(r"[A-Za-z0-9_@%$+=:,./-]+")
# Camera specs that name a path: made absolute, since the service runs in the cluster file's directory.
_PATH_CAMERAS = ("file:", "dir:")


def systemd_quote(word: str) -> str:
    """``word`` as one ExecStart= argument: ``%`` and ``$`` doubled, double-quoted with C escapes if needed."""
    escaped = word.replace("%", "%%").replace("$", "$$")
    if _PLAIN.fullmatch(word):
        return escaped
    out = []
    for ch in escaped:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:   # a raw newline would end the setting's line
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _setting(value: str, what: str) -> str:
    """``value`` for a setting taken literally but for ``%`` specifiers (Description=, User=, ...)."""
    # No quoting exists there: a control character or a trailing backslash would break the line.
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value) or value.endswith("\\"):
        raise UserError(f"{what} {value!r}: expected no control characters and no trailing backslash "
                        "(it cannot be written in a systemd unit)")
    return value.replace("%", "%%")


def absolute_camera(spec: str) -> str:
    """``spec`` with the path of ``file:PATH`` or ``dir:PATH`` made absolute (other specs unchanged)."""
    for prefix in _PATH_CAMERAS:
        if spec.startswith(prefix) and len(spec) > len(prefix):
            return prefix + os.path.abspath(os.path.expanduser(spec[len(prefix):]))
    return spec


def systemd_unit(name: str, cluster: str | os.PathLike[str], *, log_level: str = "INFO",
                 camera: str | None = None, port: int | None = None, host: str | None = None,
                 seed: int | None = None, no_advertise: bool = False, python: str | None = None,
                 user: str | None = None) -> str:
    """The unit text that runs ``python -m worker.agent`` with these options; UserError if ``cluster`` is missing."""
    # abspath, not resolve(): secret_file is relative to the path given, symlink or not.
    cluster_path = os.path.abspath(os.path.expanduser(os.fspath(cluster)))
    if not Path(cluster_path).is_file():
        raise UserError(f"--cluster {os.fspath(cluster)}: no such file (expected the cluster.yaml this agent "
                        "will read, e.g. ~/cluster.yaml)")
    # The venv's interpreter as it is named, not its symlink's target: the target has no site-packages.
    executable = os.path.abspath(python or sys.executable)
    argv = [executable, "-m", "worker.agent", "--name", name, "--cluster", cluster_path]
    if camera is not None:
        argv += ["--camera", absolute_camera(camera)]
    if port is not None:
        argv += ["--port", str(port)]
    if host is not None:
        argv += ["--host", host]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if no_advertise:
        argv.append("--no-advertise")
    argv += ["--log-level", log_level]
    lines = [
        "# musical-chair agent, written by `mchair agent --print-systemd`.",
        f"# Install: ... --print-systemd | sudo tee {UNIT_FILE}",
        "#          sudo systemctl daemon-reload && sudo systemctl enable --now mchair-agent",
        "# Logs:    journalctl -u mchair-agent -f",
        "[Unit]",
        f"Description={_setting(f'musical-chair agent {name}', '--name')}",
        # network-online: the agent binds its address and advertises on the LAN as soon as it starts.
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(systemd_quote(word) for word in argv),
        f"WorkingDirectory={_setting(os.path.dirname(cluster_path), '--cluster')}",
        f"User={_setting(user or getpass.getuser(), 'user')}",
        # Always: an agent outlives masters and must come back from anything but a Shutdown.
        "Restart=always",
        "RestartSec=2",
        f"RestartPreventExitStatus={SHUTDOWN_EXIT}",
        # Log lines reach the journal as they are written, not when a buffer fills.
        "Environment=PYTHONUNBUFFERED=1",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


__all__ = ["SHUTDOWN_EXIT", "UNIT_FILE", "absolute_camera", "systemd_quote", "systemd_unit"]
