"""Camera sources and the step that turns a camera frame into the model's input tensor."""

from ._preprocess import preprocess
from ._sources import (
    CameraSource,
    DeviceCamera,
    EndOfStream,
    ImageDirCamera,
    PiCamera,
    ScriptedCamera,
    ScriptStep,
    VideoFileCamera,
    open_camera,
    parse_script,
)
from ._synthetic import SyntheticCamera

__all__ = ["CameraSource", "DeviceCamera", "EndOfStream", "ImageDirCamera", "PiCamera", "ScriptStep",
           "ScriptedCamera", "SyntheticCamera", "VideoFileCamera", "open_camera", "parse_script",
           "preprocess"]
