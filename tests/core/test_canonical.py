"""RFC 8785 canonical JSON: the RFC's own examples, then properties."""

from __future__ import annotations

import enum
import json
import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.canonical import MAX_DEPTH, _canonical_exact, canonical_json
from bastion.core.errors import InputError

# RFC 8785 Appendix B: IEEE 754 binary64 bit patterns and their canonical spelling.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    assert canonical_json(_double(bits)) == expected.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinities_are_refused(bits: str) -> None:
    with pytest.raises(InputError):
        canonical_json(_double(bits))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("333333333.33333329", "333333333.3333333"),
        ("1E30", "1e+30"),
        ("4.50", "4.5"),
        ("2e-3", "0.002"),
        ("0.000001", "0.000001"),
        ("1e-7", "1e-7"),
        ("0.000000000000000000000000001", "1e-27"),
        ("-0.0", "0"),
        ("1e21", "1e+21"),
        ("123456789012345680000", "123456789012345680000"),
        ("100.0", "100"),
        ("-1.5e-10", "-1.5e-10"),
    ],
)
def test_number_spellings(source: str, expected: str) -> None:
    assert canonical_json(float(source)) == expected.encode()


def test_rfc8785_section_3_2_2_example() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],'
        '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


def test_rfc8785_section_3_2_2_example_bytes() -> None:
    # The RFC gives the UTF-8 of the same output in hex.
    expected_hex = (
        "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72"
        " 75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a"
        " 5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31"
        " 65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37"
        " 5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30"
        " 30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d"
    )
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 1e-27],
        "string": '\u20ac$\x0f\nA\'B"\\\\"/',
        "literals": [None, True, False],
    }
    assert canonical_json(value) == bytes.fromhex(expected_hex.replace(" ", ""))


def test_rfc8785_sorting_example() -> None:
    # RFC 8785 3.2.3: keys ordered by UTF-16 code units, not code points.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = [v for k, v in json.loads(canonical_json(value)).items()]
    assert order == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]


def test_string_escapes() -> None:
    assert canonical_json('\b\t\n\f\r"\\/') == b'"\\b\\t\\n\\f\\r\\"\\\\/"'
    assert canonical_json("\x00\x1f\x7f") == b'"\\u0000\\u001f\x7f"'
    assert canonical_json("\u2028\u00e9\U0001f600") == '"\u2028\u00e9\U0001f600"'.encode()


def test_structure_has_no_whitespace_and_tuples_are_arrays() -> None:
    assert canonical_json({"b": (1, 2), "a": {"y": None, "x": []}}) == (
        b'{"a":{"x":[],"y":null},"b":[1,2]}'
    )
    assert canonical_json({}) == b"{}"


def test_integers_and_bools() -> None:
    assert canonical_json([True, False, 0, -7, 2**53, -(2**53)]) == (
        b"[true,false,0,-7,9007199254740992,-9007199254740992]"
    )


class _Level(enum.IntEnum):
    HIGH = 3


def test_int_enum_is_its_number() -> None:
    assert canonical_json(_Level.HIGH) == b"3"


@pytest.mark.parametrize(
    "bad",
    [
        2**53 + 1,
        -(2**53) - 1,
        float("nan"),
        float("inf"),
        {1: "x"},
        {("a",): 1},
        {"a": {None: 1}},
        b"bytes",
        {1, 2},
        object(),
        "\ud800",
        {"\udc00": 1},
        [1, math.inf],
    ],
)
def test_refused_values(bad: object) -> None:
    with pytest.raises(InputError):
        canonical_json(bad)


def test_deep_nesting_and_cycles_are_refused() -> None:
    deep: list[Any] = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(InputError):
        canonical_json(deep)
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(InputError):
        canonical_json(cycle)


def test_nesting_up_to_the_limit_is_fine() -> None:
    deep: list[Any] = []
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert canonical_json(deep) == b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)


# --- properties ---------------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def _as_ijson(text: str) -> int | float:
    """I-JSON numbers are doubles: big integer spellings come back as floats."""
    number = int(text)
    return number if abs(number) <= 2**53 else float(text)


def _loads(data: bytes) -> Any:
    return json.loads(data, parse_int=_as_ijson)


def _normalize(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    return value


@given(_json_values)
def test_round_trips_through_json_loads(value: object) -> None:
    assert _loads(canonical_json(value)) == _normalize(value)


@given(_json_values)
def test_idempotent(value: object) -> None:
    once = canonical_json(value)
    assert canonical_json(_loads(once)) == once


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_double_round_trips_exactly(value: float) -> None:
    assert float(canonical_json(value)) == value


@given(st.dictionaries(st.text(), st.integers(-10, 10)))
def test_keys_sorted_by_utf16_code_units(value: dict[str, int]) -> None:
    keys = list(json.loads(canonical_json(value)))
    assert keys == sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))


@given(st.text())
def test_strings_are_valid_json_and_utf8(value: str) -> None:
    try:
        data = canonical_json(value)
    except InputError:
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in value)
        return
    assert json.loads(data.decode("utf-8")) == value
    assert all(b >= 0x20 for b in data)  # no raw control bytes


# -- the fast path must agree with the exact one on everything it accepts ---------------------

_keys = st.text(max_size=8)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_keys, _json_values, max_size=6) | st.lists(_json_values, max_size=6))
def test_fast_path_matches_exact_path(value: object) -> None:
    try:
        exact = _canonical_exact(value)
    except InputError:
        with pytest.raises(InputError):
            canonical_json(value)
        return
    assert canonical_json(value) == exact


def test_fast_path_declines_what_it_cannot_spell() -> None:
    # Floats, unsafe integers, astral-plane keys and non-string keys go the exact way.
    assert canonical_json({"a": 1e21, "b": 1.0, "c": -0.0}) == b'{"a":1e+21,"b":1,"c":0}'
    assert canonical_json({"\U0001f600": 1, "\ufb01": 2}) == _canonical_exact(
        {"\U0001f600": 1, "\ufb01": 2}
    )
    with pytest.raises(InputError):
        canonical_json({"big": 2**53 + 1})
    with pytest.raises(InputError):
        canonical_json({1: "a"})
    with pytest.raises(InputError):
        canonical_json({"s": "\ud800"})


@given(
    st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=1e-5, max_value=1e17)
    | st.floats(min_value=-1e17, max_value=-1e-5)
)
def test_fast_path_spells_floats_as_the_reference(value: float) -> None:
    """The C-encoder fast path must agree with the ECMAScript formatter, byte for byte."""
    doc = {"x": value, "y": [value, {"z": value}]}
    assert canonical_json(doc) == _canonical_exact(doc)


@pytest.mark.parametrize(
    "value",
    [1e-4, 0.00009999999999999999, 1e16 - 2, 9999999999999998.0, 1e16, 0.1, -0.5, 5.0, -0.0],
)
def test_fast_path_float_edges(value: float) -> None:
    assert canonical_json([value]) == _canonical_exact([value])
