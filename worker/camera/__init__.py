"""Camera sources and the step that turns a camera frame into the model's input tensor."""

from ._preprocess import preprocess
from ._synthetic import SyntheticCamera

__all__ = ["SyntheticCamera", "preprocess"]
