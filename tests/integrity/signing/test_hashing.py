"""The hashing engine: digests, determinism, shards, symlinks, ignores, the cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import blake3
import pytest

from bastion.core.errors import InputError
from bastion.integrity import HashAlgorithm, hash_model
from bastion.integrity._hashing import DEFAULT_IGNORE


def test_manifest_matches_hashlib_and_is_deterministic(model: Path) -> None:
    m1 = hash_model(model, workers=4)
    m2 = hash_model(model, workers=1)
    assert m1.to_dict() == m2.to_dict()
    names = [e.name for e in m1.entries]
    assert names == ["a-c", "config.json", "sub/vocab.txt", "weights.bin"]
    assert ".git/HEAD" not in names
    w = next(e for e in m1.entries if e.name == "weights.bin")
    assert w.digest == hashlib.sha256((model / "weights.bin").read_bytes()).hexdigest()
    assert w.size == (model / "weights.bin").stat().st_size
    root = hashlib.sha256(b"".join(bytes.fromhex(e.digest) for e in m1.entries)).hexdigest()
    assert m1.digest == root


def test_blake3_and_shards(model: Path) -> None:
    m = hash_model(model, algorithm=HashAlgorithm.BLAKE3)
    w = next(e for e in m.entries if e.name == "weights.bin")
    assert w.digest == blake3.blake3((model / "weights.bin").read_bytes()).hexdigest()
    s = hash_model(model, shard_size=1024 * 1024)
    shards = [e for e in s.entries if e.path == "weights.bin"]
    assert [(e.start, e.end) for e in shards][:2] == [(0, 1 << 20), (1 << 20, 2 << 20)]
    data = (model / "weights.bin").read_bytes()
    assert shards[-1].digest == hashlib.sha256(data[shards[-1].start : shards[-1].end]).hexdigest()
    assert s.serialization()["method"] == "shards"
    assert s.resources()[0]["algorithm"] == "sha256-sharded-1048576"


def test_symlinks_refused_unless_allowed_and_never_outside(model: Path, tmp_path: Path) -> None:
    os.symlink(model / "config.json", model / "link.json")
    with pytest.raises(InputError, match=r"'link.json' is a symbolic link"):
        hash_model(model)
    m = hash_model(model, allow_symlinks=True)
    assert "link.json" in [e.name for e in m.entries]
    outside = tmp_path / "secret.txt"
    outside.write_text("s")
    os.symlink(outside, model / "escape")
    with pytest.raises(InputError, match=r"'escape' links to .*outside the model"):
        hash_model(model, allow_symlinks=True)


def test_ignore_patterns(model: Path) -> None:
    m = hash_model(model, ignore=[*DEFAULT_IGNORE, "sub", "*.json"])
    assert [e.name for e in m.entries] == ["a-c", "weights.bin"]
    assert "sub" in m.serialization()["ignore_paths"]
    with_git = hash_model(model, ignore=[])
    assert ".git/HEAD" in [e.name for e in with_git.entries]


def test_cache_hits_on_unchanged_files_and_misses_on_change(model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.json"
    first = hash_model(model, cache=cache)
    assert first.from_cache == 0
    assert cache.stat().st_mode & 0o777 == 0o600
    second = hash_model(model, cache=cache)
    assert second.from_cache == len(second.entries)
    assert second.digest == first.digest
    (model / "config.json").write_text('{"layers": 3}')
    third = hash_model(model, cache=cache)
    assert third.from_cache == len(third.entries) - 1
    assert third.digest != first.digest


def test_missing_path_and_bad_shard_size(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        hash_model(tmp_path / "nope")
    with pytest.raises(InputError, match="shard size"):
        hash_model(tmp_path, shard_size=0)


def test_single_file_model(tmp_path: Path) -> None:
    f = tmp_path / "model.onnx"
    f.write_bytes(b"onnx" * 100)
    m = hash_model(f)
    assert [e.name for e in m.entries] == ["model.onnx"]
