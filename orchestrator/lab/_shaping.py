"""The Wi-Fi links of a lab with the tools this kernel has: tbf rates, an ifb as the one shared
channel, nftables for random loss. There is no netem here: delay and jitter come from a relay of
our own (``_relay``); ``mchair lab status`` says how each knob is emulated."""

from __future__ import annotations

import shutil

from worker.errors import UserError

from ._net import BRIDGE, IFNAME, run
from ._spec import LinkSpec

CHANNEL = "ifb0"          # shared medium: the one queue every frame entering the bridge waits in
LATENCY = "200ms"         # the longest a frame waits in a rate limiter's queue before it is dropped
NFT_TABLE = "mclab"
INSTALL_NFT = "apt-get install -y nftables"


def _tbf(rate_bps: float) -> list[str]:
    # The bucket must hold what the rate sends in one timer tick (>= 4 ms at HZ=250), and a full frame.
    burst = max(32 * 1024, int(rate_bps / 8 / 100))
    return ["tbf", "rate", f"{int(rate_bps)}bit", "burst", str(burst), "latency", LATENCY]


def shape_shared(bridge_ns: str, ports: list[str], link: LinkSpec) -> None:
    """Every frame any port sends into the bridge first waits in one queue of ``link.rate_bps``: one
    channel shared by all stations, in both directions, as on one Wi-Fi access point."""
    run("ip", "-n", bridge_ns, "link", "add", CHANNEL, "type", "ifb")
    run("ip", "-n", bridge_ns, "link", "set", CHANNEL, "up")
    run("tc", "-n", bridge_ns, "qdisc", "add", "dev", CHANNEL, "root", *_tbf(link.rate_bps))
    for port in ports:
        add_shared_port(bridge_ns, port)


def add_shared_port(bridge_ns: str, port: str) -> None:
    """Send what ``port`` receives through the shared channel (ifb returns it to the bridge after)."""
    run("tc", "-n", bridge_ns, "qdisc", "add", "dev", port, "ingress")
    run("tc", "-n", bridge_ns, "filter", "add", "dev", port, "parent", "ffff:", "protocol", "all",
        "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", CHANNEL)


def shape_switched(bridge_ns: str, port: str, netns: str, link: LinkSpec) -> None:
    """A link of its own for one port: ``link.rate_bps`` each way (the bridge side limits what goes to
    the device, the device side what it sends)."""
    run("tc", "-n", bridge_ns, "qdisc", "add", "dev", port, "root", *_tbf(link.rate_bps))
    run("tc", "-n", netns, "qdisc", "add", "dev", IFNAME, "root", *_tbf(link.rate_bps))


def nft_available() -> bool:
    """True when ``nft`` (random packet loss) is installed."""
    return shutil.which("nft") is not None


def set_loss(netns: str, loss: float) -> None:
    """Drop each packet entering or leaving ``netns`` with probability ``loss`` (nftables numgen)."""
    clear_loss(netns)
    if loss <= 0:
        return
    if not nft_available():
        raise UserError(f"packet loss needs nftables, which is not installed: {INSTALL_NFT}")
    per_10k = max(1, round(loss * 10_000))
    # numgen's values are 0..9999: "< 10000" is out of its range, and everything is simply "drop".
    rule = f"numgen random mod 10000 < {per_10k} drop" if per_10k < 10_000 else "drop"
    run("ip", "netns", "exec", netns, "nft", "-f", "-", stdin=(
        f"table inet {NFT_TABLE} {{\n"
        f"  chain in {{ type filter hook input priority 0; {rule}; }}\n"
        f"  chain out {{ type filter hook output priority 0; {rule}; }}\n}}\n"))


def clear_loss(netns: str) -> None:
    """No random loss on ``netns`` any more."""
    if nft_available():
        run("ip", "netns", "exec", netns, "nft", "delete", "table", "inet", NFT_TABLE, check=False)  # may be absent


def knobs(link: LinkSpec, medium: str) -> list[tuple[str, str, str]]:
    """Per link parameter: its value and how the lab emulates it on this kernel."""
    rate = (f"tbf on {CHANNEL} in the bridge namespace: every frame entering {BRIDGE} from any port "
            "queues there (one channel, both directions)" if medium == "shared"
            else f"tbf each way on every link (bridge-side port and the device's {IFNAME})")
    loss = ("nftables numgen random drops in the device's namespace, input and output" if nft_available()
            else f"NOT emulated: nftables missing ({INSTALL_NFT})")
    relay = ("a relay of ours (python -m orchestrator.lab._relay) holds the device's eth0 and its bridge port as "
             "TAPs: each frame waits delay +- uniform jitter, each way, never reordered (no netem on this kernel); "
             "device to device crosses two links")
    none = "none asked: only the rate limiter's queueing adds delay, under load"
    return [("rate", f"{link.rate_bps / 1e6:g} Mbit/s", rate),
            ("delay", f"{link.delay_ms:g} ms", relay if link.delay_ms else none),
            ("jitter", f"{link.jitter_ms:g} ms", relay if link.jitter_ms else "none asked"),
            ("loss", f"{link.loss * 100:g} %", loss if link.loss else "none asked")]


__all__ = ["CHANNEL", "INSTALL_NFT", "add_shared_port", "clear_loss", "knobs", "nft_available", "set_loss",
           "shape_shared", "shape_switched"]
