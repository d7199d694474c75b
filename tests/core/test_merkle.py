"""RFC 9162 Merkle math: Certificate Transparency reference vectors, then properties.

The vectors are the test data of the CT reference implementation, as carried in
github.com/transparency-dev/merkle (proof/verify_test.go). Their leaf indices are
1-based there; they are 0-based here.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.core.errors import InputError, LedgerIntegrityError
from bastion.core.ledger._merkle import (
    EMPTY_ROOT,
    Frontier,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def h(hexstr: str) -> bytes:
    return bytes.fromhex(hexstr)


LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
LEAF_HASHES = [leaf_hash(x) for x in LEAVES]

ROOTS = [  # tree sizes 1..8
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

INCLUSION = [  # (index, size, proof)
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

CONSISTENCY = [  # (old_size, new_size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def _rejected(fn: object, *args: object) -> bool:
    assert callable(fn)
    try:
        fn(*args)
    except ProofError:
        return True
    return False


# --- reference vectors ----------------------------------------------------------------


def test_hash_primitives() -> None:
    empty = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert empty == EMPTY_ROOT
    assert leaf_hash(b"") == ROOTS[0]
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size: int) -> None:
    assert merkle_root(LEAVES[:size]) == ROOTS[size - 1]
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == ROOTS[size - 1]


def test_empty_tree() -> None:
    assert merkle_root([]) == EMPTY_ROOT
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert Frontier().root() == EMPTY_ROOT


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_reference_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(LEAF_HASHES, index, size) == proof
    verify_inclusion(LEAF_HASHES[index], index, size, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_reference_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(LEAF_HASHES, old, new) == proof
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[int, int, list[bytes], bytes, bytes, str]]:
    probes = [
        (index - 1, size, proof, root, leaf, "index - 1"),
        (index + 1, size, proof, root, leaf, "index + 1"),
        (index ^ 2, size, proof, root, leaf, "index ^ 2"),
        (index, size * 2, proof, root, leaf, "size * 2"),
        (index, size // 2, proof, root, leaf, "size / 2"),
        (index, size, proof, root, b"WrongLeaf", "wrong leaf"),
        (index, size, proof, EMPTY_ROOT, leaf, "empty root"),
        (index, size, proof, SOME_HASH, leaf, "random root"),
        (index, size, [*proof, b""], root, leaf, "trailing garbage"),
        (index, size, [*proof, root], root, leaf, "trailing root"),
        (index, size, [b"", *proof], root, leaf, "preceding garbage"),
        (index, size, [root, *proof], root, leaf, "preceding root"),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, bad, root, leaf, f"flipped bit in proof[{i}]"))
    if proof:
        probes.append((index, size, proof[:-1], root, leaf, "removed component"))
    if len(proof) > 1:
        probes.append((index, size, [proof[0], SOME_HASH, *proof[1:]], root, leaf, "inserted"))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_reference_inclusion_corruptions_rejected(
    index: int, size: int, proof: list[bytes]
) -> None:
    root, leaf = ROOTS[size - 1], LEAF_HASHES[index]
    for i, n, p, r, lf, desc in _inclusion_probes(index, size, proof, root, leaf):
        assert _rejected(verify_inclusion, lf, i, n, p, r), f"accepted: {desc}"


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_reference_consistency_corruptions_rejected(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = [
        (old - 1, new, r1, r2, proof, "old - 1"),
        (old + 1, new, r1, r2, proof, "old + 1"),
        (old ^ 2, new, r1, r2, proof, "old ^ 2"),
        (old, new * 2, r1, r2, proof, "new * 2"),
        (old, new // 2, r1, r2, proof, "new / 2"),
        (old, new, b"WrongRoot", r2, proof, "wrong old root"),
        (old, new, r1, b"WrongRoot", proof, "wrong new root"),
        (old, new, r2, r1, proof, "swapped roots"),
        (old, new, r1, r2, [], "empty proof"),
        (old, new, r1, r2, [*proof, b""], "trailing garbage"),
        (old, new, r1, r2, [*proof, r1], "trailing old root"),
        (old, new, r1, r2, [*proof, r2], "trailing new root"),
        (old, new, r1, r2, [b"", *proof], "preceding garbage"),
        (old, new, r1, r2, [r1, *proof], "preceding old root"),
        (old, new, r1, r2, [r2, *proof], "preceding new root"),
        (old, new, r1, r2, [proof[0], *proof], "preceding proof[0]"),
        (old, new, r1, r2, proof[:-1], "truncated"),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((old, new, r1, r2, bad, f"flipped bit in proof[{i}]"))
    for s1, s2, a, b, p, desc in probes:
        assert _rejected(verify_consistency, s1, s2, a, b, p), f"accepted: {desc}"


def test_single_entry_inclusion() -> None:
    leaf = leaf_hash(b"data")
    verify_inclusion(leaf, 0, 1, [], leaf)
    for lf, root in [(leaf, b""), (b"", leaf), (b"", b"")]:
        with pytest.raises(ProofError):
            verify_inclusion(lf, 0, 1, [], root)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 3)])
def test_inclusion_index_out_of_range(index: int, size: int) -> None:
    with pytest.raises(ProofError, match="out of range"):
        verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


def test_error_messages_are_specific() -> None:
    proof = INCLUSION[1][2]
    with pytest.raises(ProofError, match="has 2 hashes, expected 3"):
        verify_inclusion(LEAF_HASHES[0], 0, 8, proof[:2], ROOTS[7])
    with pytest.raises(ProofError, match="does not lead to the root"):
        verify_inclusion(LEAF_HASHES[0], 0, 8, proof, ROOTS[6])
    with pytest.raises(ProofError, match="not a 32-byte hash"):
        verify_inclusion(LEAF_HASHES[0], 0, 8, [*proof[:2], b"short"], ROOTS[7])
    cproof = CONSISTENCY[2][2]
    with pytest.raises(ProofError, match="has 2 hashes, expected 3"):
        verify_consistency(6, 8, ROOTS[5], ROOTS[7], cproof[:2])
    with pytest.raises(ProofError, match="old root"):
        verify_consistency(6, 8, ROOTS[4], ROOTS[7], cproof)
    with pytest.raises(ProofError, match="new root"):
        verify_consistency(6, 8, ROOTS[5], ROOTS[6], cproof)
    with pytest.raises(ProofError, match="out of range"):
        verify_consistency(9, 8, ROOTS[5], ROOTS[7], cproof)
    assert issubclass(ProofError, LedgerIntegrityError)


def test_trivial_consistency() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    bad = [
        (3, 3, ROOTS[2], ROOTS[3], []),  # same size, different roots
        (3, 3, ROOTS[2], ROOTS[2], [EMPTY_ROOT]),  # same size, non-empty proof
        (0, 5, SOME_HASH, ROOTS[4], []),  # empty tree with a non-empty root
        (0, 5, EMPTY_ROOT, ROOTS[4], [EMPTY_ROOT]),
        (1, 0, ROOTS[0], EMPTY_ROOT, []),  # time travel
        (2, 1, ROOTS[1], ROOTS[0], []),
        (1, 2, ROOTS[0], ROOTS[1], []),  # missing proof
    ]
    for old, new, r1, r2, proof in bad:
        with pytest.raises(ProofError):
            verify_consistency(old, new, r1, r2, proof)


def test_generation_rejects_bad_arguments() -> None:
    with pytest.raises(InputError):
        inclusion_proof(LEAF_HASHES, 8, 8)
    with pytest.raises(InputError):
        inclusion_proof(LEAF_HASHES, 0, 9)
    with pytest.raises(InputError):
        inclusion_proof(LEAF_HASHES, -1, 8)
    with pytest.raises(InputError):
        consistency_proof(LEAF_HASHES, 5, 4)
    with pytest.raises(InputError):
        consistency_proof(LEAF_HASHES, 1, 9)
    assert consistency_proof(LEAF_HASHES, 0, 8) == []
    assert consistency_proof(LEAF_HASHES, 8, 8) == []


# --- properties ----------------------------------------------------------------------


def _tree(size: int) -> list[bytes]:
    return [leaf_hash(b"leaf %d" % i) for i in range(size)]


def _flip(proof: list[bytes], i: int, byte: int) -> list[bytes]:
    bad = list(proof)
    bad[i] = bad[i][:byte] + bytes([bad[i][byte] ^ 0x01]) + bad[i][byte + 1 :]
    return bad


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.randoms(use_true_random=False))
def test_every_inclusion_proof_verifies_and_corruptions_fail(size: int, rnd: random.Random) -> None:
    leaves = _tree(size)
    root = root_from_leaf_hashes(leaves)
    for index in range(size):
        proof = inclusion_proof(leaves, index, size)
        verify_inclusion(leaves[index], index, size, proof, root)
        if proof:
            i = rnd.randrange(len(proof))
            assert _rejected(
                verify_inclusion,
                leaves[index],
                index,
                size,
                _flip(proof, i, rnd.randrange(32)),
                root,
            )
            assert _rejected(verify_inclusion, leaves[index], index, size, proof[:-1], root)
        wrong = rnd.randrange(size)
        if wrong != index:
            assert _rejected(verify_inclusion, leaves[index], wrong, size, proof, root)
            assert _rejected(verify_inclusion, leaves[wrong], index, size, proof, root)
        assert _rejected(verify_inclusion, leaves[index], index, size, [*proof, root], root)
        flipped_root = bytes([root[0] ^ 0x80]) + root[1:]
        assert _rejected(verify_inclusion, leaves[index], index, size, proof, flipped_root)
        for other in (size * 2, size // 2):
            assert _rejected(verify_inclusion, leaves[index], index, other, proof, root)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.randoms(use_true_random=False))
def test_every_consistency_proof_verifies_and_corruptions_fail(
    size: int, rnd: random.Random
) -> None:
    leaves = _tree(size)
    frontier = Frontier()
    roots = [EMPTY_ROOT]
    for leaf in leaves:
        frontier.append(leaf)
        roots.append(frontier.root())
    new_root = roots[size]
    for old in range(size + 1):
        proof = consistency_proof(leaves, old, size)
        verify_consistency(old, size, roots[old], new_root, proof)
        if not proof:
            assert old in (0, size)
            continue
        i = rnd.randrange(len(proof))
        assert _rejected(
            verify_consistency, old, size, roots[old], new_root, _flip(proof, i, rnd.randrange(32))
        )
        assert _rejected(verify_consistency, old, size, roots[old], new_root, proof[:-1])
        assert _rejected(verify_consistency, old, size, roots[old], new_root, [*proof, new_root])
        other = rnd.randrange(1, size)
        if other != old:
            assert _rejected(verify_consistency, other, size, roots[old], new_root, proof)
            assert _rejected(verify_consistency, old, size, roots[other], new_root, proof)
        assert _rejected(verify_consistency, old, size, roots[old], roots[size - 1], proof)


def test_wrong_size_can_verify_when_the_path_shape_is_identical() -> None:
    # Documents a property of RFC 9162 rather than a bug: the tree size is not bound by
    # the proof. Leaf 0 of a 3-leaf tree has the same path shape as in a 4-leaf tree, so
    # the size must come from the signed checkpoint together with the root.
    leaves = _tree(3)
    proof = inclusion_proof(leaves, 0, 3)
    verify_inclusion(leaves[0], 0, 4, proof, root_from_leaf_hashes(leaves))


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_frontier_matches_full_recomputation_for_every_prefix(size: int) -> None:
    leaves = _tree(size)
    frontier = Frontier()
    assert frontier.root() == EMPTY_ROOT
    for n, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        assert frontier.size == n
        assert frontier.root() == root_from_leaf_hashes(leaves[:n])
        again = Frontier.from_bytes(frontier.size, frontier.to_bytes())
        assert again.size == n
        assert again.root() == frontier.root()
        assert again.to_bytes() == frontier.to_bytes()
    assert len(frontier.to_bytes()) == 32 * size.bit_count()


def test_frontier_copy_is_independent() -> None:
    frontier = Frontier()
    for leaf in LEAF_HASHES[:5]:
        frontier.append(leaf)
    snapshot = frontier.copy()
    frontier.append(LEAF_HASHES[5])
    assert snapshot.size == 5
    assert snapshot.root() == ROOTS[4]
    assert frontier.root() == ROOTS[5]
    snapshot.append(LEAF_HASHES[5])
    assert snapshot.root() == ROOTS[5]


def test_frontier_continues_from_bytes() -> None:
    frontier = Frontier()
    for leaf in LEAF_HASHES[:3]:
        frontier.append(leaf)
    resumed = Frontier.from_bytes(3, frontier.to_bytes())
    for leaf in LEAF_HASHES[3:]:
        resumed.append(leaf)
    assert resumed.root() == ROOTS[7]
    assert "size=8" in repr(resumed)


@pytest.mark.parametrize(("size", "length"), [(3, 32), (3, 96), (1, 0), (-1, 0), (4, 33)])
def test_frontier_from_bytes_rejects_bad_lengths(size: int, length: int) -> None:
    with pytest.raises(LedgerIntegrityError):
        Frontier.from_bytes(size, b"\x00" * length)


def test_frontier_rejects_bad_leaf_hash() -> None:
    with pytest.raises(InputError):
        Frontier().append(b"short")


def test_large_tree_proofs_are_linear() -> None:
    # 2**17 + 3 leaves: a recursive, slice-copying implementation would be far slower
    # here; this also exercises depth well past the recursion limit's comfort zone.
    size = 2**17 + 3
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(size)]
    root = root_from_leaf_hashes(leaves)
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    assert frontier.root() == root
    for index in (0, size // 2, size - 1):
        verify_inclusion(leaves[index], index, size, inclusion_proof(leaves, index, size), root)
    old = 100_000
    verify_consistency(
        old, size, root_from_leaf_hashes(leaves[:old]), root, consistency_proof(leaves, old, size)
    )
