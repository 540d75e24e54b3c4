"""Helpers of the tests of live clusters (agent processes or Ray actors): waiting for results, and
checking a stream against the single-process reference epoch by epoch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from orchestrator.master import LocalCluster, Master, verify_runs
from orchestrator.profile import find_profile
from orchestrator.toolchain.zoo import find_spec

MODEL = "alexnet-tiny"          # no windows: a stream's first result is its first frame's
PROFILE = find_profile("rpi3")  # plans that use several devices (camera | model x replicas)
NO_DETECTOR = {"motion": {"enabled": False}}
RESULTS = 8
TIMEOUT_S = 60.0


async def until(what: str, condition: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
    """Wait for ``condition``; fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def running(master: Master, camera: str, results: int = RESULTS) -> Callable[[], bool]:
    """True once ``camera``'s current epoch has ``results`` results."""
    def check() -> bool:
        stream = master.streams.get(camera)
        return stream is not None and stream.current is not None and \
            len(stream.current.results.inferences) >= results
    return check


def check_stream(master: Master, local: LocalCluster, camera: str, results: int = RESULTS,
                 model: str = MODEL) -> None:
    """The stream's results equal the reference epoch by epoch, in capture order, none twice, losses counted."""
    stream = master.streams[camera]
    frames = [i.frame for i in stream.inferences()]
    assert frames == sorted(set(frames)), "results in capture order, none twice"
    assert stream.duplicates() == 0 and master.rejects.count() == 0
    drops = master.state.result_drops
    assert drops.count() == drops.count("earlier-master"), "no result of this master's epochs refused"
    for run in stream.runs:   # every recorded tag that could give a result did, or is counted lost
        first = run.table.first_complete_tag(run.table.sink.index)
        missing = set(range(first, run.recorded)) - {i.tag for i in run.results.inferences}
        assert run.lost == len(missing), (run.epoch, run.lost, sorted(missing))
    verdict = verify_runs(find_spec(model), local.cameras[camera], stream.runs)
    assert verdict.ok and verdict.checked >= results, verdict
