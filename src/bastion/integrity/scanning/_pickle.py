"""A lean pickle opcode walker that never unpickles.

Two passes over ``bytes``/``memoryview``/``mmap``. The fast pass validates every opcode and
its operand lengths with one table lookup per opcode and stops at the first opcode that
can import something (GLOBAL, STACK_GLOBAL, INST, EXT1/2/4): a pickle without those is
pure data and nothing in it can run. Only then does the precise pass model the stack,
the mark stack and the memo, so STACK_GLOBAL is resolved through PUT/GET/MEMOIZE exactly
as the unpickler would, and the callables of REDUCE, NEWOBJ(_EX), OBJ, INST and BUILD are
known. Neither pass recurses, so a pickle that nests a million levels is walked, not
crashed on. Every pickle in the data is walked (several back to back, as the legacy
PyTorch format writes them); joblib's raw array bytes between opcodes are skipped.

The walker accepts everything CPython's unpickler accepts: text lines of any length,
marks nested without a cap, memo indexes and integers parsed as ``int()`` parses them.
What it cannot follow (a total budget of modelled items, joblib nesting) is a ``limit``
issue, which is always an error: a walk that stops early never makes a file "not a
pickle". When a pickle that must parse fails before it imports anything, the bytes after
the failure are still lexed: imports found there are reported (``hidden_imports``).
"""

from __future__ import annotations

import codecs
import math
import mmap
import re
import warnings
from array import array
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "MAX_ITEMS",
    "TORCH_MAGIC",
    "GlobalRef",
    "PickleIssue",
    "PickleScan",
    "walk_pickles",
    "walk_torch_tar_member",
]

# Operand kinds of the fast pass. A value >= 1 is the whole opcode size (fixed operand).
_LEN1: Final = -1
_LEN4: Final = -4
_LEN4S: Final = -5
_LEN8: Final = -8
_LINE: Final = -10
_STOP: Final = -30
_IMPORT: Final = -40
_FRAME: Final = -60
_PROTO: Final = -70
_BAD: Final = -99

_KIND: list[int] = [_BAD] * 256
for _c in b"(0N2QRabs}])\x81\x85\x86\x87\x88\x89\x8f\x92\x94\x97\x98":
    _KIND[_c] = 1
for _c in b"\x90\x91etlud1":  # ADDITEMS FROZENSET APPENDS TUPLE LIST SETITEMS DICT POP_MARK
    _KIND[_c] = 1
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

# Items the precise pass may model at once (stack entries + marks + memo entries). Each
# opcode adds at most one and reads at least one byte, so only pickles longer than this
# can reach it; past it the walk stops with a "limit" issue (an error, never safe).
MAX_ITEMS: Final = 16_000_000
_NL_CHUNK: Final = 1 << 16
_JOBLIB_WRAPPERS: Final = frozenset(
    {
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
    }
)
_NUMPY_DTYPE: Final = frozenset({("numpy", "dtype"), ("numpy.core.multiarray", "dtype")})


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
    """Something wrong with the pickle: ``malformed`` (the unpickler fails there too),
    ``limit`` (the walker cannot follow it: always an error) or ``trailing-data``."""

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
    # Offsets of import opcodes lexed after the point where a must-parse pickle failed.
    hidden_imports: list[int] = field(default_factory=list)
    # joblib array wrappers whose raw bytes were skipped (the joblib reading).
    joblib_arrays: int = 0
    # Legacy torch records (magic number first) walked, with their raw storages.
    legacy_records: int = 0
    # Persistent ids (BINPERSID tuples) seen, for the legacy storages' sizes.
    persids: list[tuple[Any, ...]] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # where each pickle walked ended
    last_value: object = field(default=None, repr=False)  # the last STOP's value

    @property
    def malformed(self) -> bool:
        return any(i.kind != "trailing-data" for i in self.issues)

    @property
    def limited(self) -> bool:
        return any(i.kind == "limit" for i in self.issues)

    @property
    def is_pickle(self) -> bool:
        """The data is (or starts as) a pickle: one parsed, something is imported, an
        import lies past a failure, or the walker hit a limit. Never "text" then."""
        return self.pickles > 0 or bool(self.globals) or bool(self.hidden_imports) or self.limited


class _Malformed(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class _Limit(_Malformed):
    """The walker cannot follow this pickle (a budget, not the unpickler, stops it)."""


class _Global:
    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name


class _List:
    """A modelled list: its first items when they are plain strings or ints."""

    __slots__ = ("complete", "items")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.complete = True

    def extend(self, items: list[Any]) -> None:
        if not self.complete:
            return
        if len(self.items) + len(items) > _MAX_LIST or not all(
            isinstance(x, str | int) for x in items
        ):
            self.complete = False
            self.items = []
            return
        self.items.extend(items)


class _Obj:
    """The result of calling something: kept for joblib's array wrapper only."""

    __slots__ = ("args", "func", "state")

    def __init__(self, func: object, args: object) -> None:
        self.func = func
        self.args = args
        self.state: object = None


_OPAQUE: Final = object()
# Set as a key of a modelled dict when some key could not be followed (too many keys, a
# key computed at load time): a lookup in that dict cannot be trusted.
_UNKNOWN_KEYS: Final = object()
_MAX_JOBLIB_NEST: Final = 64  # joblib itself writes one level; each level is a Python frame
_MAX_TUPLE: Final = 16
_MAX_DICT: Final = 64
_MAX_LEXED: Final = 1_000
_MAX_LIST: Final = 1 << 20  # modelled list items (legacy torch storage keys)
_MAX_PERSIDS: Final = 1 << 20
_MAX_LEGACY_RECORDS: Final = 64
# torch's legacy magic number: the first pickle of a legacy file must evaluate to it, in
# whatever integer form (LONG1, LONG4, text INT or LONG, through the memo...).
TORCH_MAGIC: Final = 0x1950A86A20F9469CFC6C
TORCH_PROTOCOL: Final = 1001
# Element sizes of the storage classes torch's legacy persistent ids name.
_STORAGE_ELSIZE: Final = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "BFloat16Storage": 2, "ComplexDoubleStorage": 16,
    "ComplexFloatStorage": 8, "QUInt8Storage": 1, "QInt8Storage": 1, "QInt32Storage": 4,
    "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
}  # fmt: skip


def walk_pickles(
    data: bytes | bytearray | memoryview | mmap.mmap,
    *,
    start: int = 0,
    max_items: int = MAX_ITEMS,
    first_must_parse: bool = True,
    min_pickles: int = 1,
    max_pickles: int | None = None,
    joblib: bool = True,
    legacy: bool = False,
) -> PickleScan:
    """Walk every pickle in ``data`` from ``start``; never raises on bad bytes.

    Pickles are walked back to back whether or not they start with PROTO (protocol 0 and
    1 have none, and ``pickle.load`` called again reads them). The first ``min_pickles``
    must parse; after those, bytes that are not a valid pickle and import nothing are
    reported as trailing data. ``max_pickles`` stops early (format detection).

    ``joblib``: skip the raw array bytes joblib writes after its array wrappers (what
    joblib's reader consumes); False reads them as opcodes, as ``pickle.load`` does.
    ``legacy``: a pickle that evaluates to torch's magic number (in any integer form)
    starts a legacy record, read as ``torch.load`` reads it: four more pickles that must
    parse, then the raw storages the storage keys name (skipped by their sizes), then
    whatever follows (another record, another pickle) is walked on.
    """
    buf = data
    n = len(buf)
    res = PickleScan()
    pos = start
    rec_start = 0  # pickle count where the current record began
    need = min_pickles
    in_legacy = False
    persid_mark = 0
    while pos < n and (max_pickles is None or res.pickles < max_pickles):
        must = res.pickles < need and first_must_parse
        lenient = res.pickles < need and not first_must_parse
        k = res.pickles - rec_start  # pickles of this record before this one
        want_value = legacy and (k == 0 or (in_legacy and k == 4))
        begin = pos
        kind, end, msg = _fast(buf, pos, n)
        value: object = _OPAQUE
        if kind == "ok":
            res.pickles += 1
            pos = end
            if want_value and (end < n or in_legacy):
                value = _value_of(buf, begin, n, max_items)
        elif kind == "error" and not must:
            # Not a pickle after all: raw bytes behind the last one.
            res.trailing_bytes = n - pos
            res.issues.append(
                PickleIssue("trailing-data", f"{n - pos} bytes after the last pickle", pos)
            )
            break
        elif kind == "error":
            label = "" if res.pickles == 0 else f"pickle {res.pickles + 1}: "
            res.issues.append(PickleIssue("malformed", label + msg, end))
            break
        else:
            # Imports ahead: the precise pass decides, from the start of this pickle.
            mark = len(res.globals)
            try:
                try:
                    pos = _precise(buf, pos, n, res, max_items, 0, joblib)
                except (UnicodeDecodeError, ValueError, OverflowError) as exc:
                    raise _Malformed(f"undecodable operand ({type(exc).__name__})", pos) from None
                except (RecursionError, MemoryError):
                    raise _Limit("nesting too deep or too large to follow", pos) from None
                res.pickles += 1
                value = res.last_value
            except _Limit as exc:
                res.issues.append(PickleIssue("limit", exc.message, exc.offset))
                break
            except _Malformed as exc:
                if must or lenient or len(res.globals) > mark:
                    label = "" if res.pickles == 0 else f"pickle {res.pickles + 1}: "
                    res.issues.append(PickleIssue("malformed", label + exc.message, exc.offset))
                    if len(res.globals) == mark and (must or lenient):
                        _lex_ahead(buf, exc.offset, n, res)
                else:
                    res.trailing_bytes = n - pos
                    res.issues.append(
                        PickleIssue("trailing-data", f"{n - pos} bytes after the last pickle", pos)
                    )
                break
        res.ends.append(pos)
        if not legacy:
            continue
        if k == 0 and _is_int(value, TORCH_MAGIC):
            # torch's legacy loader: magic, protocol version, sys info, the object (its
            # persistent ids name the storages), the storage keys; all must parse.
            in_legacy = True
            res.legacy_records += 1
            need = res.pickles + 4
            persid_mark = len(res.persids)
        elif in_legacy and k == 4:
            pos, why = _legacy_storages(buf, pos, n, value, res.persids[persid_mark:])
            if why:
                res.issues.append(PickleIssue("malformed", f"legacy torch storages: {why}", pos))
                break
            in_legacy = False
            rec_start = res.pickles
            if res.legacy_records >= _MAX_LEGACY_RECORDS and pos < n:
                msg = f"more than {_MAX_LEGACY_RECORDS} legacy torch records"
                res.issues.append(PickleIssue("limit", msg, pos))
                break
        elif not in_legacy:
            rec_start = res.pickles  # a plain pickle: the next may start a record
    return res


def _is_int(v: object, want: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v == want


def _value_of(buf: Any, start: int, n: int, max_items: int) -> object:
    """The value one pickle from ``start`` evaluates to, as far as it is modelled."""
    tmp = PickleScan()
    try:
        _precise(buf, start, n, tmp, max_items, 0, True)
    except (_Malformed, UnicodeDecodeError, ValueError, OverflowError, RecursionError):
        return _OPAQUE
    except MemoryError:
        return _OPAQUE
    return tmp.last_value


def _legacy_storages(
    buf: Any, pos: int, n: int, keys: object, persids: list[tuple[Any, ...]]
) -> tuple[int, str]:
    """Skip the raw storages torch's legacy loader reads after the storage keys, exactly
    as it reads them: per key an int64 element count and that many elements of the
    storage's type (its size must match the persistent id). (end, "") or (pos, why)."""
    if not isinstance(keys, _List) or not keys.complete:
        return pos, "the storage keys are not a list torch can read"
    storages: dict[object, tuple[int, int]] = {}
    for pid in persids:
        if len(pid) != 6 or pid[0] != "storage":
            continue
        _, stype, root, _loc, numel, view = pid
        elsize = (
            _STORAGE_ELSIZE.get(stype.name)
            if isinstance(stype, _Global) and stype.module in ("torch", "torch.storage")
            else None
        )
        if elsize is None or not isinstance(numel, int) or not isinstance(root, str | int):
            return pos, "a storage id the scanner cannot size"
        storages.setdefault(root, (elsize, numel * elsize))
        if view is not None:
            if not (isinstance(view, tuple) and len(view) == 3 and isinstance(view[2], int)):
                return pos, "a storage view the scanner cannot size"
            storages.setdefault(view[0], (elsize, view[2] * elsize))
    for key in keys.items:
        if key not in storages:
            return pos, "a storage key no persistent id names"
        elsize, nbytes = storages[key]
        if pos + 8 > n:
            return pos, "truncated storage"
        count = int.from_bytes(bytes(buf[pos : pos + 8]), "little", signed=True)
        if count * elsize != nbytes:
            return pos, "a storage's size differs from its persistent id"
        pos += 8 + nbytes
        if pos > n:
            return n, "truncated storage"
    return pos, ""


def walk_torch_tar_member(
    data: bytes | bytearray | memoryview | mmap.mmap, member: str, max_items: int = MAX_ITEMS
) -> PickleScan:
    """The ``storages`` or ``tensors`` member of torch's legacy tar format, read as its
    loader reads it: a pickled count, then per item a pickle followed by raw bytes (a
    storage: int64 count and its elements; a tensor: its sizes, strides and offset), then
    (storages) the pickled views. Every pickle between the raw bytes is walked."""
    n = len(data)
    res = PickleScan()
    pos = 0

    def one() -> object:
        nonlocal pos
        sub = walk_pickles(data, start=pos, max_items=max_items, max_pickles=1)
        _merge(res, sub)
        if sub.pickles != 1 or sub.malformed:
            raise _Malformed("", pos)
        value = sub.last_value if sub.globals else _value_of(data, pos, n, max_items)
        pos = sub.ends[0]
        return value

    try:
        count = one()
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= n:
            raise _Malformed(f"torch tar {member}: the count is not a number torch reads", pos)
        for _ in range(count):
            args = one()
            if not (isinstance(args, tuple) and len(args) == 3):
                raise _Malformed(f"torch tar {member}: an entry torch cannot read", pos)
            if member == "storages":
                st = args[2]
                elsize = (
                    _STORAGE_ELSIZE.get(st.name)
                    if isinstance(st, _Global) and st.module in ("torch", "torch.storage")
                    else None
                )
                if elsize is None or pos + 8 > n:
                    raise _Malformed(f"torch tar {member}: a storage the scanner cannot size", pos)
                size = int.from_bytes(bytes(data[pos : pos + 8]), "little", signed=True)
                if size < 0:
                    raise _Malformed(f"torch tar {member}: negative storage size", pos)
                pos += 8 + size * elsize
            else:
                if pos + 8 > n:
                    raise _Malformed(f"torch tar {member}: truncated tensor", pos)
                ndim = int.from_bytes(bytes(data[pos : pos + 4]), "little", signed=True)
                if ndim < 0:
                    raise _Malformed(f"torch tar {member}: negative tensor rank", pos)
                pos += 8 + 16 * ndim + 8
            if pos > n:
                raise _Malformed(f"torch tar {member}: truncated", n)
        if member == "storages":
            one()  # the storage views
    except _Malformed as exc:
        if exc.message:
            res.issues.append(PickleIssue("malformed", exc.message, exc.offset))
        return res
    if pos < n:
        res.trailing_bytes = n - pos
        res.issues.append(
            PickleIssue("trailing-data", f"{n - pos} bytes after the last pickle", pos)
        )
    return res


def _merge(dst: PickleScan, src: PickleScan) -> None:
    dst.globals += src.globals
    dst.issues += [i for i in src.issues if i.kind != "trailing-data"]
    dst.pickles += src.pickles
    dst.calls += src.calls
    dst.unresolved += src.unresolved
    dst.ext_codes += src.ext_codes
    dst.nested += src.nested
    dst.hidden_imports += src.hidden_imports
    dst.joblib_arrays += src.joblib_arrays


def _fast(buf: Any, i: int, n: int) -> tuple[str, int, str]:
    """Validate opcodes up to STOP. ("ok", end) / ("import", pos) / ("error", pos, why)."""
    kinds = _KIND_T
    try:
        while True:
            k = kinds[buf[i]]
            if k > 0:
                i += k
                continue
            if k == _LEN1:
                i += 2 + buf[i + 1]
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
    """The next newline at or after ``i`` (no length cap: the unpickler has none)."""
    if not isinstance(buf, memoryview):
        j: int = buf.find(b"\n", i, n)
        return j
    while i < n:  # memoryview has no find: search it in chunks, each byte once
        end = min(n, i + _NL_CHUNK)
        k = bytes(buf[i:end]).find(b"\n")
        if k >= 0:
            return i + k
        i = end
    return -1


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


def _memo_index(line: bytes, at: int) -> int:
    """A PUT/GET operand as the C unpickler reads it: ``PyLong_FromString(s, NULL, 10)``
    on the line, which ends at a NUL byte and allows whitespace, a sign and underscores
    (what ``int()`` allows)."""
    text = line.split(b"\x00", 1)[0]
    try:
        return int(text, 10)
    except ValueError:
        raise _Malformed("memo index is not a number", at) from None


def _int_literal(line: bytes) -> object:
    """An INT/LONG operand's value when both unpicklers agree on it (``int(s, 0)``;
    the C one also reads ``010`` as octal, where this gives up), else opaque."""
    try:
        return int(line, 0)
    except ValueError:
        return _OPAQUE


def _precise(
    buf: Any, start: int, n: int, res: PickleScan, max_items: int, nest: int, joblib: bool
) -> int:
    """Model the unpickler's stack, mark stack and memo up to STOP; return the end.

    The stack is flat with the marks as indexes into it (as in ``_pickle.c``): ``fence``
    is the top mark, and nothing below it can be popped until POP_MARK or a mark user."""
    stack: list[Any] = []
    marks = array("q")
    fence = 0
    memo: dict[int, Any] = {}
    i = start
    check_at = start + max_items  # before this many bytes, the budget cannot be reached

    def pop_mark(at: int) -> list[Any]:
        nonlocal fence
        if not marks:
            raise _Malformed("mark stack underflow", at)
        m = marks.pop()
        fence = marks[-1] if marks else 0
        items = stack[m:]
        del stack[m:]
        return items

    def pop(at: int) -> Any:
        if len(stack) <= fence:
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
        if i > check_at:
            used = len(stack) + len(marks) + len(memo)
            if used > max_items:
                raise _Limit(f"more than {max_items} stack, mark and memo entries", i)
            check_at = i + (max_items - used)
        op = buf[i]
        at = i
        i += 1
        # The commonest data opcodes first: the chain is the cost of this pass.
        if op == 0x94:  # MEMOIZE
            if len(stack) <= fence:
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
        elif op == 0x28:  # MARK (no depth cap: the budget above bounds the walk)
            marks.append(len(stack))
            fence = len(stack)
        elif op == 0x75:  # SETITEMS
            items = pop_mark(at)
            if len(stack) <= fence:
                raise _Malformed("SETITEMS on an empty stack", at)
            _setitems(stack[-1], items, at)
        elif op == 0x65 or op == 0x90:  # APPENDS, ADDITEMS
            items = pop_mark(at)
            if len(stack) <= fence:
                raise _Malformed("APPENDS on an empty stack", at)
            if op == 0x65 and isinstance(stack[-1], _List):
                stack[-1].extend(items)
        elif op == 0x71:  # BINPUT
            if i >= n or len(stack) <= fence:
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
            if len(stack) <= fence:
                raise _Malformed("PUT on an empty stack", at)
            memo[idx] = stack[-1]
        elif op == 0x6A:  # LONG_BINGET
            idx = _u(buf, i, 4, n)
            i += 4
            if idx not in memo:
                raise _Malformed(f"memo key {idx} read before it was written", at)
            stack.append(memo[idx])
        elif op == 0x70 or op == 0x67:  # PUT, GET (text): int() of the line
            line, i = _line(buf, i, n)
            if not line:
                raise _Malformed("empty memo index", at)
            idx = _memo_index(line, at)
            if op == 0x70:
                if len(stack) <= fence:
                    raise _Malformed("PUT on an empty stack", at)
                if idx < 0:
                    raise _Malformed("negative PUT argument", at)
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
            if len(stack) <= fence:
                raise _Malformed("BUILD on an empty stack", at)
            target = stack[-1]
            res.calls += 1
            if isinstance(target, _Obj):
                target.state = state
                f = target.func
                if joblib and isinstance(f, _Global) and (f.module, f.name) in _JOBLIB_WRAPPERS:
                    res.joblib_arrays += 1
                    i = _skip_joblib_array(buf, i, n, state, res, max_items, at, nest)
                    stack[-1] = _OPAQUE
        elif op in (0x82, 0x83, 0x84):  # EXT1/2/4
            size = {0x82: 1, 0x83: 2, 0x84: 4}[op]
            code = _u(buf, i, size, n)
            i += size
            res.ext_codes.append((at, code))
            res.globals.append(GlobalRef("<copyreg extension>", str(code), at, "EXT"))
            stack.append(_OPAQUE)
        elif op == 0x2E:  # STOP
            res.last_value = pop(at)  # marks left open are ignored, as by the unpickler
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
            elif op == 0x49 and line in (b"00", b"01"):
                stack.append(line == b"01")
            elif op == 0x49:
                stack.append(_int_literal(line))
            elif op == 0x4C:
                stack.append(_int_literal(line[:-1] if line.endswith(b"L") else line))
            else:
                stack.append(_OPAQUE)
        elif op == 0x50:  # PERSID
            _, i = _line(buf, i, n)
            stack.append(_OPAQUE)
        elif op == 0x51:  # BINPERSID
            pid = pop(at)
            if isinstance(pid, tuple) and len(res.persids) < _MAX_PERSIDS:
                res.persids.append(pid)
            stack.append(_OPAQUE)
        elif op == 0x4E:
            stack.append(None)
        elif op == 0x88 or op == 0x89:
            stack.append(op == 0x88)
        elif op in (0x5D, 0x29, 0x8F):  # EMPTY_LIST, EMPTY_TUPLE, EMPTY_SET
            stack.append(() if op == 0x29 else _List() if op == 0x5D else _OPAQUE)
        elif op == 0x61:  # APPEND
            v = pop(at)
            if len(stack) <= fence:
                raise _Malformed("APPEND on an empty stack", at)
            if isinstance(stack[-1], _List):
                stack[-1].extend([v])
        elif op == 0x73:  # SETITEM
            v = pop(at)
            k = pop(at)
            if len(stack) <= fence:
                raise _Malformed("SETITEM on an empty stack", at)
            _setitems(stack[-1], [k, v], at)
        elif op in (0x74, 0x6C, 0x64, 0x91):  # TUPLE LIST DICT FROZENSET
            items = pop_mark(at)
            if op == 0x74:
                stack.append(tuple(items) if len(items) <= _MAX_TUPLE else _OPAQUE)
            elif op == 0x6C:
                lst = _List()
                lst.extend(items)
                stack.append(lst)
            elif op == 0x64:
                d: dict[Any, Any] = {}
                _setitems(d, items, at)
                stack.append(d)
            else:
                stack.append(_OPAQUE)
        elif op in (0x85, 0x86, 0x87):  # TUPLE1..3
            k = op - 0x84
            if len(stack) - fence < k:
                raise _Malformed("stack underflow", at)
            t = tuple(stack[-k:])
            del stack[-k:]
            stack.append(t)
        elif op == 0x30:  # POP: the top item, or the top mark when nothing is above it
            if marks and marks[-1] == len(stack):
                pop_mark(at)
            elif len(stack) <= fence:
                raise _Malformed("stack underflow", at)
            else:
                stack.pop()
        elif op == 0x31:  # POP_MARK
            pop_mark(at)
        elif op == 0x32:  # DUP
            if len(stack) <= fence:
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
            if len(stack) <= fence:
                raise _Malformed("READONLY_BUFFER on an empty stack", at)
        else:
            raise _Malformed(f"invalid opcode 0x{op:02x}", at)


def _lex_ahead(buf: Any, i: int, n: int, res: PickleScan) -> None:
    """After a must-parse pickle failed at ``i`` before importing anything, read on
    opcode by opcode (operand lengths only, no stack) to the STOP: GLOBAL/INST names
    found there are reported as globals, STACK_GLOBAL/EXT as hidden imports. Only a
    walker that agrees with the unpickler makes the failure real; this keeps a
    disagreement from ever hiding the import behind it."""
    kinds = _KIND_T
    found = 0
    try:
        while i < n and found < _MAX_LEXED:
            op = buf[i]
            k = kinds[op]
            at = i
            if k > 0:
                i += k
            elif k == _LEN1:
                i += 2 + buf[i + 1]
            elif k in (_LEN4, _LEN4S):
                ln = int.from_bytes(bytes(buf[i + 1 : i + 5]), "little", signed=k == _LEN4S)
                if ln < 0:
                    return
                i += 5 + ln
            elif k == _LEN8:
                i += 9 + int.from_bytes(bytes(buf[i + 1 : i + 9]), "little")
            elif k == _LINE:
                j = _find_nl(buf, i + 1, n)
                if j < 0:
                    return
                i = j + 1
            elif k == _FRAME:
                i += 9
            elif k == _PROTO:
                i += 2
            elif k == _IMPORT and op in (0x63, 0x69):  # GLOBAL, INST: two lines
                j = _find_nl(buf, i + 1, n)
                k2 = _find_nl(buf, j + 1, n) if j >= 0 else -1
                if k2 < 0:
                    return
                try:
                    mod = bytes(buf[i + 1 : j]).decode("utf-8")
                    name = bytes(buf[j + 1 : k2]).decode("utf-8")
                except UnicodeDecodeError:
                    return
                if not (_IDENT.match(mod) and _IDENT.match(name)):
                    return  # that import fails: the unpickler stops there
                res.globals.append(GlobalRef(mod, name, at, "GLOBAL" if op == 0x63 else "INST"))
                res.hidden_imports.append(at)
                found += 1
                i = k2 + 1
            elif k == _IMPORT and op == 0x6F:  # OBJ imports nothing itself
                i += 1
            elif k == _IMPORT:  # STACK_GLOBAL, EXT1/2/4: names unknown without the stack
                res.hidden_imports.append(at)
                found += 1
                i += {0x93: 1, 0x82: 2, 0x83: 3, 0x84: 5}[op]
            else:  # STOP or an invalid opcode: the pickle ends here either way
                return
    except IndexError:
        return


def _dec(b: bytes, at: int) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed("GLOBAL operand is not UTF-8", at) from None


def _string_literal(line: bytes, at: int) -> object:
    """STRING: quoted, then escape-decoded as both unpicklers do (``S'o\\x73'`` is "os")."""
    if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
        try:
            with warnings.catch_warnings():  # "\\q" is kept as is, with a DeprecationWarning
                warnings.simplefilter("ignore")
                raw = codecs.escape_decode(line[1:-1])[0]
        except ValueError:
            raise _Malformed("STRING operand has a bad escape", at) from None
        return raw.decode("latin-1") if len(raw) <= 4096 else _OPAQUE
    raise _Malformed("STRING operand is not quoted", at)


def _setitems(target: object, items: list[Any], at: int) -> None:
    if len(items) % 2:
        raise _Malformed("odd number of items for a dict", at)
    if not isinstance(target, dict):
        return
    for j in range(0, len(items), 2):
        k = items[j]
        if isinstance(k, str | int) and (k in target or len(target) < _MAX_DICT):
            target[k] = items[j + 1]
        else:
            target[_UNKNOWN_KEYS] = True  # such a key may be any key at load time


# numpy dtype descriptors as numpy's own __reduce__ writes them (byte order is in the
# state): kind + item size in bytes ("U": characters of 4 bytes).
_DTYPE = re.compile(r"^[<>|=]?([biufcmMOSUV])(\d+)$")
_FIXED_SIZES: Final = {
    "b": {1},
    "i": {1, 2, 4, 8},
    "u": {1, 2, 4, 8},
    "f": {2, 4, 8, 10, 12, 16},
    "c": {8, 16, 20, 24, 32},
    "m": {8},
    "M": {8},
    "O": {4, 8},
}


def _dtype_info(dtype: object, depth: int = 0) -> tuple[bool, int]:
    """(has objects, item size) of a pickled ``numpy.dtype``, as numpy derives them.

    numpy builds the dtype from its descriptor (REDUCE args) and then applies the BUILD
    state; the state's element size replaces the descriptor's only for the flexible
    kinds (S, U, V), so a mismatch for any other kind is ignored by numpy. A dtype this
    cannot read exactly is malformed: the bytes to skip would be a guess."""
    if depth > 8:
        raise _Malformed("joblib dtype nested too deeply", 0)
    if not isinstance(dtype, _Obj):
        raise _Malformed("joblib array wrapper with an unreadable dtype", 0)
    f = dtype.func
    if not (isinstance(f, _Global) and (f.module, f.name) in _NUMPY_DTYPE):
        raise _Malformed("joblib array dtype is not built by numpy.dtype", 0)
    args = dtype.args
    if not (isinstance(args, tuple) and args and isinstance(args[0], str)):
        raise _Malformed("joblib array wrapper with an unreadable dtype", 0)
    m = _DTYPE.match(args[0])
    if not m:
        raise _Malformed(f"joblib array dtype {args[0][:40]!r} not understood", 0)
    kind, size = m.group(1), int(m.group(2))
    state = dtype.state
    elsize: int | None = None
    subarray: object = None
    fields: object = None
    if state is not None:
        if not (isinstance(state, tuple) and len(state) >= 8 and isinstance(state[5], int)):
            raise _Malformed("joblib array dtype state not understood", 0)
        subarray, fields, elsize = state[2], state[4], state[5]
    if kind in _FIXED_SIZES:
        if size not in _FIXED_SIZES[kind]:
            raise _Malformed(f"joblib array dtype {args[0][:40]!r} not understood", 0)
        if subarray is not None or fields is not None:
            raise _Malformed("joblib array dtype state not understood", 0)
        return kind == "O", size
    # Flexible kinds: numpy takes the state's element size (when there is a state).
    itemsize = size * 4 if kind == "U" else size
    if elsize is not None and elsize >= 0:
        if kind == "U" and elsize % 4:
            raise _Malformed("joblib array dtype state not understood", 0)
        itemsize = elsize
    has_obj = False
    if subarray is not None:
        if not (isinstance(subarray, tuple) and len(subarray) == 2):
            raise _Malformed("joblib array dtype subarray not understood", 0)
        has_obj = _dtype_info(subarray[0], depth + 1)[0]
    if fields is not None:
        if not isinstance(fields, dict) or _UNKNOWN_KEYS in fields:
            raise _Malformed("joblib array dtype fields not understood", 0)
        for v in fields.values():
            if not (isinstance(v, tuple) and len(v) >= 2):
                raise _Malformed("joblib array dtype fields not understood", 0)
            has_obj = _dtype_info(v[0], depth + 1)[0] or has_obj
    return has_obj, itemsize


def _skip_joblib_array(
    buf: Any,
    i: int,
    n: int,
    state: object,
    res: PickleScan,
    max_items: int,
    at: int,
    nest: int,
) -> int:
    """joblib writes an array's raw bytes (or a nested pickle) right after its BUILD:
    ``prod(shape) * dtype.itemsize`` bytes, the item size as numpy derives it."""
    if not isinstance(state, dict) or _UNKNOWN_KEYS in state:
        raise _Malformed("joblib array wrapper without a readable state dict", at)
    shape = state.get("shape")
    if not isinstance(shape, tuple) or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise _Malformed("joblib array wrapper with an unreadable shape", at)
    try:
        has_obj, size = _dtype_info(state.get("dtype"))
    except _Malformed as exc:
        raise _Malformed(exc.message, at) from None
    if has_obj:  # object array: a whole pickle follows in the stream
        if nest >= _MAX_JOBLIB_NEST:
            raise _Limit(f"joblib object arrays nested deeper than {_MAX_JOBLIB_NEST}", at)
        res.nested.append((i, 0))
        return _precise(buf, i, n, res, max_items, nest + 1, True)
    if state.get("numpy_array_alignment_bytes") is not None:
        if i >= n:
            raise _Malformed("truncated joblib array padding", at)
        i += 1 + buf[i]
    i += math.prod(shape) * size
    if i > n:
        raise _Malformed("truncated joblib array data", at)
    return i
