"""The hashing engine: a deterministic manifest of every file of a model directory.

Large reads into one reused buffer per thread (``readinto``), threads over files and over
shards (hashlib and blake3 release the GIL), whole-file reads for small files. The manifest
is OpenSSF model-signing v1.0 compatible: same resource names, same order, same root
digest (SHA-256 over the raw item digests in order).
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import json
import os
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bastion.core.errors import InputError

__all__ = [
    "DEFAULT_IGNORE",
    "HashAlgorithm",
    "ManifestEntry",
    "ModelManifest",
    "WalkProblem",
    "hash_model",
    "root_digest",
    "sort_key",
    "validate_resource_name",
    "walk_model",
]

BUF_SIZE = 8 * 1024 * 1024
SMALL_FILE = 1024 * 1024
DEFAULT_IGNORE: tuple[str, ...] = (".git", ".gitattributes", ".github", ".gitignore")
MAX_FILES = 1_000_000


class HashAlgorithm(enum.StrEnum):
    SHA256 = "sha256"
    BLAKE3 = "blake3"


@dataclass(frozen=True)
class ManifestEntry:
    """One file (or one shard of a file) with its digest."""

    path: str
    size: int
    digest: str
    start: int | None = None
    end: int | None = None

    @property
    def name(self) -> str:
        """The resource name model-signing uses: the path, or ``path:start:end`` for shards."""
        return self.path if self.start is None else f"{self.path}:{self.start}:{self.end}"


@dataclass(frozen=True)
class ModelManifest:
    """The signed view of a model: serialization parameters and every item's digest."""

    model_name: str
    algorithm: HashAlgorithm
    entries: tuple[ManifestEntry, ...]
    shard_size: int | None = None
    allow_symlinks: bool = False
    ignore_paths: tuple[str, ...] = ()
    from_cache: int = 0
    bytes_hashed: int = 0
    problems: tuple[WalkProblem, ...] = field(default=())

    @property
    def method(self) -> str:
        return "files" if self.shard_size is None else "shards"

    @property
    def resource_algorithm(self) -> str:
        if self.shard_size is None:
            return self.algorithm.value
        return f"{self.algorithm.value}-sharded-{self.shard_size}"

    @property
    def digest(self) -> str:
        """The root digest (hex): SHA-256 over every item digest, in manifest order."""
        return root_digest(e.digest for e in self.entries)

    def serialization(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "hash_type": self.algorithm.value,
            "allow_symlinks": self.allow_symlinks,
        }
        if self.shard_size is not None:
            out["shard_size"] = self.shard_size
        if self.ignore_paths:
            out["ignore_paths"] = list(self.ignore_paths)
        return out

    def resources(self) -> list[dict[str, str]]:
        alg = self.resource_algorithm
        return [{"name": e.name, "algorithm": alg, "digest": e.digest} for e in self.entries]

    @property
    def total_size(self) -> int:
        if self.shard_size is None:
            return sum(e.size for e in self.entries)
        return sum((e.end or 0) - (e.start or 0) for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "digest": f"sha256:{self.digest}",
            "serialization": self.serialization(),
            "files": len({e.path for e in self.entries}),
            "bytes": self.total_size,
            "from_cache": self.from_cache,
            "resources": [
                {"name": e.name, "size": e.size, "digest": e.digest} for e in self.entries
            ],
        }


@dataclass(frozen=True)
class WalkProblem:
    """A path the walk refused: a symlink, a link escaping the model, a special file."""

    path: str
    kind: str
    message: str


def root_digest(digests: Iterable[str]) -> str:
    h = hashlib.sha256()
    for d in digests:
        h.update(bytes.fromhex(d))
    return h.hexdigest()


def sort_key(name: str, start: int | None = None, end: int | None = None) -> tuple[Any, ...]:
    """model-signing orders items as ``PurePosixPath`` keys: by path parts, then offsets."""
    return (PurePosixPath(name).parts, start or 0, end or 0)


def validate_resource_name(name: str, source: str) -> str:
    """Refuse names that could leave the model directory (``..``, absolute, empty parts)."""
    if (
        not name
        or "\x00" in name
        or "\\" in name
        or name.startswith("/")
        or any(p in ("", ".", "..") for p in name.split("/"))
    ):
        raise InputError(
            f"{source}: resource {name!r} is not a plain relative path inside the model "
            "(absolute, '..' or empty parts are refused)"
        )
    return name


def _ignored(rel: str, patterns: Sequence[str]) -> bool:
    base = rel.rsplit("/", 1)[-1]
    for p in patterns:
        p = p.strip("/")
        if rel == p or rel.startswith(p + "/"):
            return True
        if any(c in p for c in "*?[") and (
            fnmatch.fnmatchcase(rel, p) or ("/" not in p and fnmatch.fnmatchcase(base, p))
        ):
            return True
    return False


def walk_model(
    root: Path, *, ignore: Sequence[str] = DEFAULT_IGNORE, allow_symlinks: bool = False
) -> tuple[list[tuple[str, Path, int]], list[WalkProblem]]:
    """Every regular file under ``root`` as (relative posix path, path, size), sorted.

    Symlinks are problems unless allowed, and then only when they stay inside ``root``.
    """
    if not root.exists():
        raise InputError(f"{root}: no such file or directory")
    real_root = root.resolve()
    files: list[tuple[str, Path, int]] = []
    problems: list[WalkProblem] = []
    if root.is_file() and not root.is_symlink():
        return [(root.name, root, root.stat().st_size)], []

    def visit(d: Path, prefix: str) -> None:
        try:
            entries = list(os.scandir(d))
        except OSError as exc:
            raise InputError(f"{d}: cannot list directory ({exc.strerror})") from None
        for e in entries:
            rel = f"{prefix}{e.name}"
            if _ignored(rel, ignore):
                continue
            if "\\" in e.name or "\n" in e.name:
                problems.append(WalkProblem(rel, "name", f"'{rel}': unsupported file name"))
                continue
            p = Path(e.path)
            if e.is_symlink():
                if not allow_symlinks:
                    problems.append(
                        WalkProblem(
                            rel,
                            "symlink",
                            f"'{rel}' is a symbolic link; symlinks are refused "
                            "(allow them explicitly to follow links inside the model)",
                        )
                    )
                    continue
                target = p.resolve()
                if not target.is_relative_to(real_root):
                    problems.append(
                        WalkProblem(rel, "escape", f"'{rel}' links to {target}, outside the model")
                    )
                    continue
                if target.is_dir():
                    problems.append(
                        WalkProblem(rel, "symlink", f"'{rel}' links to a directory; not followed")
                    )
                    continue
            st = p.stat()
            if stat.S_ISDIR(st.st_mode):
                visit(p, rel + "/")
            elif stat.S_ISREG(st.st_mode):
                files.append((rel, p, st.st_size))
                if len(files) > MAX_FILES:
                    raise InputError(f"{root}: more than {MAX_FILES} files; refusing")
            else:
                problems.append(
                    WalkProblem(rel, "special", f"'{rel}' is not a regular file or directory")
                )

    visit(root, "")
    files.sort(key=lambda t: sort_key(t[0]))
    return files, problems


_local = threading.local()


def _buffer() -> memoryview:
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = memoryview(bytearray(BUF_SIZE))
        _local.buf = buf
    return buf


def _new_hasher(alg: HashAlgorithm) -> Any:
    if alg is HashAlgorithm.SHA256:
        return hashlib.sha256()
    import blake3

    return blake3.blake3()


def _hash_range(path: Path, alg: HashAlgorithm, start: int, end: int) -> str:
    h = _new_hasher(alg)
    fd = os.open(path, os.O_RDONLY)
    try:
        length = end - start
        if length <= SMALL_FILE:
            data = os.pread(fd, length, start) if start else os.read(fd, length)
            if len(data) != length:
                raise InputError(f"{path}: file changed while hashing (short read)")
            h.update(data)
            return str(h.hexdigest())
        if start:
            os.lseek(fd, start, os.SEEK_SET)
        buf = _buffer()
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            remaining = length
            while remaining > 0:
                view = buf[: min(BUF_SIZE, remaining)]
                n = f.readinto(view)
                if not n:
                    raise InputError(f"{path}: file changed while hashing (short read)")
                h.update(view[:n])
                remaining -= n
        return str(h.hexdigest())
    finally:
        os.close(fd)


class _Cache:
    """Digest cache keyed on (device, inode, size, mtime_ns, algorithm, range)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.data: dict[str, str] = {}
        self.dirty = False
        if path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(raw, dict):
                    self.data = {str(k): str(v) for k, v in raw.items()}
            except (OSError, ValueError):
                self.data = {}

    @staticmethod
    def key(path: Path, alg: HashAlgorithm, start: int, end: int) -> str:
        st = path.stat()
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{alg.value}:{start}:{end}"

    def get(self, key: str) -> str | None:
        with self.lock:
            return self.data.get(key)

    def put(self, key: str, digest: str) -> None:
        with self.lock:
            self.data[key] = digest
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.data, f)
        os.replace(tmp, self.path)


def hash_model(
    path: Path,
    *,
    algorithm: HashAlgorithm = HashAlgorithm.SHA256,
    shard_size: int | None = None,
    ignore: Sequence[str] = DEFAULT_IGNORE,
    allow_symlinks: bool = False,
    workers: int | None = None,
    cache: Path | None = None,
    strict: bool = True,
    model_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ModelManifest:
    """Hash every file under ``path`` into a deterministic manifest.

    With ``strict`` the first refused path (symlink, escape) raises; otherwise the
    problems are returned in the manifest for the verifier to report as findings.
    """
    if shard_size is not None and shard_size < 1:
        raise InputError(f"shard size must be positive, got {shard_size}")
    files, problems = walk_model(path, ignore=ignore, allow_symlinks=allow_symlinks)
    if strict and problems:
        raise InputError(f"{path}: {problems[0].message}")
    units: list[tuple[str, Path, int, int, int]] = []
    for rel, p, size in files:
        if shard_size is None:
            units.append((rel, p, size, 0, size))
        else:
            if ":" in rel:
                raise InputError(f"{path}: '{rel}' contains ':', which shard names cannot hold")
            start = 0
            while start < size:
                end = min(start + shard_size, size)
                units.append((rel, p, size, start, end))
                start = end
    store = _Cache(cache) if cache is not None else None
    hits = 0
    done = 0
    total = len(units)
    lock = threading.Lock()

    def one(u: tuple[str, Path, int, int, int]) -> ManifestEntry:
        nonlocal hits, done
        rel, p, size, start, end = u
        key = _Cache.key(p, algorithm, start, end) if store is not None else ""
        digest = store.get(key) if store is not None else None
        if digest is None:
            digest = _hash_range(p, algorithm, start, end)
            if store is not None:
                store.put(key, digest)
        else:
            with lock:
                hits += 1
        if progress is not None:
            with lock:
                done += 1
                progress(done, total)
        if shard_size is None:
            return ManifestEntry(rel, size, digest)
        return ManifestEntry(rel, size, digest, start, end)

    n_workers = workers or min(32, (os.cpu_count() or 1) * 2)
    if len(units) <= 1 or n_workers == 1:
        entries = [one(u) for u in units]
    else:
        # Big units first so the tail of the pool is small files, not one huge file.
        order = sorted(range(len(units)), key=lambda i: -(units[i][4] - units[i][3]))
        batches: list[list[int]] = []
        small: list[int] = []
        for i in order:
            if units[i][4] - units[i][3] > SMALL_FILE:
                batches.append([i])
            else:
                small.append(i)
        batches.extend(small[k : k + 64] for k in range(0, len(small), 64))
        slots: list[ManifestEntry | None] = [None] * len(units)

        def run(batch: list[int]) -> None:
            for i in batch:
                slots[i] = one(units[i])

        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for fut in [pool.submit(run, b) for b in batches]:
                fut.result()
        entries = [e for e in slots if e is not None]
    if store is not None:
        store.save()
    ignore_rel = tuple(sorted({p.strip("/") for p in ignore}))
    name = model_name or path.resolve().name
    return ModelManifest(
        model_name=name,
        algorithm=algorithm,
        entries=tuple(entries),
        shard_size=shard_size,
        allow_symlinks=allow_symlinks,
        ignore_paths=ignore_rel,
        from_cache=hits,
        bytes_hashed=sum(u[4] - u[3] for u in units),
        problems=tuple(problems),
    )
