"""Every built-in model builds with our writer, loads in LiteRT and matches the numpy reference."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from orchestrator.toolchain.zoo import build_model, builtin_models, find_spec
from worker.errors import ConfigError
from worker.executor import LiteRTRunner, NumpyRunner
from worker.graph import read_graph

SMALL = [m for m in builtin_models() if m.endswith("-tiny")]
FULL = [m for m in builtin_models() if not m.endswith("-tiny")]


def _matches_reference(name: str) -> None:
    model = build_model(find_spec(name), progress=False)
    rng = np.random.default_rng(7)
    for block in model.spec.blocks:
        if block.is_builtin:
            continue
        path = model.path(block.name)
        graph = read_graph(path)
        assert [layer.name for layer in graph.layers] == [layer.name for layer in block.layers]
        lite, ref = LiteRTRunner(path), NumpyRunner(path)
        assert [s.shape for s in lite.inputs] == [tuple(s) for s in model.blocks[block.name].input_shapes]
        feeds = {s.name: rng.random(s.shape, dtype=np.float32) for s in lite.inputs}
        got, want = ref.run(feeds), lite.run(feeds)
        assert set(got) == set(want) == set(model.blocks[block.name].outputs)
        for k in want:
            scale = float(np.max(np.abs(want[k]))) or 1.0
            assert np.max(np.abs(got[k] - want[k])) / scale < 1e-4, (name, block.name, k)
        del lite, ref
        gc.collect()


@pytest.mark.parametrize("name", SMALL)
def test_small_models(name: str) -> None:
    _matches_reference(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", FULL)
def test_full_size_models(name: str) -> None:
    _matches_reference(name)


def test_every_full_model_has_a_small_variant() -> None:
    assert set(FULL) - {"action-recognition-half"} == {m.removesuffix("-tiny") for m in SMALL}


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path) -> None:
    spec = find_spec("alexnet-tiny")
    a = build_model(spec, seed=1, out=tmp_path / "a", progress=False)
    b = build_model(spec, seed=1, out=tmp_path / "b", progress=False)
    c = build_model(spec, seed=2, out=tmp_path / "c", progress=False)
    assert a.blocks["classifier"].sha256 == b.blocks["classifier"].sha256 != c.blocks["classifier"].sha256


def test_npz_weights_are_used(tmp_path) -> None:
    spec = find_spec("alexnet-tiny")
    kernel = np.full((10, 64), 0.5, np.float32)
    np.savez(tmp_path / "w.npz", **{"fc3/kernel": kernel, "fc3/bias": np.arange(10, dtype=np.float32)})
    model = build_model(spec, weights=tmp_path / "w.npz", out=tmp_path / "m", progress=False)
    graph = read_graph(model.path("classifier"))
    np.testing.assert_array_equal(graph.tensors[graph.tensor_index("fc3/kernel")].data, kernel)
    np.testing.assert_array_equal(graph.tensors[graph.tensor_index("fc3/bias")].data, np.arange(10))


def test_npz_key_that_matches_no_weight_is_refused(tmp_path) -> None:
    np.savez(tmp_path / "w.npz", **{"conv1/kernal": np.zeros((16, 11, 11, 3), np.float32)})
    with pytest.raises(ConfigError, match=r"w\.npz: conv1/kernal: not a weight of any layer"):
        build_model(find_spec("alexnet-tiny"), weights=tmp_path / "w.npz", out=tmp_path / "m", progress=False)
