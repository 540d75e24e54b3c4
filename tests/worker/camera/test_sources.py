"""Camera sources: scripted synthetic scenes, video files, image directories, devices and specs."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from worker.camera import (
    DeviceCamera,
    EndOfStream,
    ImageDirCamera,
    PiCamera,
    ScriptedCamera,
    SyntheticCamera,
    VideoFileCamera,
    open_camera,
)
from worker.errors import UserError


def test_synthetic_frames_unchanged_for_a_seed() -> None:
    for seed in (0, 7):
        ref = SyntheticCamera(seed=seed)
        assert all(np.array_equal(a, b) for a, b in zip(ScriptedCamera(seed).frames(20), ref.frames(20)))
        assert open_camera(f"synthetic:{seed}").read().tobytes() == SyntheticCamera(seed=seed).read().tobytes()


def test_script_still_move_cut() -> None:
    cam = ScriptedCamera(3, [("still", 5), ("move", 5), ("cut", 1), ("still", 3)])
    frames = list(cam.frames(14))
    assert all(f.shape == (120, 160, 3) and f.dtype == np.uint8 for f in frames)
    assert all(np.array_equal(frames[0], f) for f in frames[1:5])
    assert all(not np.array_equal(a, b) for a, b in pairwise(frames[4:11]))
    cut = np.abs(frames[11].astype(int) - frames[9].astype(int)).max(axis=2)
    assert (cut > 20).mean() > 0.9                     # the whole frame changed, not only the shapes
    assert all(np.array_equal(frames[10], f) for f in frames[11:14])
    assert cam.kind == "still" and cam.cuts == 1
    again = ScriptedCamera(3, [("still", 5), ("move", 5), ("cut", 1), ("still", 3)])
    assert all(np.array_equal(a, b) for a, b in zip(frames, again.frames(14)))   # seeded
    assert not np.array_equal(cam.read(), frames[0])   # the script loops, on the scene after the cut


def test_bad_script_step() -> None:
    with pytest.raises(UserError, match="step 1"):
        ScriptedCamera(0, [("still", 2), ("jump", 3)])


@pytest.mark.parametrize("spec, seed, script, name", [
    ("synthetic", 0, [("move", 1)], "synthetic:0"),
    ("synthetic:3", 3, [("move", 1)], "synthetic:3"),
    ("synthetic:3:still", 3, [("still", 1)], "synthetic:3:still1"),
    ("synthetic:12:still30,move60,cut1", 12, [("still", 30), ("move", 60), ("cut", 1)],
     "synthetic:12:still30,move60,cut1"),
    ("synthetic:0:move2, still3", 0, [("move", 2), ("still", 3)], "synthetic:0:move2,still3"),
])
def test_synthetic_specs_with_scripts(spec: str, seed: int, script: list[tuple[str, int]], name: str) -> None:
    cam = open_camera(spec)
    assert isinstance(cam, ScriptedCamera) and cam.seed == seed
    assert [(s.kind, s.frames) for s in cam.script] == script
    # The name is a spec for the same frames: what an agent advertises for the master to replay.
    assert cam.name == name
    again, want = open_camera(cam.name), ScriptedCamera(seed, script)
    assert all(np.array_equal(a, b) and np.array_equal(a, c)
               for a, b, c in zip(cam.frames(12), again.frames(12), want.frames(12)))


def test_a_still_script_never_moves_after_its_first_frame() -> None:
    frames = list(open_camera("synthetic:3:still").frames(5))
    assert np.array_equal(frames[0], SyntheticCamera(seed=3).read())
    assert all(np.array_equal(frames[0], f) for f in frames[1:])


@pytest.mark.parametrize("spec", ["synthetic:x", "synthetic:3:", "synthetic::still", "synthetic:3:walk5",
                                  "synthetic:3:still0", "synthetic:3:still,", "synthetic:-1",
                                  "synthetic:3:still5:move", "synthetic:3:5still"])
def test_bad_synthetic_specs(spec: str) -> None:
    with pytest.raises(UserError) as err:
        open_camera(spec)
    message = str(err.value)
    assert repr(spec) in message and "synthetic:SEED:SCRIPT" in message and "\n" not in message


def _write_video(path: Path, count: int) -> list[np.ndarray]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened()
    frames = []
    for i in range(count):
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[:, :, 0] = 20 * i           # red ramps up: checks the BGR -> RGB conversion too
        frames.append(rgb)
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return frames


def test_video_file_reads_and_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    written = _write_video(path, 5)
    cam = open_camera(f"file:{path}")
    assert cam.name == f"file:{path}"
    frames = [cam.read() for _ in range(7)]
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert [int(f[..., 0].mean() + 5) // 20 for f in frames] == [0, 1, 2, 3, 4, 0, 1]
    assert np.abs(frames[3].astype(int) - written[3]).max() < 10
    cam.close()
    with VideoFileCamera(path, loop=False) as once:
        assert len(list(once.frames(5))) == 5
        with pytest.raises(EndOfStream):
            once.read()


def test_missing_and_bad_sources(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    with pytest.raises(UserError, match=str(missing)):
        open_camera(f"file:{missing}")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    with pytest.raises(UserError, match="junk.mp4") as err:
        VideoFileCamera(junk)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="rtsp://127.0.0.1:1/none"):
        open_camera("rtsp://127.0.0.1:1/none")     # connection refused: fails at once
    with pytest.raises(UserError, match="camera device 57"):
        DeviceCamera(57)
    with pytest.raises(UserError, match="does not exist"):
        open_camera(f"dir:{tmp_path / 'nodir'}")
    for spec in ("webcam", "file:", "synthetic:x", ""):
        with pytest.raises(UserError, match="unknown camera|synthetic:SEED") as err:
            open_camera(spec)
        assert repr(spec) in str(err.value) and "\n" not in str(err.value)


def test_picamera2_built_for_numpy_1(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:   # what importing apt's picamera2 under numpy 2 raises
        def __getattr__(self, name: str) -> None:
            raise ValueError("numpy.dtype size changed, may indicate binary incompatibility")

    monkeypatch.setitem(sys.modules, "picamera2", Broken())
    with pytest.raises(UserError, match=r"picamera2 does not load with numpy .*numpy<2") as err:
        open_camera("picamera")
    assert "\n" not in str(err.value)


def test_missing_picamera2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)   # makes the import fail even on a Pi
    with pytest.raises(UserError, match=r"picamera2 is not importable \(on Raspberry Pi OS: sudo apt install"):
        open_camera("picamera")
    with pytest.raises(UserError, match="picamera2"):
        PiCamera()


def test_image_dir_in_order(tmp_path: Path) -> None:
    for i in (10, 2, 1):   # natural order: 1, 2, 10
        img = np.full((30, 40, 3), (0, 0, 10 * i), np.uint8)     # BGR: red = 10 * i
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), img)
    (tmp_path / "notes.txt").write_text("ignored")
    cam = open_camera(f"dir:{tmp_path}")
    reds = [int(cam.read()[0, 0, 0]) for _ in range(4)]
    assert reds == [10, 20, 100, 10]
    once = ImageDirCamera(tmp_path, loop=False)
    list(once.frames(3))
    with pytest.raises(EndOfStream):
        once.read()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no images"):
        ImageDirCamera(empty)
