"""Make the real converted .tflite models the tests use (tests/fixtures/models/), with TensorFlow.

TensorFlow is a tool of this script only, never a dependency of the product: run it in a separate
virtual environment (``pip install tensorflow-cpu tf-keras``) when a fixture must change, and commit
the files it writes (a few hundred KB in all). Every model is small, seeded and made of the kinds of
graphs users bring: float32, float16 weights, dynamic-range int8, full int8 (float and int8 I/O),
Keras 3 and tf-keras LSTMs, a transformer block, two inputs, a U-Net with TRANSPOSE_CONV, sparse
weights and an RFFT2D audio front-end.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

SEED = 7


def image_net(keras: object, size: int = 32) -> object:
    """A small CNN with a residual add, a depthwise conv and two dense layers (logits out)."""
    layers = keras.layers
    x_in = keras.Input((size, size, 3), batch_size=1, name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x_in)
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.Add()([x, y])
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)   # not a global pool: random weights would average every image alike
    x = layers.Dense(16, activation="relu")(x)
    return keras.Model(x_in, layers.Dense(5)(x))


def representative(shape: tuple[int, ...]) -> Callable[[], object]:
    """Calibration frames for full-integer quantization."""
    rng = np.random.default_rng(SEED)

    def frames() -> object:
        for _ in range(16):
            yield [rng.random((1, *shape), dtype=np.float32)]
    return frames


def convert(model: object, setup: Callable[[object], None] | None = None) -> bytes:
    """A Keras model (Keras 3 or tf-keras) converted with its weights frozen into the file."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if setup is not None:
        setup(converter)
    return converter.convert()


def float16(c: object) -> None:
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.target_spec.supported_types = [tf.float16]


def dynamic_range(c: object) -> None:
    c.optimizations = [tf.lite.Optimize.DEFAULT]


def full_int8(shape: tuple[int, ...], io: object | None) -> Callable[[object], None]:
    def setup(c: object) -> None:
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = representative(shape)
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io is not None:
            c.inference_input_type = io
            c.inference_output_type = io
    return setup


def lstm(keras: object, legacy: bool) -> object:
    layers = keras.layers
    x_in = keras.Input((12, 6), batch_size=1, name="sequence")
    x = layers.LSTM(16, unroll=False)(x_in) if not legacy else layers.LSTM(16)(x_in)
    return keras.Model(x_in, layers.Dense(4)(x))


def transformer(keras: object) -> object:
    layers = keras.layers
    x_in = keras.Input((10, 16), batch_size=1, name="tokens")
    a = layers.MultiHeadAttention(num_heads=2, key_dim=8)(x_in, x_in)
    x = layers.LayerNormalization()(layers.Add()([x_in, a]))
    f = layers.Dense(32, activation="relu")(x)
    f = layers.Dense(16)(f)
    x = layers.LayerNormalization()(layers.Add()([x, f]))
    return keras.Model(x_in, layers.Dense(3)(layers.GlobalAveragePooling1D()(x)))


def two_inputs(keras: object) -> object:
    layers = keras.layers
    image = keras.Input((16, 16, 3), batch_size=1, name="image")
    extra = keras.Input((4,), batch_size=1, name="extra")
    x = layers.Conv2D(4, 3, activation="relu")(image)
    x = layers.Flatten()(x)
    x = layers.Concatenate()([layers.Dense(8, activation="relu")(x), extra])
    return keras.Model([image, extra], layers.Dense(2)(x))


def unet(keras: object) -> object:
    layers = keras.layers
    x_in = keras.Input((32, 32, 3), batch_size=1, name="image")
    d1 = layers.Conv2D(8, 3, padding="same", activation="relu")(x_in)
    d2 = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(d1)
    u1 = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(d2)
    x = layers.Concatenate()([d1, u1])
    return keras.Model(x_in, layers.Conv2D(2, 1, activation="sigmoid")(x))


def sparse_net(keras: object) -> object:
    """Dense layers whose weights are 90% zeros in 1x4 blocks: the converter stores them sparse."""
    layers = keras.layers
    x_in = keras.Input((64,), batch_size=1, name="features")
    x = layers.Dense(128, activation="relu")(x_in)
    x = layers.Dense(128, activation="relu")(x)
    model = keras.Model(x_in, layers.Dense(10)(x))
    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            kernel, bias = layer.get_weights()
            if kernel.shape[1] % 4:
                continue
            blocks = rng.random((kernel.shape[0], kernel.shape[1] // 4)) < 0.1
            layer.set_weights([kernel * np.repeat(blocks, 4, axis=1), bias])
    return model


def sparsity(c: object) -> None:
    c.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]


def rfft_bytes() -> bytes:
    """An audio front-end: frames -> |RFFT2D| -> log -> a dense classifier (complex64 inside)."""
    rng = np.random.default_rng(SEED)
    w = tf.constant(rng.standard_normal((8 * 9, 3)).astype(np.float32) * 0.1)

    @tf.function(input_signature=[tf.TensorSpec((1, 8, 16), tf.float32)])
    def spectrum(frames: tf.Tensor) -> tf.Tensor:
        mag = tf.abs(tf.signal.rfft2d(frames))
        logs = tf.math.log(mag + 1e-3)
        return tf.matmul(tf.reshape(logs, (1, -1)), w)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([spectrum.get_concrete_function()])
    return converter.convert()


def models() -> dict[str, Callable[[], bytes]]:
    """Fixture name -> a function making its .tflite bytes."""
    import keras as keras3
    import tf_keras

    def seeded(make: Callable[[], bytes]) -> Callable[[], bytes]:
        def run() -> bytes:
            keras3.utils.set_random_seed(SEED)
            tf_keras.utils.set_random_seed(SEED)
            return make()
        return run

    image = (32, 32, 3)
    return {name: seeded(make) for name, make in {
        "cnn_float32": lambda: convert(image_net(keras3)),
        "cnn_float16": lambda: convert(image_net(keras3), float16),
        "cnn_dynamic_int8": lambda: convert(image_net(keras3), dynamic_range),
        "cnn_int8_float_io": lambda: convert(image_net(keras3), full_int8(image, None)),
        "cnn_int8_int8_io": lambda: convert(image_net(keras3), full_int8(image, tf.int8)),
        "lstm_keras3": lambda: convert(lstm(keras3, False)),
        "lstm_tf_keras": lambda: convert(lstm(tf_keras, True)),
        "transformer_block": lambda: convert(transformer(keras3)),
        "two_inputs": lambda: convert(two_inputs(keras3)),
        "unet_transpose_conv": lambda: convert(unet(keras3)),
        "sparse_dense": lambda: convert(sparse_net(keras3), sparsity),
        "rfft2d_audio": rfft_bytes,
    }.items()}


def main() -> None:
    """Write every fixture (or those named) into --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/models", help="where to write (default tests/fixtures/models)")
    parser.add_argument("names", nargs="*", help="fixtures to make (default: all)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    makers = models()
    for name in args.names or makers:
        data = makers[name]()
        (out / f"{name}.tflite").write_bytes(data)
        print(f"{name}.tflite: {len(data) / 1024:.1f} KB", flush=True)


if __name__ == "__main__":
    main()
