"""Format detection by content, and the non-pickle format checks.

Magic bytes and structure decide, never the file name: an attacker names files freely.
Each checker returns raw findings ``(rule_id, message, offset, global)`` and, for formats
that embed pickles (numpy object arrays), where the pickle starts.
"""

from __future__ import annotations

import ast
import json
import math
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.integrity.interface import ScanVerdict
from bastion.integrity.scanning._onnx import MAX_LOCATION, OnnxMalformed, looks_onnx, parse_onnx
from bastion.integrity.scanning._policy import GlobalPolicy

__all__ = [
    "Raw",
    "check_hdf5",
    "check_json_keras",
    "check_keras_config",
    "check_keras_doc",
    "check_npy",
    "check_onnx",
    "check_safetensors",
    "detect",
    "has_zip_trailer",
    "is_zip",
    "leading_pickle",
    "weak_compressed",
]

ZIP_LOCAL = b"PK\x03\x04"
ZIP_EMPTY = b"PK\x05\x06"
NPY_MAGIC = b"\x93NUMPY"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
TORCH_LEGACY_MAGIC = bytes.fromhex("8a0a6cfc9c46f9206aa85019")  # LONG1 10 0x1950a86a20f9469cfc6c

_MAX_NPY_HEADER = 1 << 20
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
_MAX_JSON = 64 * 1024 * 1024


@dataclass
class Raw:
    """Findings of one checker before they get a file path."""

    items: list[tuple[str, str, int | None, str | None]] = field(default_factory=list)
    pickle_at: int | None = None

    def add(
        self, rule: str, message: str, offset: int | None = None, glob: str | None = None
    ) -> None:
        self.items.append((rule, message, offset, glob))


def is_zip(buf: Any) -> bool:
    head = bytes(buf[:4])
    if head in (ZIP_LOCAL, ZIP_EMPTY):
        return True
    return has_zip_trailer(buf)


def weak_compressed(buf: Any) -> str:
    """ "zlib" or "lzma" (the .lzma alone format) when the data starts like one and its
    first block inflates: joblib's compressed dumps. Their headers are weak (two or three
    bytes a text pickle can start with), so the caller tries a pickle walk first."""
    if _looks_zlib(buf):
        return "zlib"
    if bytes(buf[:2]) == b"\x5d\x00" and _looks_lzma_alone(buf):  # joblib's prefix
        return "lzma"
    return ""


def _looks_zlib(buf: Any) -> bool:
    """A zlib header (CM 8, window <= 32 KiB, check bits) whose first block inflates."""
    import zlib

    h = bytes(buf[:2])
    if len(h) < 2 or h[0] & 0x0F != 8 or h[0] >> 4 > 7 or (h[0] << 8 | h[1]) % 31:
        return False
    try:
        return len(zlib.decompressobj().decompress(bytes(buf[:4096]), 64)) > 0
    except zlib.error:
        return False


def _looks_lzma_alone(buf: Any) -> bool:
    import lzma

    try:
        d = lzma.LZMADecompressor(lzma.FORMAT_ALONE)
        return len(d.decompress(bytes(buf[:4096]), 64)) > 0
    except lzma.LZMAError:
        return False


def has_zip_trailer(buf: Any) -> bool:
    """An end-of-central-directory record that points at a central directory: a zip
    reader opens this file whatever comes before it (prepended data, a pickle)."""
    n = len(buf)
    if n < 22:
        return False
    base = max(0, n - 65_557)
    tail = bytes(buf[base:])
    k = tail.rfind(ZIP_EMPTY)
    while k >= 0:
        rec = tail[k : k + 22]
        if len(rec) == 22:
            entries = int.from_bytes(rec[10:12], "little")
            cd_size = int.from_bytes(rec[12:16], "little")
            eocd = base + k
            if entries == 0 and cd_size == 0:
                return True
            if entries == 0xFFFF or cd_size == 0xFFFFFFFF:  # zip64: its locator comes first
                if eocd >= 20 and bytes(buf[eocd - 20 : eocd - 16]) == b"PK\x06\x07":
                    return True
            elif eocd >= cd_size and bytes(buf[eocd - cd_size : eocd - cd_size + 4]) == (
                b"PK\x01\x02"
            ):
                return True
        k = tail.rfind(ZIP_EMPTY, 0, k)
    return False


def leading_pickle(buf: Any) -> bool:
    """A pickle (any protocol, text ones included) parses or imports from offset 0."""
    from bastion.integrity.scanning._pickle import walk_pickles

    return walk_pickles(buf, max_pickles=1).is_pickle


def detect(buf: Any) -> str:
    """A format name from content: zip, tar, gzip, bz2, xz, npy, safetensors, hdf5, gguf,
    pytorch-legacy, pickle, onnx, or "" (unrecognised: the caller tries a pickle walk,
    then :func:`weak_compressed`)."""
    n = len(buf)
    if n == 0:
        return "empty"
    head = bytes(buf[:16])
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and n > 10:
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head[:4] in (ZIP_LOCAL, ZIP_EMPTY):
        return "zip"

    if head[:4] == b"GGUF":
        return "gguf"
    if n >= 512 and bytes(buf[257:262]) == b"ustar":
        return "tar"
    if n >= 10 and head[8:9] == b"{":
        # Before pickles: a header length's low byte may be 0x80.
        hl = int.from_bytes(head[:8], "little")
        if 2 <= hl <= n - 8:
            return "safetensors"
    if head[:1] == b"\x80":
        # Any protocol byte: one this walker does not know is reported, never skipped.
        if head[2:14] == TORCH_LEGACY_MAGIC:
            return "pytorch-legacy"
        return "pickle"
    if looks_onnx(buf):
        return "onnx"
    if has_zip_trailer(buf):
        # A zip reader skips what precedes the archive, but pickle.load (and torch's
        # legacy loader) runs a pickle placed there: the caller walks both.
        return "pickle" if leading_pickle(buf) else "zip"
    return ""


# -- numpy .npy -----------------------------------------------------------------------------


# A kind, an optional size and, for datetime64/timedelta64 (M, m), an optional unit.
_DESCR = re.compile(r"^[<>|=]?([a-zA-Z?])(\d*)(\[\d*[a-zA-Z]+\])?$")
_SIZE = {
    "b": 1, "?": 1, "B": 1, "h": 2, "H": 2, "e": 2, "f": 4, "d": 8, "g": 16, "O": 8,
    "M": 8, "m": 8,
}  # fmt: skip


def _descr_info(descr: object, depth: int = 0) -> tuple[bool, int | None]:
    """(has object fields, item size or None if unknown) of an .npy ``descr``."""
    if depth > 32:
        raise ValueError("descr nested too deeply")
    if isinstance(descr, str):
        m = _DESCR.match(descr)
        if not m:
            raise ValueError(f"unknown dtype {descr!r}")
        kind, num = m.group(1), m.group(2)
        if m.group(3) and kind not in "mM":
            raise ValueError(f"unknown dtype {descr!r}")
        if kind == "O":
            return True, 8
        if num:
            return False, int(num) * (4 if kind == "U" else 1)
        return False, _SIZE.get(kind)
    if isinstance(descr, list):
        has: bool = False
        total: int | None = 0
        for field_ in descr:
            if not isinstance(field_, tuple) or len(field_) not in (2, 3):
                raise ValueError("bad structured descr")
            h, size = _descr_info(field_[1], depth + 1)
            has = has or h
            count = math.prod(field_[2]) if len(field_) == 3 and isinstance(field_[2], tuple) else 1
            total = None if size is None or total is None else total + size * count
        return has, total
    raise ValueError("descr is neither a string nor a list")


def check_npy(buf: Any, raw: Raw) -> None:
    """Validate the header; object arrays hold a pickle right after it (the caller walks it)."""
    n = len(buf)
    if n < 10:
        raw.add("npy.malformed", "truncated .npy header", 0)
        return
    major = buf[6]
    if major == 1:
        hl, start = int.from_bytes(bytes(buf[8:10]), "little"), 10
    elif major in (2, 3):
        hl, start = int.from_bytes(bytes(buf[8:12]), "little"), 12
    else:
        raw.add("npy.malformed", f"unknown .npy version {major}", 6)
        return
    if hl > _MAX_NPY_HEADER or start + hl > n:
        raw.add("npy.malformed", f".npy header length {hl} is too large or truncated", 8)
        return
    text = bytes(buf[start : start + hl]).decode("utf-8" if major == 3 else "latin-1", "replace")
    try:
        header = ast.literal_eval(text.strip())
        if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
            raise ValueError("header keys must be descr, fortran_order, shape")
        shape = header["shape"]
        if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise ValueError("shape must be a tuple of non-negative ints")
        has_obj, size = _descr_info(header["descr"])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raw.add("npy.malformed", f".npy header: {exc}"[:300], start)
        return
    data_at = start + hl
    if has_obj:
        raw.add("npy.object-array", "object array: its data is a pickle", data_at)
        raw.pickle_at = data_at
        return
    if size is not None and math.prod(shape) * size > n - data_at:
        raw.add(
            "npy.malformed",
            f".npy data truncated: {math.prod(shape) * size} bytes declared, {n - data_at} present",
            data_at,
        )


# -- safetensors ------------------------------------------------------------------------------

# Bits per element, as the safetensors format defines its dtypes (sub-byte kinds pack:
# a tensor's bits must fill whole bytes). FP8 comes in every variant torch and ml_dtypes
# write (E4M3 / E5M2, FN, FNUZ, E8M0...).
_ST_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "F8_E4M3FN": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F8_E3M4": 8, "F8_E8M0FNU": 8,
    "F8_E4M3B11FNUZ": 8, "U16": 16, "I16": 16, "F16": 16, "BF16": 16, "U32": 32,
    "I32": 32, "F32": 32, "U64": 64, "I64": 64, "F64": 64, "C64": 64, "C128": 128,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U4": 4, "I4": 4,
}  # fmt: skip


def check_safetensors(buf: Any, raw: Raw) -> None:
    n = len(buf)
    hl = int.from_bytes(bytes(buf[:8]), "little")
    if hl > _MAX_SAFETENSORS_HEADER or 8 + hl > n:
        raw.add("safetensors.malformed", f"header length {hl} exceeds the file or the limit", 0)
        return
    try:
        header = json.loads(bytes(buf[8 : 8 + hl]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raw.add("safetensors.malformed", "header is not UTF-8 JSON", 8)
        return
    if not isinstance(header, dict):
        raw.add("safetensors.malformed", "header is not a JSON object", 8)
        return
    data_len = n - 8 - hl
    spans: list[tuple[int, int, str]] = []
    for name, t in header.items():
        if name == "__metadata__":
            if not isinstance(t, dict) or not all(isinstance(v, str) for v in t.values()):
                raw.add("safetensors.malformed", "__metadata__ must map strings to strings", 8)
            continue
        if not isinstance(t, dict) or set(t) != {"dtype", "shape", "data_offsets"}:
            raw.add(
                "safetensors.malformed", f"tensor {name!r}: needs dtype, shape, data_offsets", 8
            )
            continue
        size = _ST_BITS.get(t["dtype"]) if isinstance(t["dtype"], str) else None
        shape, offs = t["shape"], t["data_offsets"]
        if size is None:
            raw.add("safetensors.malformed", f"tensor {name!r}: unknown dtype {t['dtype']!r}", 8)
            continue
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raw.add("safetensors.malformed", f"tensor {name!r}: bad shape", 8)
            continue
        if (
            not isinstance(offs, list)
            or len(offs) != 2
            or not all(isinstance(o, int) for o in offs)
            or not 0 <= offs[0] <= offs[1] <= data_len
        ):
            raw.add("safetensors.malformed", f"tensor {name!r}: offsets outside the data", 8)
            continue
        bits = math.prod(shape) * size
        if bits % 8 or offs[1] - offs[0] != bits // 8:
            raw.add(
                "safetensors.malformed",
                f"tensor {name!r}: {offs[1] - offs[0]} bytes for shape {shape} of {t['dtype']}",
                8,
            )
            continue
        spans.append((offs[0], offs[1], str(name)))
    spans.sort()
    end = 0
    for b, e, name in spans:
        if b < end:
            raw.add(
                "safetensors.malformed", f"tensor {name!r} overlaps the previous one", 8 + hl + b
            )
        elif b > end:
            raw.add("safetensors.malformed", f"hole before tensor {name!r}", 8 + hl + end)
        end = max(end, e)
    if spans and end != data_len:
        raw.add(
            "safetensors.malformed", f"{data_len - end} bytes after the last tensor", 8 + hl + end
        )


# -- ONNX -------------------------------------------------------------------------------------

_STANDARD_DOMAINS = frozenset(
    {
        "", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.training",
        # onnxruntime's own contrib operators, built into every onnxruntime (its graph
        # optimizer writes them: FusedMatMul, Gelu, LayerNormalization...): no library
        # is loaded for them.
        "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental",
        "com.ms.internal.nhwc",
    }
)  # fmt: skip
# Opset imports onnxruntime's optimizer writes into every model it saves; nodes of these
# domains are still reported (org.pytorch.aten runs torch operators).
_ORT_OPSET_IMPORTS = frozenset({"ai.onnx.preview", "org.pytorch.aten"})
# onnxruntime reads an initializer whose external-data location is this tag from the
# process memory address in its offset (the in-memory external data of InferenceSession).
ORT_MEM_ADDR = "*/_ORT_MEM_ADDR_/*"


def check_onnx(buf: Any, raw: Raw, model_dir: Path | None) -> None:
    """Custom operator domains and external-data paths, read from the protobuf wire format
    (no ``onnx`` import); the graph is parsed, never run."""
    try:
        model = parse_onnx(buf)
    except OnnxMalformed as exc:
        raw.add("onnx.malformed", f"not a parseable ONNX ModelProto: {exc}", 0)
        return
    if not model.has_graph or model.ir_version <= 0:
        raw.add("onnx.malformed", "ModelProto without an ir_version or a graph", 0)
    for domain in model.opset_domains:
        if domain not in _STANDARD_DOMAINS and domain not in _ORT_OPSET_IMPORTS:
            raw.add("onnx.custom-domain", f"opset import of non-standard domain {domain!r}")
    seen_domains: set[str] = set()
    for domain, op_type, name in model.node_domains:
        if domain not in _STANDARD_DOMAINS and domain not in seen_domains:
            seen_domains.add(domain)
            raw.add(
                "onnx.custom-domain",
                f"node {name or op_type!r} uses operator {op_type} "
                f"of non-standard domain {domain!r} (needs a custom op library)",
            )
    for t in model.tensors:
        if not t.external:
            continue
        loc = t.location or ""
        if "_ORT_MEM_ADDR_" in loc:
            raw.add(
                "onnx.external-data-memory",
                f"tensor {t.name!r} uses onnxruntime's in-memory marker {ORT_MEM_ADDR!r}: "
                "its offset is read as a raw process memory address",
            )
            continue
        why = _escapes(loc, model_dir)
        if why:
            raw.add(
                "onnx.external-data-escape",
                f"tensor {t.name!r} reads external data from {loc!r}: {why}",
            )


def _escapes(loc: str, model_dir: Path | None) -> str | None:
    if not loc:
        return "empty location"
    if len(loc) > MAX_LOCATION:
        return "location too long to check"
    if loc.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", loc) or "\x00" in loc:
        return "absolute path"
    norm = posixpath.normpath(loc.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        return "path leaves the model directory"
    if model_dir is not None:
        base = model_dir.resolve()
        target = (base / norm).resolve()
        if target != base and base not in target.parents:
            return "path resolves (through a link) outside the model directory"
    return None


# -- Keras ------------------------------------------------------------------------------------


_KERAS_LAMBDAS = frozenset({"Lambda", "TFOpLambda", "__lambda__"})
# Layers whose deserialisation loads code or a saved model from outside the config.
_KERAS_LOADERS = frozenset({"TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})
# Preprocessing layers that read their vocabulary from a file named in the config.
_KERAS_VOCAB_FILES = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})


def check_keras_config(text: bytes, raw: Raw, policy: GlobalPolicy) -> None:
    """Every object a Keras config names (``module``, ``class_name``, ``registered_name``):
    Lambda layers (serialised code), layers that load code, files or SavedModels,
    denylisted modules and functions (``keras.*`` included), and anything that is not an
    ordinary Keras object on the Keras allowlist."""
    if len(text) > _MAX_JSON:
        raw.add("keras.malformed", "config.json larger than the limit")
        return
    try:
        doc = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raw.add("keras.malformed", "config.json is not UTF-8 JSON")
        return
    check_keras_doc(doc, raw, policy)


def check_keras_doc(doc: Any, raw: Raw, policy: GlobalPolicy) -> None:
    """The Keras checks of a decoded config (every nested object)."""
    todo: list[Any] = [doc]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        todo.extend(node.values())
        _keras_node(node, raw, policy)


def _keras_node(node: dict[str, Any], raw: Raw, policy: GlobalPolicy) -> None:
    cls = node.get("class_name")
    mod = node.get("module")
    reg = node.get("registered_name")
    config = node.get("config")
    if not isinstance(cls, str):
        return
    label = (config.get("name") if isinstance(config, dict) else None) or ""
    if cls in _KERAS_LAMBDAS:
        raw.add(
            "keras.lambda",
            f"{cls} layer {label} carries serialised Python code".replace("  ", " "),
        )
    names = {cls, reg.rpartition(">")[2] if isinstance(reg, str) else cls}
    loader = sorted(names & _KERAS_LOADERS)
    if loader:
        where = f"{mod}.{cls}" if isinstance(mod, str) else cls
        raw.add(
            "keras.dangerous-import",
            f"config.json uses {loader[0]} ({where}): it loads code or a saved model "
            "from outside the config",
            None,
            where,
        )
        return
    if (
        cls in _KERAS_VOCAB_FILES
        and isinstance(config, dict)
        and isinstance(config.get("vocabulary"), str)
    ):
        raw.add(
            "keras.file-reference",
            f"{cls} layer {label} reads its vocabulary from a file named in the config".replace(
                "  ", " "
            ),
        )
    if not isinstance(mod, str) or cls in _KERAS_LAMBDAS:
        return  # legacy configs name built-in layers by class only; Lambda said above
    target = config if cls == "function" and isinstance(config, str) else cls
    qual = f"{mod}.{target}"
    verdict, why = policy.classify(mod, str(target))
    if verdict is ScanVerdict.DANGEROUS:
        raw.add("keras.dangerous-import", f"config.json loads {qual} ({why})", None, qual)
        return
    if verdict is ScanVerdict.SAFE:
        return  # allowlisted (shipped or the user's --allow)
    if _keras_module(mod):
        if qual not in policy.keras_allow:
            raw.add(
                "keras.unknown-object",
                f"config.json loads {qual}: not an ordinary Keras object on the allowlist",
                None,
                qual,
            )
        return
    if mod == "builtins" and cls == "function" and target in policy.keras_functions:
        return  # Keras resolves it among its own activations, losses, metrics...
    raw.add("keras.custom-object", f"config.json loads {qual} ({why})", None, qual)


def _keras_module(mod: str) -> bool:
    return mod in ("keras", "tf_keras", "keras_hub", "keras_nlp", "keras_cv") or mod.startswith(
        ("keras.", "keras_hub.", "keras_nlp.", "keras_cv.", "tf_keras.")
    )


# -- Keras model JSON (to_json) --------------------------------------------------------


def check_json_keras(buf: Any, raw: Raw, policy: GlobalPolicy) -> None:
    """A JSON file may be a model's ``to_json()``, which ``keras.models.model_from_json``
    deserialises (Lambda layers included): it gets the Keras checks, parsed as JSON
    (escapes and key order as JSON reads them). Invalid JSON loads nothing."""
    if len(buf) > _MAX_JSON:
        head = bytes(buf[: 1 << 20])
        if b"class_name" in head or b"\\u" in head:
            raw.add("keras.malformed", "JSON larger than the limit that may be a Keras model")
        return
    try:
        doc = json.loads(bytes(buf).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return
    check_keras_doc(doc, raw, policy)


# -- HDF5 -------------------------------------------------------------------------------------

_H5_LAMBDA = re.compile(rb'"class_name":\s*"(Lambda|TFOpLambda)"')
# Where a JSON object may start: "{" and a key, in whatever order the keys come.
_H5_OBJECT = re.compile(rb'\{\s*"')
_H5_KERAS_BYTES = re.compile(rb"class_name|model_config")
_H5_MAX_CONFIGS = 64  # decoded JSON objects (nested objects of one do not count)
_H5_MAX_CANDIDATES = 100_000  # places tried
_H5_WINDOWS = (1 << 12, 1 << 16, 16 * 1024 * 1024)


def check_hdf5(buf: Any, raw: Raw, policy: GlobalPolicy | None = None) -> None:
    """Keras .h5 models keep their config as a JSON attribute. Every JSON object in the
    file is decoded as JSON (escaped strings, any key order) and given the Keras checks
    (CVE-2025-1550, Lambda layers). A Keras marker (``class_name``, ``model_config``)
    outside every decoded object is an error: a config the scanner could not read (split
    across HDF5 blocks, damaged) may be the one Keras reads."""
    m = _H5_LAMBDA.search(buf)
    if m:
        raw.add("keras.lambda", f"{m.group(1).decode()} layer in an HDF5 model config", m.start())
    if policy is None:
        return
    decoder = json.JSONDecoder()
    spans: list[tuple[int, int]] = []
    end = 0
    decoded = tried = 0
    keras_docs = 0
    n = len(buf)
    for c in _H5_OBJECT.finditer(buf):
        at = c.start()
        if at < end:
            continue  # inside an object already decoded
        tried += 1
        if decoded >= _H5_MAX_CONFIGS or tried > _H5_MAX_CANDIDATES:
            raw.add(
                "keras.malformed",
                f"more embedded JSON objects than the scanner checks (from offset {at}): "
                "not all of them were checked",
                at,
            )
            return
        doc, used = _decode_at(decoder, buf, at, n)
        if doc is None:
            continue
        decoded += 1
        end = at + used
        spans.append((at, end))
        sub = Raw()
        check_keras_doc(doc, sub, policy)
        if '"class_name"' in json.dumps(doc):
            keras_docs += 1
        for rule, msg, _, g in sub.items:
            if rule != "keras.lambda" or not m:  # the Lambda search above already said so
                raw.add(rule, f"{msg} (HDF5 config at offset {at})", at, g)
    for k in _H5_KERAS_BYTES.finditer(buf):
        word = k.group(0)
        inside = any(a <= k.start() < b for a, b in spans)
        if word == b"class_name" and not inside:
            raw.add(
                "keras.malformed",
                f"a Keras config at offset {k.start()} that does not decode as JSON "
                "(split or damaged): not checked",
                k.start(),
            )
            return
        if word == b"model_config" and not inside and not keras_docs:
            raw.add(
                "keras.malformed",
                "the file names a model_config but holds no Keras config the scanner "
                "could decode: not checked",
                k.start(),
            )
            return


def _decode_at(decoder: json.JSONDecoder, buf: Any, at: int, n: int) -> tuple[Any, int]:
    """The JSON object at ``at`` and its length in bytes, or (None, 0). The window grows
    only while the text is valid up to its end (a longer object)."""
    for window in _H5_WINDOWS:
        chunk = bytes(buf[at : at + window])
        text = chunk.decode("utf-8", "replace")
        try:
            doc, used = decoder.raw_decode(text)
        except json.JSONDecodeError as exc:
            if at + window >= n or exc.pos < len(text) - 8:
                return None, 0
            continue
        except (ValueError, RecursionError):
            return None, 0
        if not isinstance(doc, dict):
            return None, 0
        return doc, len(text[:used].encode("utf-8", "replace"))
    return None, 0
