"""Dataclass <-> Avro datum conversion from type hints, the schema check, and Tensor's numpy views."""

from __future__ import annotations

import enum
import io
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from worker.wire import Converter, Tensor, default_registry

from ._samples import task_table


class Role(enum.Enum):
    RECORDER = "recorder"
    STAGE = "stage"


@dataclass(frozen=True)
class Leaf:
    label: str
    weight: float


@dataclass(frozen=True)
class Node:
    name: str
    role: Role
    kind: Literal["a", "b"]
    count: int
    on: bool
    blob: bytes
    parent: Leaf | None
    maybe: int | None
    leaves: tuple[Leaf, ...]
    dims: tuple[int, ...]
    extra: dict[str, Leaf]


NODE_SCHEMA = {
    "type": "record", "name": "Node", "namespace": "t", "fields": [
        {"name": "name", "type": "string"},
        {"name": "role", "type": {"type": "enum", "name": "Role", "symbols": ["recorder", "stage"]}},
        {"name": "kind", "type": "string"},
        {"name": "count", "type": "long"},
        {"name": "on", "type": "boolean"},
        {"name": "blob", "type": "bytes"},
        {"name": "parent", "type": ["null", {"type": "record", "name": "Leaf", "fields": [
            {"name": "label", "type": "string"}, {"name": "weight", "type": "double"}]}]},
        {"name": "maybe", "type": ["null", "long"]},
        {"name": "leaves", "type": {"type": "array", "items": "Leaf"}},
        {"name": "dims", "type": {"type": "array", "items": "long"}},
        {"name": "extra", "type": {"type": "map", "values": "t.Leaf"}},
    ]}


def _node() -> Node:
    return Node(name="n", role=Role.STAGE, kind="b", count=-3, on=True, blob=b"\x00\x01", parent=None, maybe=7,
                leaves=(Leaf("x", 0.5), Leaf("y", -1.0)), dims=(1, 2, 3), extra={"k": Leaf("z", 2.0)})


def test_nested_dataclasses_round_trip_through_fastavro() -> None:
    converter, schema = Converter(), parse_schema(NODE_SCHEMA)
    converter.check(Node, schema)
    buffer = io.BytesIO()
    schemaless_writer(buffer, schema, converter.to_datum(_node()))
    buffer.seek(0)
    back = converter.from_datum(Node, schemaless_reader(buffer, schema, None))
    assert back == _node()
    assert isinstance(back.leaves, tuple) and isinstance(back.dims, tuple) and back.role is Role.STAGE
    with_parent = Node(**{**_node().__dict__, "parent": Leaf("p", 1.0), "maybe": None})
    assert converter.from_datum(Node, converter.to_datum(with_parent)) == with_parent


def test_task_table_converts_without_code_of_its_own() -> None:
    converter = default_registry().converter
    table = task_table()
    datum = converter.to_datum(table)
    assert datum["master"] == {"device": "master", "host": "10.0.0.1", "port": 7600}
    assert converter.from_datum(type(table), datum) == table


def test_check_names_the_field_that_disagrees() -> None:
    converter = Converter()
    wrong_type = {**NODE_SCHEMA, "fields": [dict(f, type="double") if f["name"] == "count" else f
                                              for f in NODE_SCHEMA["fields"]]}
    with pytest.raises(TypeError, match=r"Node\.count"):
        converter.check(Node, parse_schema(wrong_type))
    swapped = {**NODE_SCHEMA, "fields": NODE_SCHEMA["fields"][1::-1] + NODE_SCHEMA["fields"][2:]}
    with pytest.raises(TypeError, match="in this order"):
        converter.check(Node, parse_schema(swapped))
    not_optional = {**NODE_SCHEMA, "fields": [dict(f, type="long") if f["name"] == "maybe" else f
                                              for f in NODE_SCHEMA["fields"]]}
    with pytest.raises(TypeError, match=r"Node\.maybe"):
        converter.check(Node, parse_schema(not_optional))


def test_unsupported_hints_are_refused() -> None:
    @dataclass(frozen=True)
    class Odd:
        pair: tuple[int, str]
    with pytest.raises(TypeError, match="no Avro conversion"):
        Converter().to_datum(Odd((1, "a")))


def test_memoryviews_pass_through_flattened_not_copied() -> None:
    @dataclass(frozen=True)
    class Holder:
        data: bytes | memoryview
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    datum = Converter().to_datum(Holder(memoryview(values)))
    assert datum["data"].format == "B" and datum["data"].nbytes == 48
    assert np.shares_memory(np.frombuffer(datum["data"], np.uint8), values)


def test_tensor_from_array_shares_memory_and_array_is_a_read_only_view() -> None:
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    tensor = Tensor.from_array("t", values)
    assert (tensor.dtype, tensor.shape, tensor.nbytes) == ("float32", (2, 3, 4), 96)
    view = tensor.array()
    assert np.shares_memory(view, values) and not view.flags.writeable
    np.testing.assert_array_equal(view, values)
    scalar = Tensor.from_array("s", np.array(2.5))
    assert scalar.shape == () and scalar.array() == 2.5
    strided = Tensor.from_array("c", values[:, :, ::2])  # not contiguous: the one case that copies
    np.testing.assert_array_equal(strided.array(), values[:, :, ::2])
    big_endian = Tensor.from_array("b", values.astype(">f4"))
    np.testing.assert_array_equal(big_endian.array(), values)


def test_tensor_refuses_inconsistent_or_dangerous_payloads() -> None:
    with pytest.raises(ValueError, match="expected 16"):
        Tensor(name="x", dtype="float32", shape=(2, 2), data=bytes(15))
    with pytest.raises(ValueError, match="unsupported tensor dtype"):
        Tensor(name="x", dtype="object", shape=(1,), data=bytes(8))
    with pytest.raises(ValueError, match="negative"):
        Tensor(name="x", dtype="uint8", shape=(-1,), data=b"")
    with pytest.raises(ValueError, match="codec"):
        Tensor(name="x", dtype="uint8", shape=(1,), data=b"a", codec="zip")
    half = Tensor(name="x", dtype="float32", shape=(2,), data=bytes(4), codec="fp16")
    assert half.array().dtype == np.float32  # codecs are decoded by Tensor.array (tests/worker/codecs)
