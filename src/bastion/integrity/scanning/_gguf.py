"""GGUF files (llama.cpp) parsed by hand from the GGUF specification, never loaded.

Header (magic, version 1-3, tensor and metadata counts), every metadata key/value (typed,
arrays included), every tensor info (name, dimensions, ggml type, offset), then the tensor
data: each tensor must lie inside the file at an aligned offset. GGUF holds no code; the
one executable thing in it is the chat template (``tokenizer.chat_template`` and its named
variants), Jinja that a loader renders. A template is flagged only when it holds Jinja
beyond what chat templates use (:func:`template_problem`).
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["check_gguf", "template_problem"]

_MAX_TENSORS = 1 << 20
_MAX_KV = 1 << 20
_MAX_DIMS = 8
_MAX_NEST = 8
_MAX_TEMPLATE = 1 << 20

# ggml types: (bytes per block, elements per block).
_GGML: dict[int, tuple[int, int]] = {
    0: (4, 1), 1: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32), 7: (24, 32), 8: (34, 32),
    9: (36, 32), 10: (84, 256), 11: (110, 256), 12: (144, 256), 13: (176, 256),
    14: (210, 256), 15: (292, 256), 16: (66, 256), 17: (74, 256), 18: (98, 256),
    19: (50, 256), 20: (18, 32), 21: (110, 256), 22: (82, 256), 23: (136, 256), 24: (1, 1),
    25: (2, 1), 26: (4, 1), 27: (8, 1), 28: (8, 1), 29: (56, 256), 30: (2, 1),
    34: (54, 256), 35: (66, 256), 39: (17, 32),
}  # fmt: skip
# Metadata value types: fixed sizes (8: string, 9: array are read apart).
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class _Bad(Exception):
    pass


class _Reader:
    def __init__(self, buf: Any, version: int) -> None:
        self.buf = buf
        self.n = len(buf)
        self.pos = 0
        self.wide = version >= 2  # version 1 wrote counts and lengths as uint32

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > self.n:
            raise _Bad(f"truncated at offset {self.pos}")
        b = bytes(self.buf[self.pos : self.pos + size])
        self.pos += size
        return b

    def u32(self) -> int:
        v: int = struct.unpack("<I", self.take(4))[0]
        return v

    def count(self) -> int:
        v: int = struct.unpack("<Q", self.take(8))[0] if self.wide else self.u32()
        return v

    def string(self, keep: int = 0) -> str | None:
        ln = self.count()
        if ln > self.n - self.pos:
            raise _Bad(f"string of {ln} bytes runs past the end at offset {self.pos}")
        if keep and ln <= keep:
            return self.take(ln).decode("utf-8", "replace")
        self.pos += ln
        return None

    def skip_value(self, vtype: int, depth: int = 0) -> None:
        if vtype in _FIXED:
            self.take(_FIXED[vtype])
        elif vtype == 8:
            self.string()
        elif vtype == 9:
            if depth >= _MAX_NEST:
                raise _Bad("arrays nested too deeply")
            etype = self.u32()
            count = self.count()
            if etype in _FIXED:
                size = count * _FIXED[etype]
                if size > self.n - self.pos:
                    raise _Bad("array runs past the end of the file")
                self.pos += size
            elif etype in (8, 9):
                if count > self.n - self.pos:
                    raise _Bad("array runs past the end of the file")
                for _ in range(count):
                    self.skip_value(etype, depth + 1)
            else:
                raise _Bad(f"unknown array element type {etype}")
        else:
            raise _Bad(f"unknown metadata value type {vtype}")


def check_gguf(buf: Any, raw: Any) -> None:
    """Parse a GGUF file; ``raw`` (a ``_formats.Raw``) gets ``gguf.malformed`` for what
    does not parse and ``gguf.chat-template`` for templates beyond chat templates."""
    n = len(buf)
    if n < 16:
        raw.add("gguf.malformed", "truncated GGUF header", 0)
        return
    version = int.from_bytes(bytes(buf[4:8]), "little")
    if version not in (1, 2, 3):
        raw.add("gguf.malformed", f"unknown GGUF version {version}", 4)
        return
    r = _Reader(buf, version)
    r.pos = 8
    try:
        n_tensors = r.count()
        n_kv = r.count()
        if n_tensors > _MAX_TENSORS or n_kv > _MAX_KV:
            raise _Bad(f"{n_tensors} tensors and {n_kv} metadata entries exceed the limits")
        alignment = 32
        for _ in range(n_kv):
            key = r.string(keep=1024) or ""
            vtype = r.u32()
            if key == "general.alignment" and vtype == 4:
                alignment = r.u32()
                if alignment == 0 or alignment & (alignment - 1):
                    raise _Bad(f"general.alignment {alignment} is not a power of two")
            elif key.startswith("tokenizer.chat_template") and vtype == 8:
                at = r.pos
                template = r.string(keep=_MAX_TEMPLATE)
                if template is None:
                    raw.add(
                        "gguf.malformed",
                        f"{key} larger than {_MAX_TEMPLATE} bytes: not checked",
                        at,
                    )
                    continue
                why = template_problem(template)
                if why:
                    raw.add("gguf.chat-template", f"{key}: {why}", at)
            else:
                r.skip_value(vtype)
        infos: list[tuple[str, int, int, int]] = []
        for _ in range(n_tensors):
            name = r.string(keep=256) or "?"
            n_dims = r.u32()
            if n_dims > _MAX_DIMS:
                raise _Bad(f"tensor {name!r} has {n_dims} dimensions")
            dims = [r.count() for _ in range(n_dims)]
            ttype = r.u32()
            offset = struct.unpack("<Q", r.take(8))[0]
            if ttype not in _GGML:
                raise _Bad(f"tensor {name!r} has unknown ggml type {ttype}")
            bsize, block = _GGML[ttype]
            numel = 1
            for d in dims:
                numel *= d
            if dims and dims[0] % block:
                raise _Bad(f"tensor {name!r}: first dimension not a multiple of {block}")
            infos.append((name, offset, numel // block * bsize, r.pos))
        data = (r.pos + alignment - 1) // alignment * alignment
        for name, offset, size, at in infos:
            if offset % alignment:
                raise _Bad(f"tensor {name!r} at an unaligned offset")
            if data + offset + size > n:
                raise _Bad(f"tensor {name!r} runs past the end of the file (info at {at})")
    except _Bad as exc:
        raw.add("gguf.malformed", f"GGUF: {exc}", r.pos)


# -- chat templates --------------------------------------------------------------------

# Jinja globals that are objects with Python internals and no use in a chat template.
_GADGETS = frozenset({"cycler", "joiner", "lipsum", "self"})
_LOADING = frozenset({"import", "include", "extends", "from"})
_KEYWORDS = frozenset({"in", "is", "and", "or", "not", "if", "else", "elif", "for", "set"})


def template_problem(source: str) -> str:
    """Why a chat template holds Jinja beyond what chat templates use, or "".

    The rule (documented in docs/integrity-scanning.md): a template is flagged when
    (1) a name or string literal contains ``__`` (dunder attributes: ``__class__``,
    ``__globals__``...); (2) it uses the ``attr`` filter, the globals ``cycler``,
    ``joiner``, ``lipsum`` or ``self``, or ``namespace`` other than called as
    ``namespace(...)``; (3) it loads templates (``import``, ``include``, ``extends``,
    ``from``); (4) a subscript's index is computed: it holds ``~``, a filter, a call, or
    ``+`` with a string, or names a variable that ``set`` or ``for`` built from strings
    (``~``, literals, filters). Lookups by literal, integer, slice or plain variable,
    loops, conditionals, macros, ``namespace(...)``, string methods and filters are what
    chat templates use and pass. A template Jinja cannot tokenise is flagged too.
    """
    import jinja2

    try:
        toks = [
            (t, v)
            for _, t, v in jinja2.Environment(trim_blocks=True, lstrip_blocks=True).lex(source)
            if t not in ("data", "whitespace", "comment", "comment_begin", "comment_end")
            and not t.startswith("raw_")
        ]
    except jinja2.TemplateSyntaxError as exc:
        return f"not a template Jinja can read ({exc.message})"
    for t, v in toks:
        if t in ("name", "string") and "__" in v:
            return f"reaches a dunder name ({v[:40]!r})"
    computed: set[str] = set()
    for k, (t, v) in enumerate(toks):
        prev = toks[k - 1] if k else ("", "")
        nxt = toks[k + 1] if k + 1 < len(toks) else ("", "")
        if t == "name" and v == "attr" and prev == ("operator", "|"):
            return "uses the attr filter (attribute names computed at render time)"
        if t == "name" and v in _GADGETS and prev != ("operator", "."):
            return f"uses the Jinja global {v!r}"
        if (
            t == "name"
            and v == "namespace"
            and prev != ("operator", ".")
            and nxt
            != (
                "operator",
                "(",
            )
        ):
            return "uses namespace other than to make one"
        if prev[0] == "block_begin" and t == "name" and v in _LOADING:
            return f"loads other templates ({v})"
        if prev[0] == "block_begin" and t == "name" and v in ("set", "for"):
            targets, expr = _statement(toks, k + 1)
            if _builds_strings(expr):
                computed |= targets
    for k, (t, v) in enumerate(toks):
        if not (t == "operator" and v == "["):
            continue
        prev = toks[k - 1] if k else ("", "")
        if not (
            (prev[0] == "name" and prev[1] not in _KEYWORDS)
            or prev in (("operator", "]"), ("operator", ")"))
            or prev[0] == "string"
        ):
            continue  # a list literal, not a subscript
        index = _bracketed(toks, k)
        if _computed_index(index):
            return "a subscript with a computed index"
        if any(typ == "name" and val in computed for typ, val in index):
            return "a subscript indexed by a variable built from strings"
    return ""


_NUMERIC_FILTERS = frozenset({"length", "count", "int", "abs"})


def _computed_index(index: list[tuple[str, str]]) -> bool:
    """``~``; a filter other than a numeric one (``messages|length``); a call; ``+``,
    ``*`` or ``%`` next to a string. Parentheses that only group are fine."""
    has_str = any(t == "string" for t, _ in index)
    for j, (t, v) in enumerate(index):
        if t != "operator":
            continue
        before = index[j - 1] if j else ("", "")
        after = index[j + 1] if j + 1 < len(index) else ("", "")
        if v == "~" or (v in ("+", "*", "%") and has_str):
            return True
        if v == "|" and not (after[0] == "name" and after[1] in _NUMERIC_FILTERS):
            return True
        if v == "(" and (before[0] == "name" or before in (("operator", ")"), ("operator", "]"))):
            if before[0] == "name" and before[1] in _KEYWORDS:
                continue
            return True
    return False


def _statement(toks: list[tuple[str, str]], k: int) -> tuple[set[str], list[tuple[str, str]]]:
    """Targets and expression of ``set a = ...`` / ``for a, b in ...`` from token ``k``."""
    targets: set[str] = set()
    while k < len(toks) and toks[k] not in (("operator", "="), ("name", "in")):
        if toks[k][0] == "block_end":
            return targets, []
        if toks[k][0] == "name":
            targets.add(toks[k][1])
        k += 1
    expr: list[tuple[str, str]] = []
    k += 1
    while k < len(toks) and toks[k][0] != "block_end":
        expr.append(toks[k])
        k += 1
    return targets, expr


def _builds_strings(expr: list[tuple[str, str]]) -> bool:
    return any(t == "string" or (t == "operator" and v in ("~", "|", "%")) for t, v in expr)


def _bracketed(toks: list[tuple[str, str]], k: int) -> list[tuple[str, str]]:
    depth = 0
    out: list[tuple[str, str]] = []
    for t, v in toks[k:]:
        if t == "operator" and v == "[":
            depth += 1
            if depth == 1:
                continue
        elif t == "operator" and v == "]":
            depth -= 1
            if depth == 0:
                break
        out.append((t, v))
    return out
