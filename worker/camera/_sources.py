"""Camera sources behind one interface: ``read()`` gives the next frame as uint8 H x W x 3 **RGB**
(OpenCV's BGR is converted), ``close()`` releases the device, ``name`` says where frames come from.

``open_camera(spec)`` builds one from a command-line spec:
``synthetic[:SEED[:SCRIPT]]``, ``file:PATH``, ``device:N``, ``rtsp://...``, ``picamera``, ``dir:PATH``.
A source's ``name`` is a spec that opens the same source again (the master replays synthetic
cameras with it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

if TYPE_CHECKING:  # typing.Self is 3.11+; annotations are not evaluated at run time
    from typing_extensions import Self

from worker.errors import UserError

from ._synthetic import SyntheticCamera

SCRIPT_KINDS = ("still", "move", "cut")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
OPEN_TIMEOUT_MS = 5000   # a dead RTSP host should fail fast, not after FFmpeg's 30 s default
SPECS = "synthetic[:SEED[:SCRIPT]], file:PATH, device:N, rtsp://..., picamera or dir:PATH"
SYNTHETIC_SPEC = ("synthetic:SEED with an integer seed, or synthetic:SEED:SCRIPT with SCRIPT comma-separated "
                  "steps KIND[N] (KIND still|move|cut, N frames >= 1, e.g. still30,move60,cut1)")


class EndOfStream(EOFError):
    """A non-looping file or image directory has no more frames."""


class CameraSource(Protocol):
    """A camera: ``read()`` gives the next uint8 H x W x 3 RGB frame; ``close()`` releases it."""

    name: str

    def read(self) -> np.ndarray:
        """The next frame."""
        ...

    def close(self) -> None:
        """Release the device or file."""
        ...


class _Source:
    """Shared behaviour: context manager and ``frames(n)``."""

    name = ""

    def read(self) -> np.ndarray:
        """The next frame."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file."""

    def frames(self, count: int | None = None) -> Iterator[np.ndarray]:
        """``count`` frames (endless when None)."""
        n = 0
        while count is None or n < count:
            yield self.read()
            n += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@dataclass(frozen=True)
class ScriptStep:
    """``frames`` frames of one kind: still (frozen scene), move (shapes move) or cut (a new scene per frame)."""

    kind: str
    frames: int


class ScriptedCamera(_Source):
    """SyntheticCamera frames following a seeded script of still, move and cut periods (looped).

    Without a script every frame moves, so the frames are exactly ``SyntheticCamera(seed=seed)``'s.
    """

    def __init__(self, seed: int = 0, script: Sequence[tuple[str, int] | ScriptStep] | None = None,
                 height: int = 120, width: int = 160, shapes: int = 4) -> None:
        self.seed, self.height, self.width, self.shapes = seed, height, width, shapes
        self.script = tuple(_step(s, i) for i, s in enumerate(script or [ScriptStep("move", 1)]))
        steps = ",".join(f"{s.kind}{s.frames}" for s in self.script)
        self.name = f"synthetic:{seed}:{steps}" if script else f"synthetic:{seed}"
        self.index = 0          # frames read so far
        self.kind = ""          # the script kind of the last frame read
        self.cuts = 0           # scene cuts so far
        self._scene = SyntheticCamera(height, width, seed, shapes)
        self._last: np.ndarray | None = None
        self._step, self._left = 0, self.script[0].frames

    def read(self) -> np.ndarray:
        """The next frame of the script."""
        kind = self.script[self._step].kind
        if kind == "cut":
            self.cuts += 1
            # A cut is a new layout (derived seed) with a new palette, so every pixel changes
            # rather than only where the shapes are.
            self._scene = SyntheticCamera(self.height, self.width, _cut_seed(self.seed, self.cuts), self.shapes)
            frame = self._recolour(self._scene.read())
        elif kind == "move" or self._last is None:
            frame = self._recolour(self._scene.read())
        else:
            frame = self._last.copy()
        self._last, self.kind = frame, kind
        self.index += 1
        self._left -= 1
        if self._left == 0:
            self._step = (self._step + 1) % len(self.script)
            self._left = self.script[self._step].frames
        return frame

    def _recolour(self, frame: np.ndarray) -> np.ndarray:
        if self.cuts % 2:
            frame = 255 - frame
        return np.ascontiguousarray(np.roll(frame, self.cuts % 3, axis=2)) if self.cuts % 3 else frame


def _cut_seed(seed: int, cut: int) -> int:
    return int(np.random.default_rng([seed, cut]).integers(0, 2**31))


def _step(raw: tuple[str, int] | ScriptStep, i: int) -> ScriptStep:
    step = raw if isinstance(raw, ScriptStep) else ScriptStep(*raw)
    if step.kind not in SCRIPT_KINDS or not isinstance(step.frames, int) or step.frames < 1:
        raise UserError(f"camera script step {i}: expected (still|move|cut, frames >= 1), got {raw!r}")
    return step


def _rgb(frame: np.ndarray) -> np.ndarray:
    """OpenCV's BGR (or grey / BGRA) frame as RGB."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class VideoFileCamera(_Source):
    """Frames of a video file through OpenCV, restarting at the end when ``loop``."""

    def __init__(self, path: str | Path, loop: bool = True) -> None:
        self.path, self.loop = Path(path), loop
        self.name = f"file:{path}"
        if not self.path.is_file():
            raise UserError(f"video file {path} does not exist")
        self._cap = self._open()
        self.index = 0

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise UserError(f"cannot open video file {self.path} (not a video OpenCV can read)")
        return cap

    def read(self) -> np.ndarray:
        """The next frame (RGB)."""
        ok, frame = self._cap.read()
        if not ok and self.loop and self.index > 0:
            # Seeking back is unreliable on some backends/containers; reopening always works.
            self._cap.release()
            self._cap = self._open()
            ok, frame = self._cap.read()
        if not ok:
            if self.index == 0:
                raise UserError(f"video file {self.path} has no readable frames")
            raise EndOfStream(f"{self.path}: end of video")
        self.index += 1
        return _rgb(frame)

    def close(self) -> None:
        """Release the file."""
        self._cap.release()


class DeviceCamera(_Source):
    """A USB camera (index or /dev path) or a network stream (rtsp://, http://) through OpenCV."""

    def __init__(self, index_or_url: int | str) -> None:
        self.source = index_or_url
        is_url = isinstance(index_or_url, str) and index_or_url.startswith(URL_SCHEMES)
        self.name = str(index_or_url) if is_url else f"device:{index_or_url}"
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, OPEN_TIMEOUT_MS]
        self._cap = cv2.VideoCapture(index_or_url, cv2.CAP_ANY, params)
        if not self._cap.isOpened():
            self._cap.release()
            what = "stream" if is_url else "camera device"
            raise UserError(f"cannot open {what} {index_or_url}")

    def read(self) -> np.ndarray:
        """The next frame (RGB)."""
        ok, frame = self._cap.read()
        if not ok:
            raise UserError(f"{self.name}: no frame (camera unplugged or stream ended)")
        return _rgb(frame)

    def close(self) -> None:
        """Release the device."""
        self._cap.release()


class PiCamera(_Source):
    """The Raspberry Pi camera module through picamera2."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        self.name = "picamera"
        try:
            # Only on Raspberry Pi OS; optional everywhere else.
            from picamera2 import Picamera2
        except ImportError:
            raise UserError("picamera --camera: picamera2 is not importable (on Raspberry Pi OS: sudo apt install "
                            "python3-picamera2, and a venv made with --system-site-packages; docs/install-pi.md)") \
                from None
        except ValueError as exc:   # apt's picamera2 is built against numpy 1: numpy 2 breaks its import
            raise UserError(f"picamera --camera: picamera2 does not load with numpy {np.__version__} ({exc}); "
                            f"install numpy<2 in the venv (docs/install-pi.md)") from None
        try:
            self._cam: Any = Picamera2()
            # libcamera's "RGB888" is B, G, R in memory; converted in read().
            self._cam.configure(self._cam.create_video_configuration(
                main={"size": (width, height), "format": "RGB888"}))
            self._cam.start()
        except Exception as exc:  # noqa: BLE001 - picamera2 raises assorted errors when no camera is attached
            raise UserError(f"cannot open the Pi camera: {exc}") from None

    def read(self) -> np.ndarray:
        """The next frame (RGB)."""
        return cv2.cvtColor(np.asarray(self._cam.capture_array("main"))[..., :3], cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        """Stop and release the camera."""
        self._cam.stop()
        self._cam.close()


class ImageDirCamera(_Source):
    """The images of a directory in natural name order (frame2 before frame10), looped when ``loop``."""

    def __init__(self, directory: str | Path, loop: bool = True) -> None:
        self.directory, self.loop = Path(directory), loop
        self.name = f"dir:{directory}"
        if not self.directory.is_dir():
            raise UserError(f"image directory {directory} does not exist")
        self.files = sorted((p for p in self.directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                            key=lambda p: _natural(p.name))
        if not self.files:
            raise UserError(f"image directory {directory} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.index = 0

    def read(self) -> np.ndarray:
        """The next image (RGB)."""
        if self.index >= len(self.files):
            if not self.loop:
                raise EndOfStream(f"{self.directory}: no more images")
            self.index = 0
        path = self.files[self.index]
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise UserError(f"cannot read image {path}")
        self.index += 1
        return _rgb(frame)


def _natural(name: str) -> list[Any]:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def parse_script(script: str) -> tuple[ScriptStep, ...]:
    """``still30,move60,cut1`` as script steps (a bare kind is one frame); ValueError if malformed."""
    steps = []
    for part in script.split(","):
        match = re.fullmatch(r"(still|move|cut)([0-9]*)", part.strip())
        if match is None or (match[2] and int(match[2]) < 1):
            raise ValueError(f"bad script step {part!r}")
        steps.append(ScriptStep(match[1], int(match[2] or 1)))
    return tuple(steps)


def _synthetic(spec: str, arg: str) -> ScriptedCamera:
    seed, has_script, script = arg.partition(":")
    try:
        if (arg and not re.fullmatch(r"[0-9]+", seed)) or (has_script and not script):
            raise ValueError(spec)
        return ScriptedCamera(int(seed or 0), parse_script(script) if has_script else None)
    except ValueError:
        raise UserError(f"camera {spec!r}: expected {SYNTHETIC_SPEC}") from None


def open_camera(spec: str) -> CameraSource:
    """The camera source named by ``spec`` (synthetic[:SEED[:SCRIPT]], file:PATH, device:N, rtsp://..., picamera,
    dir:PATH)."""
    kind, _, arg = spec.partition(":")
    if spec.startswith(URL_SCHEMES):
        return DeviceCamera(spec)
    if kind == "synthetic":
        return _synthetic(spec, arg)
    if kind == "file" and arg:
        return VideoFileCamera(arg)
    if kind == "dir" and arg:
        return ImageDirCamera(arg)
    if kind == "device" and arg:
        return DeviceCamera(int(arg) if arg.isdigit() else arg)
    if spec == "picamera":
        return PiCamera()
    raise UserError(f"unknown camera {spec!r}: expected {SPECS}")


__all__ = ["CameraSource", "DeviceCamera", "EndOfStream", "ImageDirCamera", "PiCamera", "ScriptStep",
           "ScriptedCamera", "VideoFileCamera", "open_camera", "parse_script"]
