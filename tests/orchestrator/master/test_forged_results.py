"""A client with the cluster secret (a buggy or old agent) sends a real master results that do not
belong: far-future tags, tensors of the wrong shape for tags in flight, an epoch that never was.
Each is refused and counted; the stream's results still equal the single-process reference."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from orchestrator.master import LocalCluster, Master, verify
from orchestrator.profile import find_profile
from orchestrator.toolchain.zoo import build_model, find_spec
from worker.agent import SHUTDOWN_EXIT
from worker.wire import Connection, Result, Tensor

from ._live import MODEL, until

FAR, MISSHAPEN, UNKNOWN = 200, 20, 10
RESULTS = 20


def forged(master: Master) -> list[Result]:
    """Results the master must refuse, for the stream running now."""
    run = master.state.last
    assert run is not None and run.results.next_tag is not None
    [(name, spec)] = master.state.output_specs.items()
    good = np.zeros(spec.shape, np.float32)
    wrong = np.zeros((*spec.shape[:-1], spec.shape[-1] + 3), np.float32)

    def result(tag: int, value: np.ndarray, epoch: int = run.epoch) -> Result:
        return Result(epoch=epoch, stream=run.table.stream, tag=tag, tensors=(Tensor.from_array(name, value),),
                      captured_ns=1, compute_ms=1.0, transfer_ms=0.0, queue_ms=0.0)

    nxt = run.results.next_tag
    return ([result(10**6 + k, good) for k in range(FAR)]
            + [result(nxt + k, wrong) for k in range(MISSHAPEN)]          # the next tags, in flight
            + [result(k, good, epoch=run.epoch + 1000) for k in range(UNKNOWN)])


async def run_attacked(work: Path) -> tuple[Master, list[int]]:
    local = LocalCluster(work, 2, seed=3)
    master, found = await local.async_start_with_master(MODEL, find_profile("rpi3"))
    try:
        await master.async_assign(found, local.recorder)
        await until("a first result", lambda: len(master.results.inferences) > 0)
        conn = await Connection.async_open(master.peer.host, master.peer.port, secret=master.secret)
        try:
            for message in forged(master):
                await conn.async_send(message)
        finally:
            await conn.async_close()
        await until(f"{RESULTS} results", lambda: len(master.results.inferences) >= RESULTS)
        await asyncio.sleep(1.5)   # a heartbeat more: the recorder's frame numbers of the last tags
    finally:
        codes = await local.async_stop_with(master, "test over")
    return master, codes


def test_forged_results_are_refused_and_the_stream_equals_the_reference(tmp_path: Path) -> None:
    build_model(find_spec(MODEL))
    master, codes = asyncio.run(run_attacked(tmp_path))
    drops = master.state.result_drops
    assert (drops.count("far-tag"), drops.count("bad-shape"), drops.count("unknown-epoch")) == \
        (FAR, MISSHAPEN, UNKNOWN), drops.by_reason()
    [stream] = master.status().streams
    assert stream.refused == FAR + MISSHAPEN + UNKNOWN
    results = master.results
    tags = [i.tag for i in results.inferences]
    assert tags == list(range(tags[0], tags[0] + len(tags))), "results in tag order, none missing"
    assert results.duplicates == 0 and results.held < results.max_held
    verdict = verify(find_spec(MODEL), 3, master.frames, results.inferences)
    assert verdict.ok and verdict.checked >= RESULTS - 2, verdict
    assert codes == [SHUTDOWN_EXIT, SHUTDOWN_EXIT]
