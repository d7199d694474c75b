"""RFC 8785 JSON Canonicalization Scheme (JCS).

Ledger events are hashed and signed, so one value must have exactly one byte spelling,
and that spelling must match what other JCS implementations (Go, Java, JavaScript)
produce, or third parties could not re-verify our hashes.

Restricted to I-JSON (RFC 7493): integers beyond 2**53 in magnitude, NaN, the infinities,
non-string keys and lone surrogates are refused rather than silently altered.
"""

from __future__ import annotations

import json
import math
from typing import cast

from bastion.core.errors import InputError

__all__ = ["MAX_DEPTH", "canonical_json"]

#: Deepest nesting accepted: bounds recursion and catches self-referencing containers.
MAX_DEPTH = 256

_MAX_SAFE = 2**53
_FLOAT_LO, _FLOAT_HI = 1e-4, 1e16  # where repr() and ECMAScript both use fixed notation

# ECMAScript JSON.stringify escapes: the two-character forms, then \u00xx (lowercase hex)
# for the remaining C0 controls. Everything else, U+007F and non-ASCII included, is literal.
_ESCAPES: dict[str, str] = {chr(c): f"\\u{c:04x}" for c in range(0x20)}
_ESCAPES.update({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"})
_ESCAPES.update({'"': '\\"', "\\": "\\\\"})
_ESCAPE_TABLE = str.maketrans(_ESCAPES)


# For "plain" values (safe integers, string keys in the Basic Multilingual Plane, floats
# that both spell the same way) the C encoder's output with sorted keys IS the canonical
# form: its string escapes are JCS's, and code-point order equals UTF-16 order inside the
# BMP. Python's float repr and ECMAScript's Number.toString pick the same shortest
# round-trip digits and both write them in fixed notation for 1e-4 <= |x| < 1e16; they
# differ only for integral values ("1.0" vs "1") and outside that range (exponents).
# The rest takes the exact path below. Ledger appends spend most of their time here.
_C_ENCODE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def _plain(obj: object) -> bool:
    """Can the C encoder spell ``obj`` canonically? Iterative, so depth costs no stack."""
    stack: list[tuple[object, int]] = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if type(node) is dict:
            children: list[object] = []
            for key, value in node.items():
                if type(key) is not str or not (key.isascii() or max(key) < "\U00010000"):
                    return False
                children.append(value)
        elif type(node) is list or type(node) is tuple:
            children = list(node)
        else:
            return False
        for v in children:
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is int:
                if not -_MAX_SAFE <= v <= _MAX_SAFE:  # type: ignore[operator]
                    return False
                continue
            if tv is float:
                # NaN and the infinities fail the range test too.
                f = cast(float, v)
                if not _FLOAT_LO <= abs(f) < _FLOAT_HI or f.is_integer():
                    return False
                continue
            stack.append((v, depth + 1))
    return True


def canonical_json(obj: object) -> bytes:
    """Serialize ``obj`` to its RFC 8785 canonical UTF-8 bytes.

    Accepts ``None``, ``bool``, ``int``, ``float``, ``str``, ``list``, ``tuple`` and ``dict``
    with ``str`` keys; anything else raises :class:`InputError`.
    """
    if _plain(obj):
        try:
            return _C_ENCODE(obj).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError("JSON string holds a lone surrogate (not valid Unicode)") from exc
    return _canonical_exact(obj)


def _canonical_exact(obj: object) -> bytes:
    """The reference implementation: every value type, floats formatted as ECMAScript does."""
    parts: list[str] = []
    _write(obj, parts, 0)
    text = "".join(parts)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: not valid Unicode, not I-JSON
        raise InputError("JSON string holds a lone surrogate (not valid Unicode)") from exc


def _write(obj: object, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InputError(f"JSON nesting deeper than {MAX_DEPTH} (or a container holds itself)")
    # bool before int: bool is a subclass of int.
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_string(obj))
    elif isinstance(obj, int):
        out.append(_integer(obj))
    elif isinstance(obj, float):
        out.append(_number(obj))
    elif isinstance(obj, dict):
        _write_object(obj, out, depth)
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, item in enumerate(obj):
            if i:
                out.append(",")
            _write(item, out, depth + 1)
        out.append("]")
    else:
        raise InputError(f"cannot canonicalize a {type(obj).__name__} as JSON")


def _write_object(obj: dict[object, object], out: list[str], depth: int) -> None:
    keys: list[tuple[bytes, str]] = []
    for key in obj:
        if not isinstance(key, str):
            raise InputError(f"JSON object keys must be strings, not {type(key).__name__}")
        keys.append((_utf16_key(key), key))
    # RFC 8785 3.2.3: order by UTF-16 code units; big-endian UTF-16 bytes compare the same way.
    keys.sort()
    out.append("{")
    for i, (_, key) in enumerate(keys):
        if i:
            out.append(",")
        out.append(_string(key))
        out.append(":")
        _write(obj[key], out, depth + 1)
    out.append("}")


def _utf16_key(key: str) -> bytes:
    try:
        return key.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise InputError("JSON object key holds a lone surrogate (not valid Unicode)") from exc


def _string(value: str) -> str:
    return '"' + value.translate(_ESCAPE_TABLE) + '"'


def _integer(value: int) -> str:
    if -_MAX_SAFE <= value <= _MAX_SAFE:
        return str(int(value))  # int(): an IntEnum's str() is not its number
    raise InputError(f"integer {value} is beyond 2**53 in magnitude (not I-JSON)")


def _number(value: float) -> str:
    """ECMAScript Number.prototype.toString, which RFC 8785 3.2.2.3 mandates."""
    if not math.isfinite(value):
        raise InputError(f"{value!r} is not a JSON number")
    if value == 0:
        return "0"  # covers -0.0 as well
    sign = "-" if value < 0 else ""
    # Python's repr is the shortest string that round-trips (correctly rounded), which is
    # the digit string ECMAScript requires; only the layout differs.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp_text) if exp_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    # Now value = 0.<digits> * 10**point, with k digits and no leading or trailing zeros.
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    exponent = n - 1
    exp_sign = "+" if exponent >= 0 else "-"
    head = digits[0] if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{head}e{exp_sign}{abs(exponent)}"
