"""Extract real third-party .tflite graphs from a PyPI wheel (for the tests of the toolchain).

The mediapipe wheel ships small face and hand detectors: DAGs with residual adds, depthwise
convs, PAD, PRELU, float16 weights dequantized in the graph and several outputs. Only the
wheel is fetched (no dependencies installed); the .tflite files are copied out of it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODELS = {
    "face_detection_short_range.tflite": "mediapipe/modules/face_detection/",
    "palm_detection_lite.tflite": "mediapipe/modules/palm_detection/",
    "hand_landmark_lite.tflite": "mediapipe/modules/hand_landmark/",
    "face_landmark.tflite": "mediapipe/modules/face_landmark/",
    "selfie_segmentation.tflite": "mediapipe/modules/selfie_segmentation/",
}


def main() -> int:
    """Download the wheel into a temporary directory and copy the models to --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mediapipe", default="0.10.14", help="mediapipe wheel version")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if all((args.out / name).exists() for name in MODELS):
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        print(f"fetching mediapipe=={args.mediapipe} wheel for its .tflite models ...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "--python-version", "3.11", "--platform",
                        "manylinux_2_17_x86_64", "-d", tmp, f"mediapipe=={args.mediapipe}"],
                       check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for name, folder in MODELS.items():
                (args.out / name).write_bytes(zf.read(folder + name))
                print(f"  {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
