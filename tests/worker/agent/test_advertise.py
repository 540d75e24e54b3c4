"""An advertised agent is found by a zeroconf browser on 127.0.0.1, with the TXT record the master reads."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from worker import __version__
from worker.agent import SERVICE, Agent, device_properties
from worker.camera import open_camera

from ._harness import SECRET, run_async

NAME = f"zc-test-{os.getpid()}"   # unique: another test run may advertise on this host at the same time


@pytest.mark.timeout(30)   # registering takes ~1.6 s (probes, announcements), browsing as long again
def test_an_advertised_agent_is_found_on_loopback(tmp_path: Path) -> None:
    async def scenario() -> dict[str, str]:
        found: asyncio.Queue[str] = asyncio.Queue()

        def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
            if state_change is ServiceStateChange.Added:
                found.put_nowait(name)

        async with Agent(NAME, SECRET, cache_dir=tmp_path, advertise=True, interfaces=["127.0.0.1"],
                         camera=open_camera("synthetic:3:still30,move60")) as agent:
            browser_zc = AsyncZeroconf(interfaces=["127.0.0.1"])
            browser = AsyncServiceBrowser(browser_zc.zeroconf, SERVICE, handlers=[on_change])
            try:
                while (name := await asyncio.wait_for(found.get(), 10)) != f"{NAME}.{SERVICE}":
                    pass
                info = await browser_zc.async_get_service_info(SERVICE, name, timeout=3000)
                assert info is not None
                assert info.port == agent.port and info.parsed_addresses() == ["127.0.0.1"]
                return {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
            finally:
                await browser.async_cancel()
                await browser_zc.async_close()

    props = run_async(scenario(), timeout=25)
    assert props["device"] == NAME and props["camera"] == "1" and props["version"] == __version__
    assert props["source"] == "synthetic:3:still30,move60"
    assert int(props["cores"]) >= 1 and int(props["memory_mb"]) > 0 and props["type"] and int(props["port"]) > 0


def test_the_txt_record_names_the_camera_source() -> None:
    props = device_properties("pi1", 7601, True, "rpi4", "synthetic:3:still30,move60")
    assert props["camera"] == "1" and props["source"] == "synthetic:3:still30,move60"
    props = device_properties("pi2", 7601, False)
    assert props["camera"] == "0" and props["source"] == ""
    assert device_properties("pi3", 1, True, "", "dir:/" + "x" * 300)["source"] == ""   # a TXT string holds 255 bytes
