"""ONNX models read as protobuf wire format, without the ``onnx`` package.

Only the fields the checks need are decoded: the opset imports (operator domains), every
node's domain, and every tensor's data location and external-data ``location``, through
subgraphs (``If``/``Loop`` bodies), local functions and training graphs. Everything else
is skipped by length. The walk is a work list, never recursion, and stops at limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_LOCATION", "OnnxInfo", "OnnxMalformed", "looks_onnx", "parse_onnx"]

_MAX_MESSAGES = 5_000_000
_MAX_STRING = 1 << 16

# Message kinds and, per kind, field number -> the kind of the embedded message.
_MODEL, _GRAPH, _NODE, _ATTR, _TENSOR, _SPARSE, _FUNC, _OPSET, _TRAIN, _ENTRY = range(10)
_CHILDREN: dict[int, dict[int, int]] = {
    _MODEL: {7: _GRAPH, 8: _OPSET, 20: _TRAIN, 25: _FUNC},
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},
    _NODE: {5: _ATTR},
    _ATTR: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _TENSOR: {13: _ENTRY},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},
    _FUNC: {7: _NODE, 9: _OPSET},
    _OPSET: {},
    _TRAIN: {1: _GRAPH, 2: _GRAPH},
    _ENTRY: {},
}
# ModelProto's fields (the tags a serialised model may start with, in any order).
_MODEL_FIELDS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26})


class OnnxMalformed(Exception):
    """The bytes are not a well-formed protobuf message."""


@dataclass
class OnnxTensor:
    name: str = ""
    external: bool = False
    location: str | None = None


@dataclass
class OnnxInfo:
    """What the checks need from a ModelProto."""

    ir_version: int = 0
    has_graph: bool = False
    opset_domains: list[str] = field(default_factory=list)
    node_domains: list[tuple[str, str, str]] = field(default_factory=list)  # domain, op, name
    tensors: list[OnnxTensor] = field(default_factory=list)


def _varint(buf: Any, i: int, end: int) -> tuple[int, int]:
    v = 0
    shift = 0
    while True:
        if i >= end or shift > 63:
            raise OnnxMalformed("truncated or overlong varint")
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, i
        shift += 7


def _fields(buf: Any, i: int, end: int) -> Any:
    """(field number, wire type, value or (start, end)) of one message's fields."""
    while i < end:
        tag, i = _varint(buf, i, end)
        num, wt = tag >> 3, tag & 7
        if num == 0:
            raise OnnxMalformed("field number 0")
        if wt == 0:
            v, i = _varint(buf, i, end)
            yield num, wt, v
        elif wt == 2:
            ln, i = _varint(buf, i, end)
            if i + ln > end:
                raise OnnxMalformed("a length-delimited field runs past its message")
            yield num, wt, (i, i + ln)
            i += ln
        elif wt == 1:
            i += 8
            yield num, wt, None
        elif wt == 5:
            i += 4
            yield num, wt, None
        else:
            raise OnnxMalformed(f"unsupported wire type {wt}")
    if i != end:
        raise OnnxMalformed("a fixed-width field runs past its message")


def _str(buf: Any, span: tuple[int, int]) -> str:
    s, e = span
    return bytes(buf[s : min(e, s + _MAX_STRING)]).decode("utf-8", "replace")


def looks_onnx(buf: Any) -> bool:
    """Top-level fields all ModelProto's, well formed to the end, with a graph."""
    n = len(buf)
    if n < 4:
        return False
    has_graph = False
    try:
        for num, wt, _ in _fields(buf, 0, n):
            if num not in _MODEL_FIELDS:
                return False
            if num == 7 and wt == 2:
                has_graph = True
    except OnnxMalformed:
        return False
    return has_graph


def parse_onnx(buf: Any) -> OnnxInfo:
    """Decode what the checks need; raises :class:`OnnxMalformed`."""
    info = OnnxInfo()
    todo: list[tuple[int, int, int]] = [(_MODEL, 0, len(buf))]
    count = 0
    while todo:
        kind, s, e = todo.pop()
        count += 1
        if count > _MAX_MESSAGES:
            raise OnnxMalformed(f"more than {_MAX_MESSAGES} messages")
        children = _CHILDREN[kind]
        tensor = OnnxTensor() if kind == _TENSOR else None
        node: list[str] = ["", "", ""]
        key = None
        for num, wt, v in _fields(buf, s, e):
            if wt == 2 and num in children:
                ck = children[num]
                if ck == _ENTRY and tensor is not None:
                    k, val = _entry(buf, v)
                    if k == "location":
                        tensor.location = val
                    continue
                if kind == _MODEL and num == 7:
                    info.has_graph = True
                todo.append((ck, v[0], v[1]))
            elif kind == _MODEL and num == 1 and wt == 0:
                info.ir_version = v
            elif kind == _OPSET and num == 1 and wt == 2:
                key = _str(buf, v)
            elif kind == _NODE and wt == 2 and num in (7, 4, 3):
                node[{7: 0, 4: 1, 3: 2}[num]] = _str(buf, v)
            elif tensor is not None and wt == 2 and num == 8:
                tensor.name = _str(buf, v)
            elif tensor is not None and wt == 0 and num == 14:
                tensor.external = v == 1
        if kind == _OPSET:
            info.opset_domains.append(key or "")
        elif kind == _NODE:
            info.node_domains.append((node[0], node[1], node[2]))
        elif tensor is not None:
            info.tensors.append(tensor)
    return info


MAX_LOCATION = 1 << 20  # a longer external-data location is reported, never cut short


def _entry(buf: Any, span: tuple[int, int]) -> tuple[str, str]:
    """A StringStringEntryProto. Values are read whole up to ``MAX_LOCATION`` + 1 bytes
    (cutting a location short could drop the ``..`` that makes it escape)."""
    k = v = ""
    for num, wt, val in _fields(buf, span[0], span[1]):
        if wt == 2 and num == 1:
            k = _str(buf, val)
        elif wt == 2 and num == 2:
            s, e = val
            v = bytes(buf[s : min(e, s + MAX_LOCATION + 1)]).decode("utf-8", "replace")
    return k, v
