"""One message of every type, with tensors big enough to be received as views of the frame."""

from __future__ import annotations

import numpy as np

from worker.wire import (
    Ack,
    AlmostFull,
    ArtifactChunk,
    ArtifactRequest,
    Assign,
    DeviceStatus,
    Heartbeat,
    InputSpec,
    LinkBytes,
    LinkStatus,
    Message,
    Motion,
    Peer,
    Release,
    Result,
    Resume,
    Route,
    Seat,
    Shutdown,
    StageSpec,
    StageTime,
    Status,
    StatusRequest,
    StreamStatus,
    TaskSpec,
    TaskTable,
    Tensor,
    TensorBatch,
)

SECRET = b"cluster secret for the tests"


def tensors() -> tuple[Tensor, ...]:
    """float32 image, int8 features, a float16 vector and a bool scalar."""
    rng = np.random.default_rng(4)
    return (Tensor.from_array("recorder/frame", rng.random((1, 8, 8, 3), dtype=np.float32)),
            Tensor.from_array("spatial/fc1s", rng.integers(-128, 127, (1, 64), dtype=np.int8)),
            Tensor.from_array("fusion/half", rng.random(32).astype(np.float16)),
            Tensor.from_array("flag", np.array(True)))


def task_table() -> TaskTable:
    """A two-stage table: a recorder and a replicated, split classifier."""
    master, pi1, pi2 = Peer("master", "10.0.0.1", 7600), Peer("pi1", "10.0.0.11", 7601), Peer("pi2", "10.0.0.12", 7601)
    return TaskTable(
        epoch=7, model="alexnet-tiny", stream="pi1", fps=30.0, frame_shape=(1, 32, 32, 3), master=master,
        devices=(pi1, pi2),
        stages=(StageSpec(0, "camera..conv1", 1, 1, True, (TaskSpec("net.0", "net", "ab" * 32, "", ("image",),
                                                                   ("net/conv1",)),), (),
                          (), (Route("net/conv1", 1, codec="uint8-channel+zstd"),), ()),
                StageSpec(1, "conv2..prob", 1, 2, False, (TaskSpec("net.1", "net", "cd" * 32, "", ("net/conv1",),
                                                                   ("net/prob",)),), ("cd" * 32, "ef" * 32),
                          (InputSpec("net/conv1", "net/conv1", 0),), (), ("net/prob",))),
        seats=(Seat("pi1", 0, 0, 0), Seat("pi2", 1, 0, 0), Seat("pi1", 1, 0, 1)), buffer=32, almost_full=24)


def every_message() -> list[Message]:
    """One of each message type."""
    return [
        TensorBatch(epoch=3, stream="pi1", tag=41, source="stage1/r0", shard=1, tensors=tensors(), sent_ns=17),
        Result(epoch=3, stream="pi1", tag=41, tensors=tensors()[:1], compute_ms=12.5, transfer_ms=3.25, queue_ms=0.5),
        Assign(epoch=7, table=task_table()),
        Ack(epoch=7, device="pi2", ok=False, detail="artifact cd.. missing"),
        Heartbeat(device="pi2", epoch=7, time_ns=1_700_000_000_000_000_000, queue_fill=0.25, ips=9.5,
                  stage_ms=(StageTime(stage="conv2..prob/r0/s0", ms=101.5),), drops=3, rss_mb=211.0,
                  links=(LinkBytes(peer="pi1", codec="fp16", bytes=1000, raw_bytes=2000),)),
        AlmostFull(epoch=7, seat="stage1/r0/s0", stream="pi1"),
        Resume(epoch=7, seat="stage1/r0/s0", stream="pi1"),
        Motion(device="pi3", camera="pi3", moving=True, score=0.07, time_ns=5),
        Release(epoch=8, stream="pi1", reason="motion stopped on pi1"),
        Shutdown(reason="master stopping"),
        ArtifactRequest(device="pi2", sha256="cd" * 32),
        ArtifactChunk(sha256="cd" * 32, offset=1 << 20, total=3 << 20, data=bytes(range(256)) * 64),
        StatusRequest(time_ns=9),
        Status(model="alexnet-tiny", profile="rpi3", epoch=8, time_ns=10, reassignments=2,
               devices=(DeviceStatus(device="pi2", alive=True, camera=False, stream="pi1", seats=("conv2..prob 0/1",),
                                     epoch=7, queue_fill=0.5, ips=9.5, slowdown=2.5, drops=3, rss_mb=211.0,
                                     stage_ms=(StageTime(stage="conv2..prob", ms=20.5, expected_ms=10.0),),
                                     last_heartbeat_s=0.4,
                                     links=(LinkStatus(peer="pi1", codec="uint8", bytes_per_s=1e5,
                                                       raw_bytes_per_s=4e5),)),),
               streams=(StreamStatus(camera="pi1", active=True, epoch=7, layout="camera | conv2..prob /2",
                                     devices=("pi1", "pi2"), results=120, ips=9.5, t_forward_p50_ms=51.0,
                                     t_forward_p95_ms=60.0, lost=2, error_budget=0.01,
                                     output_error=0.004),)),
    ]
