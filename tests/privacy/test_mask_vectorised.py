"""The vectorised column paths of the masking operators (numpy over the string buffer for
``mask``, primed HMAC states with a cross-batch cache for ``hash``) give exactly what the
per-value ``one`` gives: ASCII and not, nulls, short values, sliced and chunked arrays."""

from __future__ import annotations

import hmac
import random

import pyarrow as pa
import pytest

from bastion.privacy.deid._operators import HashOp, MaskOp

_ALPHABET = "abcXYZ0189-_ ./@+()#"


def _values(rng: random.Random, n: int, *, unicode: bool) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(n):
        if rng.random() < 0.1:
            out.append(None)
            continue
        k = rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 12, 20])
        s = "".join(rng.choice(_ALPHABET) for _ in range(k))
        out.append(s + ("é5ñ" if unicode and rng.random() < 0.3 else ""))
    return out


def _per_value(op: MaskOp | HashOp, arr: pa.Array) -> list[str | None]:
    return [None if v is None else op.one(v) for v in arr.to_pylist()]


@pytest.mark.parametrize("unicode", [False, True])
def test_mask_matches_per_value(unicode: bool) -> None:
    rng = random.Random(11 + unicode)
    for _ in range(200):
        arr = pa.array(_values(rng, rng.randint(0, 50), unicode=unicode), type=pa.string())
        if len(arr) > 4 and rng.random() < 0.5:
            arr = arr.slice(rng.randint(1, 3))  # a non-zero offset into the buffers
        op = MaskOp(rng.choice("*#X"), rng.randint(0, 3), rng.randint(0, 5), rng.random() < 0.7)
        got = op.apply_arrow(arr)
        got.validate(full=True)
        assert got.type == pa.string()
        assert got.to_pylist() == _per_value(op, arr)


def test_mask_examples_and_other_layouts() -> None:
    op = MaskOp("*", 0, 4, True)
    arr = pa.array(["4111-1111-1111-1234", "abc", None, "", "ab-cd"])
    assert op.apply_arrow(arr).to_pylist() == ["****-****-****-1234", "***", None, "", "*b-cd"]
    chunked = pa.chunked_array([arr.slice(0, 2), arr.slice(2)])
    assert op.apply_arrow(chunked).to_pylist() == op.apply_arrow(arr).to_pylist()
    large = pa.array(["secret-value-42"], type=pa.large_string())
    assert op.apply_arrow(large).to_pylist() == ["******-****e-42"]
    assert MaskOp("•", 0, 2).apply_arrow(pa.array(["abcd"])).to_pylist() == ["••cd"]


@pytest.mark.parametrize("key", [b"k" * 8, b"k" * 32, b"k" * 64, b"long key " * 12])
def test_hash_matches_hmac_and_caches_across_batches(key: bytes) -> None:
    rng = random.Random(len(key))
    op = HashOp(key, 20, "h_")
    for _ in range(20):
        arr = pa.array(_values(rng, 40, unicode=True), type=pa.string())
        got = op.apply_arrow(arr).to_pylist()
        assert got == _per_value(op, arr)
        want = [
            None if v is None else "h_" + hmac.new(key, v.encode(), "sha256").hexdigest()[:20]
            for v in arr.to_pylist()
        ]
        assert got == want
    assert op._cache  # what earlier batches hashed is remembered
    again = op.apply_arrow(pa.array(list(op._cache)[:3])).to_pylist()
    assert again == [op._cache[v] for v in list(op._cache)[:3]]
