"""The model-file scanner: every file, by content, recursively through archives.

Nothing scanned is imported, unpickled or run: pickles are walked opcode by opcode
(``_pickle``), ONNX is parsed as protobuf, JSON as JSON, archives member by member.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.core.errors import InputError
from bastion.integrity.interface import (
    RULES,
    ArchiveLimits,
    FileReport,
    ScanFinding,
    ScanReport,
    ScanVerdict,
)
from bastion.integrity.scanning import _containers, _formats, _gguf
from bastion.integrity.scanning._pickle import PickleScan, walk_pickles, walk_torch_tar_member
from bastion.integrity.scanning._policy import GlobalPolicy, shipped_policy

__all__ = ["scan_bytes", "scan_path", "to_sarif"]


@dataclass
class _Ctx:
    policy: GlobalPolicy
    limits: ArchiveLimits
    budget: list[int]
    reports: list[FileReport] = field(default_factory=list)
    scanned: int = 0
    legacy: bool = False  # the last pickle walk read a legacy torch record


def _worst(verdicts: Iterator[ScanVerdict] | list[ScanVerdict]) -> ScanVerdict:
    return max(verdicts, key=lambda v: v.rank, default=ScanVerdict.SAFE)


def _file(
    ctx: _Ctx, path: str, fmt: str, size: int, items: list[ScanFinding], globs: list[str]
) -> None:
    verdict = _worst([f.verdict for f in items])
    ctx.reports.append(
        FileReport(path, fmt, size, verdict, tuple(items), tuple(dict.fromkeys(globs)))
    )


def _mk(
    rule: str, msg: str, path: str, off: int | None = None, g: str | None = None
) -> ScanFinding:
    return ScanFinding(rule, RULES[rule].verdict, msg, path, off, g)


def _pickle_findings(
    ctx: _Ctx, buf: Any, path: str, start: int, strict: bool, min_pickles: int = 1
) -> tuple[list[ScanFinding], list[str], bool]:
    """Findings of every pickle from ``start``; the bool says it really was a pickle.

    Every reading a loader can take is walked: torch's legacy records (magic number in
    any integer form, raw storages skipped by their sizes, what follows walked on), and
    for joblib files both joblib's reading (array bytes skipped) and ``pickle.load``'s
    (the same bytes read as opcodes)."""
    res = walk_pickles(
        buf, start=start, first_must_parse=True, min_pickles=min_pickles, legacy=True
    )
    # An import opcode that is the pickle's very first opcode and fails there (an npy's
    # 0x93 magic is STACK_GLOBAL on an empty stack) fails in every unpickler.
    res.hidden_imports = [o for o in res.hidden_imports if o != start]
    ctx.legacy = res.legacy_records > 0
    if res.joblib_arrays:
        # pickle.load / torch.load do not skip joblib's array bytes: they run them.
        plain = walk_pickles(buf, start=start, joblib=False)
        res.globals += plain.globals
        res.hidden_imports += plain.hidden_imports
    return _findings_of(ctx, res, path, strict)


def _findings_of(
    ctx: _Ctx, res: PickleScan, path: str, strict: bool
) -> tuple[list[ScanFinding], list[str], bool]:
    items: list[ScanFinding] = []
    globs: list[str] = []
    # A walk that fails is a pickle all the same when it failed at its own limit or an
    # import follows the failure: only a clean "not a pickle" lets other tests decide.
    is_pickle = res.is_pickle
    if not strict and not is_pickle:
        return [], [], False
    seen: set[tuple[str, str]] = set()
    for g in res.globals:
        key = (g.module, g.name)
        globs.append(g.qualname)
        if key in seen:
            continue
        seen.add(key)
        if g.opcode == "EXT":
            items.append(_mk("pickle.extension-code", f"{g.opcode} code {g.name}", path, g.offset))
            continue
        verdict, why = ctx.policy.classify(g.module, g.name)
        if verdict is ScanVerdict.SAFE:
            continue
        rule = {
            ScanVerdict.DANGEROUS: "pickle.dangerous-global",
            ScanVerdict.SUSPICIOUS: "pickle.suspicious-global",
        }[verdict]
        if g.module == "?":
            rule = "pickle.unresolved-global"
        items.append(
            _mk(rule, f"{g.opcode} imports {g.qualname}: {why}", path, g.offset, g.qualname)
        )
    for issue in res.issues:
        rule = {"trailing-data": "pickle.trailing-data", "limit": "pickle.limit"}.get(
            issue.kind, "pickle.malformed"
        )
        items.append(_mk(rule, issue.message, path, issue.offset))
    if res.hidden_imports:
        offs = ", ".join(str(o) for o in res.hidden_imports[:8])
        items.append(
            _mk(
                "pickle.hidden-import",
                f"{len(res.hidden_imports)} import opcode(s) after the parse failure, at {offs}",
                path,
                res.hidden_imports[0],
            )
        )
    return items, globs, True


_ARCHIVES = ("zip", "tar", "gzip", "bz2", "xz", "zlib", "lzma")


def _scan_buf(
    ctx: _Ctx, buf: Any, path: str, model_dir: Path | None, depth: int, keras_done: bool = False
) -> None:
    size = len(buf)
    ctx.scanned += size
    fmt = _formats.detect(buf)
    raw = _formats.Raw()
    items: list[ScanFinding] = []
    globs: list[str] = []
    front = False
    if fmt not in ("pickle", "pytorch-legacy", "", "empty"):
        # pickle.load (and torch's legacy path) read a pickle at offset 0 whatever else
        # the file is: a tar, safetensors, ONNX, npy, HDF5 or GGUF file that is also a
        # pickle is walked both ways (a polyglot).
        items, globs, front = _pickle_findings(ctx, buf, path, 0, strict=False)
    if fmt in _ARCHIVES:
        if depth >= ctx.limits.max_depth:
            items.append(_mk("archive.too-deep", f"{fmt} at depth {depth}", path))
            _file(ctx, path, fmt, size, items, globs)
            return
        _scan_archive(
            ctx, buf, path, fmt, model_dir, depth, ("pickle", items, globs) if front else None
        )
        return
    if fmt in ("pickle", "pytorch-legacy"):
        items, globs, _ = _pickle_findings(ctx, buf, path, 0, strict=True)
        fmt = _pickle_format(ctx, globs, fmt)
        front = True
    elif fmt == "npy":
        _formats.check_npy(buf, raw)
        if raw.pickle_at is not None:
            more, mglobs, _ = _pickle_findings(ctx, buf, path, raw.pickle_at, strict=True)
            items += more
            globs += mglobs
    elif fmt == "safetensors":
        _formats.check_safetensors(buf, raw)
    elif fmt == "onnx":
        _formats.check_onnx(buf, raw, model_dir)
    elif fmt == "hdf5":
        _formats.check_hdf5(buf, raw, ctx.policy)
    elif fmt == "gguf":
        _gguf.check_gguf(buf, raw)
    elif fmt == "":
        # Protocol 0/1 pickles have no magic: walk; only imports or a clean parse count.
        items, globs, is_pickle = _pickle_findings(ctx, buf, path, 0, strict=False)
        if is_pickle:
            fmt = _pickle_format(ctx, globs, "pickle")
            front = True
        elif packed := _formats.weak_compressed(buf):
            if depth >= ctx.limits.max_depth:
                items.append(_mk("archive.too-deep", f"{packed} at depth {depth}", path))
                _file(ctx, path, packed, size, items, globs)
            else:
                _scan_archive(ctx, buf, path, packed, model_dir, depth)
            return
        elif _is_json(buf):
            fmt = "json"
            if not keras_done:
                # keras.models.model_from_json reads a model's to_json(): its objects count.
                _formats.check_json_keras(buf, raw, ctx.policy)
        elif _is_text(buf):
            fmt = "text"
        else:
            fmt = "unknown"
            items.append(
                _mk(
                    "file.unrecognised",
                    f"{path}: {size} bytes in no format the scanner knows (not a pickle, "
                    "archive, numpy, safetensors, ONNX, Keras, HDF5 or GGUF file): not scanned",
                    path,
                    0,
                )
            )
    if front and fmt not in ("pickle", "pytorch-legacy", "joblib"):
        fmt = f"pickle+{fmt}"
    if fmt not in ("empty", "unknown") and _formats.has_zip_trailer(buf):
        # Zip readers find the archive by its end record, whatever precedes it: a pickle
        # (pickle.load runs the front), safetensors, ONNX... Both are scanned.
        for rule, msg, off, g in raw.items:
            items.append(_mk(rule, msg, path, off, g))
        if depth >= ctx.limits.max_depth:
            items.append(_mk("archive.too-deep", f"zip at depth {depth}", path))
        else:
            _scan_archive(ctx, buf, path, "zip", model_dir, depth, (fmt, items, globs))
            return
        _file(ctx, path, fmt, size, items, globs)
        return
    for rule, msg, off, g in raw.items:
        items.append(_mk(rule, msg, path, off, g))
    _file(ctx, path, fmt, size, items, globs)


def _pickle_format(ctx: _Ctx, globs: list[str], fmt: str) -> str:
    if ctx.legacy:
        return "pytorch-legacy"
    if any(g.startswith("joblib.") for g in globs):
        return "joblib"
    return "pickle"


def _is_json(buf: Any) -> bool:
    head = bytes(buf[:64]).lstrip()
    return head[:1] in (b"{", b"[")


def _is_text(buf: Any) -> bool:
    """UTF-8 text without NULs or other control bytes (in its first 64 KiB)."""
    head = bytes(buf[: 1 << 16])
    if any(b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D) for b in head[:4096]):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and len(buf) > len(head)  # cut mid-character
    return True


_Front = tuple[str, list[ScanFinding], list[str]]


def _scan_archive(
    ctx: _Ctx,
    buf: Any,
    path: str,
    fmt: str,
    model_dir: Path | None,
    depth: int,
    front: _Front | None = None,
) -> None:
    """Scan an archive's members one at a time (each is dropped before the next inflates).

    ``front``: the format, findings and globals of a pickle in front of a zip (a polyglot);
    they are reported with the archive's own findings.
    """
    items: list[ScanFinding] = list(front[1]) if front else []
    globs: list[str] = list(front[2]) if front else []
    if depth == 0:
        # Everything inflated from one top-level file is bounded by its size too.
        lim = ctx.limits
        ctx.budget[1:] = [max(lim.max_ratio * len(buf), lim.min_expansion)]
    if fmt in ("gzip", "bz2", "xz", "zlib", "lzma"):
        limit = min(ctx.limits.max_member_bytes, *ctx.budget)
        try:
            data = _containers.decompress(fmt, buf, limit, ctx.limits.max_ratio)
        except _containers._TooBig as exc:
            items.append(_mk("archive.bomb", f"{fmt} stream {exc}", path))
            _file(ctx, path, fmt, len(buf), items, globs)
            return
        except Exception as exc:  # zlib/lzma/bz2/EOF errors: corrupt stream
            items.append(_mk("archive.malformed", f"{fmt}: {exc}"[:300], path))
            _file(ctx, path, fmt, len(buf), items, globs)
            return
        for k in range(len(ctx.budget)):
            ctx.budget[k] -= len(data)
        _file(ctx, path, fmt, len(buf), items, globs)
        _scan_buf(ctx, data, f"{path}!", model_dir, depth + 1)
        _close(data)
        return
    label = fmt
    torch_prefixes: set[str] = set()
    members: Iterator[_containers.Member]
    if fmt == "zip":
        infos, refused = _containers.zip_index(buf, ctx.limits)
        if refused:
            items.append(_mk(refused[0], refused[1], path))
        names = [i.filename for i in infos]
        torch_prefixes = {
            n[: -len("data.pkl")] for n in names if n.rpartition("/")[2] == "data.pkl"
        }
        if torch_prefixes:
            label = "pytorch-zip"
        elif "config.json" in names:
            # Keras reads config.json at the root and deserialises it before any weights
            # (.h5, .npz or none at all): every root config.json gets the Keras checks.
            label = "keras"
        elif names and all(n.endswith(".npy") for n in names):
            label = "npz"
        members = _containers.iter_zip_members(buf, infos, ctx.limits, ctx.budget)
    else:
        members = _containers.iter_tar(buf, ctx.limits, ctx.budget)
    if front:
        label = f"{front[0]}+{label}"
    raw = _formats.Raw()
    for m in members:
        mname = m.name
        for rule, msg in m.problems:
            items.append(_mk(rule, msg, f"{path}!{mname}" if mname else path))
        mdata = m.data
        if mdata is None:
            continue
        if fmt == "zip" and mname == "config.json":
            _formats.check_keras_config(bytes(mdata[: 64 * 1024**2 + 1]), raw, ctx.policy)
        head, _, tail = mname.rpartition("/data/")
        if fmt == "tar" and mname in ("storages", "tensors"):
            # torch's legacy tar format: pickles interleaved with raw storage bytes, read
            # on past the raw bytes as torch reads them.
            ctx.scanned += len(mdata)
            mres = walk_torch_tar_member(mdata, mname)
            mitems, mglobs, _ = _findings_of(ctx, mres, f"{path}!{mname}", True)
            _file(ctx, f"{path}!{mname}", "pytorch-tar", len(mdata), mitems, mglobs)
        elif f"{head}/" in torch_prefixes and tail.isdigit():
            # Tensor storage: torch reads these as raw bytes, never unpickles them.
            ctx.scanned += len(mdata)
            _file(ctx, f"{path}!{mname}", "tensor-data", len(mdata), [], [])
        else:
            done = fmt == "zip" and mname == "config.json"
            _scan_buf(ctx, mdata, f"{path}!{mname}", None, depth + 1, done)
        _close(mdata)
        del mdata, m
    for rule, msg, off, g in raw.items:
        items.append(_mk(rule, msg, f"{path}!config.json", off, g))
    _file(ctx, path, label, len(buf), items, globs)


def _close(data: Any) -> None:
    if isinstance(data, mmap.mmap):
        with contextlib.suppress(BufferError):  # a view still alive: the GC closes it
            data.close()


def scan_bytes(
    data: bytes,
    name: str = "upload",
    *,
    allow: frozenset[str] = frozenset(),
    limits: ArchiveLimits | None = None,
) -> ScanReport:
    """Scan bytes held in memory (an upload): same rules as :func:`scan_path`."""
    t0 = time.perf_counter()
    ctx = _new_ctx(allow, limits)
    _scan_buf(ctx, data, name, None, 0)
    return _report(ctx, name, t0)


def _new_ctx(allow: frozenset[str], limits: ArchiveLimits | None) -> _Ctx:
    lim = limits or ArchiveLimits()
    policy = shipped_policy().with_allowed(allow) if allow else shipped_policy()
    return _Ctx(policy, lim, [lim.max_total_bytes, lim.max_total_bytes])


def _report(ctx: _Ctx, target: str, t0: float) -> ScanReport:
    return ScanReport(
        target,
        _worst([r.verdict for r in ctx.reports]),
        tuple(ctx.reports),
        ctx.scanned,
        time.perf_counter() - t0,
    )


def scan_path(
    path: Path,
    *,
    allow: frozenset[str] = frozenset(),
    limits: ArchiveLimits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScanReport:
    """Scan a file or every file under a directory (links reported, never followed)."""
    t0 = time.perf_counter()
    try:
        st = path.lstat()
    except OSError:
        raise InputError(
            f"{path}: no such file or directory; give a model file or folder"
        ) from None
    ctx = _new_ctx(allow, limits)
    if stat.S_ISDIR(st.st_mode):
        root = path
        files = sorted(_walk(root))
    else:
        root = path.parent
        files = [path]
    for k, f in enumerate(files):
        rel = f.relative_to(root).as_posix() if f != path else path.name
        _scan_file(ctx, f, rel, root)
        if progress:
            progress(k + 1, len(files))
    return _report(ctx, str(path), t0)


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        for name in dirnames:
            if (d / name).is_symlink():
                yield d / name
        for name in filenames:
            yield d / name


def _scan_file(ctx: _Ctx, f: Path, rel: str, root: Path) -> None:
    try:
        st = f.lstat()
        if stat.S_ISLNK(st.st_mode):
            _file(
                ctx, rel, "symlink", 0, [_mk("file.symlink", f"{rel} -> {os.readlink(f)}", rel)], []
            )
            return
        if not stat.S_ISREG(st.st_mode):
            kind = (
                "fifo"
                if stat.S_ISFIFO(st.st_mode)
                else "socket"
                if stat.S_ISSOCK(st.st_mode)
                else "device"
            )
            msg = f"{rel} is a {kind}: not read"
            _file(ctx, rel, kind, 0, [_mk("file.special", msg, rel)], [])
            return
        with f.open("rb") as fh:
            if st.st_size == 0:
                _scan_buf(ctx, b"", rel, root, 0)
                return
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            try:
                _scan_buf(ctx, mm, rel, f.parent, 0)
            finally:
                with contextlib.suppress(BufferError):  # a view still alive: the GC closes it
                    mm.close()
    except (OSError, ValueError) as exc:
        _file(ctx, rel, "unknown", 0, [_mk("file.unreadable", f"{rel}: {exc}"[:300], rel)], [])


_SARIF_LEVEL = {
    ScanVerdict.DANGEROUS: "error",
    ScanVerdict.ERROR: "error",
    ScanVerdict.SUSPICIOUS: "warning",
    ScanVerdict.SAFE: "note",
}
_SECURITY_SEVERITY = {
    ScanVerdict.DANGEROUS: "9.8",
    ScanVerdict.ERROR: "7.0",
    ScanVerdict.SUSPICIOUS: "5.0",
    ScanVerdict.SAFE: "0.0",
}


def to_sarif(report: ScanReport) -> dict[str, Any]:
    """SARIF 2.1.0: one run, every rule's metadata, a result per finding with its offset."""
    from importlib import metadata

    try:
        version = metadata.version("bastion")
    except metadata.PackageNotFoundError:
        version = "0"
    rules = sorted(RULES.values(), key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for f in report.findings:
        region: dict[str, Any] = {}
        if f.offset is not None:
            region = {"region": {"byteOffset": f.offset}}
        results.append(
            {
                "ruleId": f.rule_id,
                "ruleIndex": index[f.rule_id],
                "level": _SARIF_LEVEL[f.verdict],
                "message": {"text": f.message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.path}} | region}],
                "properties": {"verdict": f.verdict.value}
                | ({"global": f.global_name} if f.global_name else {}),
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "bastion-model-scan",
                        "version": version,
                        "informationUri": "https://github.com/bastion/bastion",
                        "rules": [
                            {
                                "id": r.id,
                                "name": r.id.replace(".", "_").replace("-", "_"),
                                "shortDescription": {"text": r.title},
                                "fullDescription": {"text": r.description},
                                "help": {"text": r.remediation},
                                "defaultConfiguration": {"level": _SARIF_LEVEL[r.verdict]},
                                "properties": {
                                    "tags": ["security", *r.references],
                                    "security-severity": _SECURITY_SEVERITY[r.verdict],
                                },
                            }
                            for r in rules
                        ],
                    }
                },
                "results": results,
                "properties": {"verdict": report.verdict.value, "target": report.target},
            }
        ],
    }
