"""A lean pickle opcode walker that never unpickles.

Two passes over ``bytes``/``memoryview``/``mmap``. The fast pass validates every opcode and
its operand lengths with one table lookup per opcode and stops at the first opcode that
can import something (GLOBAL, STACK_GLOBAL, INST, EXT1/2/4): a pickle without those is
pure data and nothing in it can run. Only then does the precise pass model the stack,
the mark stack and the memo, so STACK_GLOBAL is resolved through PUT/GET/MEMOIZE exactly
as the unpickler would, and the callables of REDUCE, NEWOBJ(_EX), OBJ, INST and BUILD are
known. Neither pass recurses, so a pickle that nests a million levels is reported, not
crashed on. Every pickle in the data is walked (several back to back, as the legacy
PyTorch format writes them); joblib's raw array bytes between opcodes are skipped.
"""

from __future__ import annotations

import math
import mmap
import re
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["GlobalRef", "PickleIssue", "PickleScan", "walk_pickles"]

# Operand kinds of the fast pass. A value >= 1 is the whole opcode size (fixed operand).
_LEN1: Final = -1
_LEN4: Final = -4
_LEN4S: Final = -5
_LEN8: Final = -8
_LINE: Final = -10
_STOP: Final = -30
_IMPORT: Final = -40
_MARK: Final = -50
_POPMARK: Final = -51
_FRAME: Final = -60
_PROTO: Final = -70
_BAD: Final = -99

_KIND: list[int] = [_BAD] * 256
for _c in b"(":
    _KIND[_c] = _MARK
for _c in b"0N2QRabs}])\x81\x85\x86\x87\x88\x89\x8f\x92\x94\x97\x98":
    _KIND[_c] = 1
for _c in b"\x90\x91etlud1":  # ADDITEMS FROZENSET APPENDS TUPLE LIST SETITEMS DICT POP_MARK
    _KIND[_c] = _POPMARK
_KIND[ord("o")] = _IMPORT  # OBJ calls a class popped from the mark: precise pass
for _ch, _n in (("K", 2), ("M", 3), ("J", 5), ("G", 9), ("h", 2), ("j", 5), ("q", 2)):
    _KIND[ord(_ch)] = _n
_KIND[ord("r")] = 5
for _c in b"FILSVPgp":
    _KIND[_c] = _LINE
for _c in b"U\x8aC\x8c":
    _KIND[_c] = _LEN1
for _c in b"XB":
    _KIND[_c] = _LEN4
for _c in b"T\x8b":
    _KIND[_c] = _LEN4S
for _c in b"\x8d\x8e\x96":
    _KIND[_c] = _LEN8
for _c in b"ci\x93\x82\x83\x84":
    _KIND[_c] = _IMPORT
_KIND[ord(".")] = _STOP
_KIND[0x95] = _FRAME
_KIND[0x80] = _PROTO
_KIND_T: Final = tuple(_KIND)

_MAX_LINE: Final = 1 << 16
_JOBLIB_WRAPPERS: Final = frozenset(
    {
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
    }
)


@dataclass(frozen=True)
class GlobalRef:
    """One import the unpickler would perform: ``module.name`` at ``offset``."""

    module: str
    name: str
    offset: int
    opcode: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class PickleIssue:
    """Something wrong with the pickle's structure (malformed, too deep, unresolvable)."""

    kind: str
    message: str
    offset: int


@dataclass
class PickleScan:
    """What the walk found in one buffer: globals, calls, issues, pickle count."""

    globals: list[GlobalRef] = field(default_factory=list)
    issues: list[PickleIssue] = field(default_factory=list)
    pickles: int = 0
    opcodes_precise: int = 0
    calls: int = 0
    trailing_bytes: int = 0
    unresolved: list[int] = field(default_factory=list)
    ext_codes: list[tuple[int, int]] = field(default_factory=list)
    nested: list[tuple[int, int]] = field(default_factory=list)

    @property
    def malformed(self) -> bool:
        return any(i.kind != "trailing-data" for i in self.issues)


class _Malformed(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class _Global:
    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name


class _Obj:
    """The result of calling something: kept for joblib's array wrapper only."""

    __slots__ = ("args", "func", "state")

    def __init__(self, func: object, args: object) -> None:
        self.func = func
        self.args = args
        self.state: object = None


_OPAQUE: Final = object()
_MAX_JOBLIB_NEST: Final = 64  # joblib itself writes one level; each level is a Python frame
_MAX_TUPLE: Final = 16
_MAX_DICT: Final = 64


def walk_pickles(
    data: bytes | bytearray | memoryview | mmap.mmap,
    *,
    start: int = 0,
    max_depth: int = 10_000,
    max_stack: int = 5_000_000,
    first_must_parse: bool = True,
    min_pickles: int = 1,
    max_pickles: int | None = None,
) -> PickleScan:
    """Walk every pickle in ``data`` from ``start``; never raises on bad bytes.

    Pickles are walked back to back whether or not they start with PROTO (protocol 0 and
    1 have none, and ``pickle.load`` called again reads them). The first ``min_pickles``
    must parse (the legacy PyTorch format loads five in a row); after those, bytes that
    are not a valid pickle and import nothing are reported as trailing data (the legacy
    format stores raw tensor bytes there). ``max_pickles`` stops early (format detection).
    """
    buf = data
    n = len(buf)
    res = PickleScan()
    pos = start
    while pos < n and (max_pickles is None or res.pickles < max_pickles):
        must = res.pickles < min_pickles and first_must_parse
        lenient = res.pickles < min_pickles and not first_must_parse
        kind, end, msg = _fast(buf, pos, n, max_depth)
        if kind == "ok":
            res.pickles += 1
            pos = end
            continue
        if kind == "error" and not must:
            # Not a pickle after all: raw bytes behind the last one.
            res.trailing_bytes = n - pos
            res.issues.append(
                PickleIssue("trailing-data", f"{n - pos} bytes after the last pickle", pos)
            )
            break
        if kind == "error":
            label = "" if res.pickles == 0 else f"pickle {res.pickles + 1}: "
            res.issues.append(PickleIssue("malformed", label + msg, end))
            break
        # Imports ahead: the precise pass decides, from the start of this pickle.
        mark = len(res.globals)
        try:
            try:
                pos = _precise(buf, pos, n, res, max_depth, max_stack, 0)
            except (UnicodeDecodeError, ValueError, OverflowError, MemoryError) as exc:
                raise _Malformed(f"undecodable operand ({type(exc).__name__})", pos) from None
            except RecursionError:
                raise _Malformed("nesting too deep to follow", pos) from None
            res.pickles += 1
        except _Malformed as exc:
            if must or lenient or len(res.globals) > mark:
                res.issues.append(PickleIssue("malformed", exc.message, exc.offset))
            else:
                res.trailing_bytes = n - pos
                res.issues.append(
                    PickleIssue("trailing-data", f"{n - pos} bytes after the last pickle", pos)
                )
            break
    return res


def _fast(buf: Any, i: int, n: int, max_depth: int) -> tuple[str, int, str]:
    """Validate opcodes up to STOP. ("ok", end) / ("import", pos) / ("error", pos, why)."""
    kinds = _KIND_T
    depth = 0
    try:
        while True:
            k = kinds[buf[i]]
            if k > 0:
                i += k
                continue
            if k == _LEN1:
                i += 2 + buf[i + 1]
            elif k == _MARK:
                depth += 1
                if depth > max_depth:
                    return "error", i, f"nesting deeper than {max_depth} marks"
                i += 1
            elif k == _POPMARK:
                depth -= 1
                i += 1
            elif k in (_LEN4, _LEN4S):
                ln = int.from_bytes(bytes(buf[i + 1 : i + 5]), "little", signed=k == _LEN4S)
                if ln < 0:
                    return "error", i, "negative operand length"
                i += 5 + ln
            elif k == _LINE:
                j = _find_nl(buf, i + 1, n)
                if j < 0:
                    return "error", i, "unterminated line operand"
                i = j + 1
            elif k == _STOP:
                return "ok", i + 1, ""
            elif k == _IMPORT:
                return "import", i, ""
            elif k == _FRAME:
                ln = int.from_bytes(bytes(buf[i + 1 : i + 9]), "little")
                if i + 9 + ln > n:
                    return "error", i, "frame runs past the end of the data"
                i += 9
            elif k == _PROTO:
                if buf[i + 1] > 5:
                    return "error", i, f"unsupported pickle protocol {buf[i + 1]}"
                i += 2
            elif k == _LEN8:
                ln = int.from_bytes(bytes(buf[i + 1 : i + 9]), "little")
                i += 9 + ln
            else:
                return "error", i, f"invalid opcode 0x{buf[i]:02x}"
            if i > n:
                return "error", n, "truncated: an operand runs past the end of the data"
    except IndexError:
        return "error", n, "truncated: no STOP opcode before the end of the data"


def _find_nl(buf: Any, i: int, n: int) -> int:
    end = min(n, i + _MAX_LINE)
    if isinstance(buf, memoryview):
        k = bytes(buf[i:end]).find(b"\n")
        return k + i if k >= 0 else -1
    j: int = buf.find(b"\n", i, end)
    return j


def _line(buf: Any, i: int, n: int) -> tuple[bytes, int]:
    j = _find_nl(buf, i, n)
    if j < 0:
        raise _Malformed("unterminated line operand", i)
    return bytes(buf[i:j]), j + 1


def _u(buf: Any, i: int, size: int, n: int, signed: bool = False) -> int:
    if i + size > n:
        raise _Malformed("truncated operand", i)
    return int.from_bytes(bytes(buf[i : i + size]), "little", signed=signed)


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_<>][A-Za-z0-9_<>]*)*$")
_NUM = re.compile(rb"^[+-]?\d+L?$")


def _precise(
    buf: Any, start: int, n: int, res: PickleScan, max_depth: int, max_stack: int, nest: int
) -> int:
    """Model the unpickler's stack, mark stack and memo up to STOP; return the end."""
    stack: list[Any] = []
    meta: list[list[Any]] = []
    memo: dict[int, Any] = {}
    i = start
    ops = 0

    def pop_mark(at: int) -> list[Any]:
        nonlocal stack
        if not meta:
            raise _Malformed("mark stack underflow", at)
        items = stack
        stack = meta.pop()
        return items

    def pop(at: int) -> Any:
        if not stack:
            raise _Malformed("stack underflow", at)
        return stack.pop()

    def add_global(mod: object, name: object, at: int, opname: str) -> _Global:
        if isinstance(mod, str) and isinstance(name, str):
            if not (_IDENT.match(mod) and _IDENT.match(name)):
                # The import would fail before running anything: not a working pickle.
                raise _Malformed(f"{opname} names no importable global", at)
            g = _Global(mod, name)
            res.globals.append(GlobalRef(mod, name, at, opname))
            return g
        res.unresolved.append(at)
        res.globals.append(GlobalRef("?", "?", at, opname))
        return _Global("?", "?")

    def call(func: object, args: object, at: int) -> _Obj:
        res.calls += 1
        return _Obj(func, args)

    while True:
        if i >= n:
            raise _Malformed("truncated: no STOP opcode before the end of the data", n)
        op = buf[i]
        at = i
        i += 1
        # The commonest data opcodes first: the chain is the cost of this pass.
        if op == 0x94:  # MEMOIZE
            if not stack:
                raise _Malformed("MEMOIZE on an empty stack", at)
            memo[len(memo)] = stack[-1]
        elif op == 0x8C:  # SHORT_BINUNICODE
            ln = buf[i] if i < n else 0
            j = i + 1 + ln
            if j > n:
                raise _Malformed("truncated string", at)
            stack.append(bytes(buf[i + 1 : j]).decode("utf-8", "surrogatepass"))
            i = j
        elif op == 0x68:  # BINGET
            if i >= n:
                raise _Malformed("truncated operand", at)
            idx = buf[i]
            i += 1
            if idx not in memo:
                raise _Malformed(f"memo key {idx} read before it was written", at)
            stack.append(memo[idx])
        elif op == 0x4B:  # BININT1
            if i >= n:
                raise _Malformed("truncated operand", at)
            stack.append(buf[i])
            i += 1
        elif op == 0x47:  # BINFLOAT
            if i + 8 > n:
                raise _Malformed("truncated operand", at)
            i += 8
            stack.append(_OPAQUE)
        elif op == 0x4A:  # BININT
            stack.append(_u(buf, i, 4, n, signed=True))
            i += 4
        elif op == 0x7D:  # EMPTY_DICT
            stack.append({})
        elif op == 0x28:  # MARK
            if len(meta) >= max_depth:
                raise _Malformed(f"nesting deeper than {max_depth} marks", at)
            meta.append(stack)
            stack = []
        elif op == 0x75:  # SETITEMS
            items = pop_mark(at)
            if not stack:
                raise _Malformed("SETITEMS on an empty stack", at)
            _setitems(stack[-1], items, at)
        elif op == 0x65 or op == 0x90:  # APPENDS, ADDITEMS
            pop_mark(at)
            if not stack:
                raise _Malformed("APPENDS on an empty stack", at)
        elif op == 0x71:  # BINPUT
            if i >= n or not stack:
                raise _Malformed("bad BINPUT", at)
            memo[buf[i]] = stack[-1]
            i += 1
        elif op == 0x58 or op == 0x8D:  # BINUNICODE, BINUNICODE8
            size = 4 if op == 0x58 else 8
            ln = _u(buf, i, size, n)
            i += size
            if i + ln > n:
                raise _Malformed("truncated string", at)
            if ln <= 4096:
                stack.append(bytes(buf[i : i + ln]).decode("utf-8", "surrogatepass"))
            else:
                stack.append(_OPAQUE)
            i += ln
        elif op == 0x72:  # LONG_BINPUT
            idx = _u(buf, i, 4, n)
            i += 4
            if not stack:
                raise _Malformed("PUT on an empty stack", at)
            memo[idx] = stack[-1]
        elif op == 0x6A:  # LONG_BINGET
            idx = _u(buf, i, 4, n)
            i += 4
            if idx not in memo:
                raise _Malformed(f"memo key {idx} read before it was written", at)
            stack.append(memo[idx])
        elif op == 0x70 or op == 0x67:  # PUT, GET (text)
            line, i = _line(buf, i, n)
            if not line.isdigit():
                raise _Malformed("memo index is not a number", at)
            idx = int(line)
            if op == 0x70:
                if not stack:
                    raise _Malformed("PUT on an empty stack", at)
                memo[idx] = stack[-1]
            else:
                if idx not in memo:
                    raise _Malformed(f"memo key {idx} read before it was written", at)
                stack.append(memo[idx])
        elif op == 0x93:  # STACK_GLOBAL
            name = pop(at)
            mod = pop(at)
            stack.append(add_global(mod, name, at, "STACK_GLOBAL"))
        elif op == 0x63:  # GLOBAL
            mod_b, i = _line(buf, i, n)
            name_b, i = _line(buf, i, n)
            stack.append(
                add_global(_dec(mod_b, at), _dec(name_b, at), at, "GLOBAL"),
            )
        elif op == 0x69:  # INST
            mod_b, i = _line(buf, i, n)
            name_b, i = _line(buf, i, n)
            g = add_global(_dec(mod_b, at), _dec(name_b, at), at, "INST")
            args = pop_mark(at)
            stack.append(call(g, tuple(args), at))
        elif op == 0x6F:  # OBJ
            items = pop_mark(at)
            if not items:
                raise _Malformed("OBJ without a class", at)
            stack.append(call(items[0], tuple(items[1:]), at))
        elif op == 0x52:  # REDUCE
            args = pop(at)
            func = pop(at)
            stack.append(call(func, args, at))
        elif op == 0x81:  # NEWOBJ
            args = pop(at)
            cls = pop(at)
            stack.append(call(cls, args, at))
        elif op == 0x92:  # NEWOBJ_EX
            pop(at)
            args = pop(at)
            cls = pop(at)
            stack.append(call(cls, args, at))
        elif op == 0x62:  # BUILD
            state = pop(at)
            if not stack:
                raise _Malformed("BUILD on an empty stack", at)
            target = stack[-1]
            res.calls += 1
            if isinstance(target, _Obj):
                target.state = state
                f = target.func
                if isinstance(f, _Global) and (f.module, f.name) in _JOBLIB_WRAPPERS:
                    i = _skip_joblib_array(buf, i, n, state, res, max_depth, max_stack, at, nest)
                    stack[-1] = _OPAQUE
        elif op in (0x82, 0x83, 0x84):  # EXT1/2/4
            size = {0x82: 1, 0x83: 2, 0x84: 4}[op]
            code = _u(buf, i, size, n)
            i += size
            res.ext_codes.append((at, code))
            res.globals.append(GlobalRef("<copyreg extension>", str(code), at, "EXT"))
            stack.append(_OPAQUE)
        elif op == 0x2E:  # STOP
            pop(at)
            res.opcodes_precise += ops
            return i
        elif op == 0x4D:
            stack.append(_u(buf, i, 2, n))
            i += 2
        elif op == 0x8A or op == 0x8B:  # LONG1, LONG4
            size = 1 if op == 0x8A else 4
            ln = _u(buf, i, size, n, signed=op == 0x8B)
            if ln < 0:
                raise _Malformed("negative operand length", at)
            i += size
            if i + ln > n:
                raise _Malformed("truncated operand", at)
            stack.append(
                int.from_bytes(bytes(buf[i : i + ln]), "little", signed=True)
                if ln <= 16
                else _OPAQUE
            )
            i += ln
        elif op in (0x55, 0x43, 0x54, 0x42, 0x8E, 0x96):  # string/bytes with lengths
            size = 1 if op in (0x55, 0x43) else 4 if op in (0x54, 0x42) else 8
            ln = _u(buf, i, size, n, signed=op == 0x54)
            if ln < 0:
                raise _Malformed("negative operand length", at)
            i += size
            if i + ln > n:
                raise _Malformed("truncated operand", at)
            if op in (0x55, 0x54) and ln <= 4096:  # SHORT_BINSTRING, BINSTRING: str
                stack.append(bytes(buf[i : i + ln]).decode("latin-1"))
            else:
                stack.append(_OPAQUE)
            i += ln
        elif op in (0x49, 0x4C, 0x46, 0x53, 0x56):  # INT LONG FLOAT STRING UNICODE
            line, i = _line(buf, i, n)
            if op == 0x53:
                stack.append(_string_literal(line, at))
            elif op == 0x56:
                stack.append(line.decode("raw-unicode-escape", "replace"))
            elif op in (0x49, 0x4C) and _NUM.match(line):
                v = int(line.rstrip(b"L"))
                stack.append(bool(v) if line in (b"00", b"01") else v)
            else:
                stack.append(_OPAQUE)
        elif op == 0x50:  # PERSID
            _, i = _line(buf, i, n)
            stack.append(_OPAQUE)
        elif op == 0x51:  # BINPERSID
            pop(at)
            stack.append(_OPAQUE)
        elif op == 0x4E:
            stack.append(None)
        elif op == 0x88 or op == 0x89:
            stack.append(op == 0x88)
        elif op in (0x5D, 0x29, 0x8F):  # EMPTY_LIST, EMPTY_TUPLE, EMPTY_SET
            stack.append(() if op == 0x29 else _OPAQUE)
        elif op == 0x61:  # APPEND
            pop(at)
            if not stack:
                raise _Malformed("APPEND on an empty stack", at)
        elif op == 0x73:  # SETITEM
            v = pop(at)
            k = pop(at)
            if not stack:
                raise _Malformed("SETITEM on an empty stack", at)
            _setitems(stack[-1], [k, v], at)
        elif op in (0x74, 0x6C, 0x64, 0x91):  # TUPLE LIST DICT FROZENSET
            items = pop_mark(at)
            if op == 0x74:
                stack.append(tuple(items) if len(items) <= _MAX_TUPLE else _OPAQUE)
            elif op == 0x64:
                d: dict[Any, Any] = {}
                _setitems(d, items, at)
                stack.append(d)
            else:
                stack.append(_OPAQUE)
        elif op in (0x85, 0x86, 0x87):  # TUPLE1..3
            k = op - 0x84
            if len(stack) < k:
                raise _Malformed("stack underflow", at)
            t = tuple(stack[-k:])
            del stack[-k:]
            stack.append(t)
        elif op == 0x30:  # POP
            if stack:
                stack.pop()
            else:
                pop_mark(at)
        elif op == 0x31:  # POP_MARK
            pop_mark(at)
        elif op == 0x32:  # DUP
            if not stack:
                raise _Malformed("DUP on an empty stack", at)
            stack.append(stack[-1])
        elif op == 0x80:  # PROTO
            p = _u(buf, i, 1, n)
            if p > 5:
                raise _Malformed(f"unsupported pickle protocol {p}", at)
            i += 1
        elif op == 0x95:  # FRAME
            ln = _u(buf, i, 8, n)
            i += 8
            if i + ln > n:
                raise _Malformed("frame runs past the end of the data", at)
        elif op == 0x97:  # NEXT_BUFFER: out-of-band data the loader must supply
            stack.append(_OPAQUE)
        elif op == 0x98:  # READONLY_BUFFER
            if not stack:
                raise _Malformed("READONLY_BUFFER on an empty stack", at)
        else:
            raise _Malformed(f"invalid opcode 0x{op:02x}", at)


def _dec(b: bytes, at: int) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed("GLOBAL operand is not UTF-8", at) from None


def _string_literal(line: bytes, at: int) -> object:
    if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
        return line[1:-1].decode("latin-1")
    raise _Malformed("STRING operand is not quoted", at)


def _setitems(target: object, items: list[Any], at: int) -> None:
    if len(items) % 2:
        raise _Malformed("odd number of items for a dict", at)
    if not isinstance(target, dict) or len(target) >= _MAX_DICT:
        return
    for j in range(0, len(items), 2):
        k = items[j]
        if isinstance(k, str | int):
            target[k] = items[j + 1]


_DTYPE = re.compile(r"^[<>|=]?([a-zA-Z?])(\d*)$")
_KIND_SIZE = {"b": 1, "?": 1, "B": 1, "h": 2, "H": 2, "e": 2, "f": 4, "d": 8, "g": 16}


def _itemsize(dtype: object) -> int | None:
    """Item size of a pickled ``numpy.dtype`` (REDUCE args + BUILD state), None if unknown."""
    if not isinstance(dtype, _Obj):
        return None
    state = dtype.state
    if isinstance(state, tuple) and len(state) >= 6 and isinstance(state[5], int) and state[5] > 0:
        return state[5]
    args = dtype.args
    if not (isinstance(args, tuple) and args and isinstance(args[0], str)):
        return None
    m = _DTYPE.match(args[0])
    if not m:
        return None
    kind, num = m.group(1), m.group(2)
    if kind == "O":
        return 0
    if num:
        size = int(num)
        return size * 4 if kind == "U" else size
    return _KIND_SIZE.get(kind)


def _skip_joblib_array(
    buf: Any,
    i: int,
    n: int,
    state: object,
    res: PickleScan,
    max_depth: int,
    max_stack: int,
    at: int,
    nest: int,
) -> int:
    """joblib writes an array's raw bytes (or a nested pickle) right after its BUILD."""
    if not isinstance(state, dict):
        raise _Malformed("joblib array wrapper without a state dict", at)
    shape = state.get("shape")
    size = _itemsize(state.get("dtype"))
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise _Malformed("joblib array wrapper with an unreadable shape", at)
    if size is None:
        raise _Malformed("joblib array wrapper with an unreadable dtype", at)
    if size == 0:  # object array: a whole pickle follows in the stream
        if nest >= _MAX_JOBLIB_NEST:
            raise _Malformed(f"joblib object arrays nested deeper than {_MAX_JOBLIB_NEST}", at)
        res.nested.append((i, 0))
        return _precise(buf, i, n, res, max_depth, max_stack, nest + 1)
    if state.get("numpy_array_alignment_bytes") is not None:
        if i >= n:
            raise _Malformed("truncated joblib array padding", at)
        i += 1 + buf[i]
    i += math.prod(shape) * size
    if i > n:
        raise _Malformed("truncated joblib array data", at)
    return i
