"""RFC 9162 (RFC 6962) Merkle tree math over SHA-256.

The ledger is a transparency log: anyone holding a signed checkpoint can check that an
event is in it (inclusion) and that a later checkpoint only appended (consistency). These
are the exact hashes and proof shapes of Certificate Transparency, so the proofs we hand
out can be checked with any RFC 9162 verifier, not only ours.

Everything here is pure: no storage, no clocks. Proof generation takes the leaf hashes and
rebuilds only the subtrees it needs, iteratively, in O(n) time and O(log n) extra memory.

Note that an RFC 9162 proof does not commit to the tree size on its own (the inclusion
proof of leaf 0 in a tree of 3 also "verifies" against the same root at size 4): callers
must take the size and root together from a signed checkpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from bastion.core.errors import InputError, LedgerIntegrityError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "ProofError",
    "consistency_proof",
    "consistency_ranges",
    "fold_subtrees",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "perfect_root",
    "perfect_subtrees",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
#: The root of the empty tree: SHA-256 of the empty string (RFC 9162 2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


class ProofError(LedgerIntegrityError):
    """An inclusion or consistency proof did not verify."""

    title = "Merkle proof verification failed"


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf: the 0x00 prefix keeps leaves and interior nodes apart."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``): where MTH splits."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_root(hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) without copying: a stack of perfect subtrees, one per set bit."""
    if start >= end:
        return EMPTY_ROOT
    stack: list[bytes] = []
    sha = _sha256
    for count, i in enumerate(range(start, end)):
        h = hashes[i]
        while count & 1:  # each trailing 1 bit of the count closes a perfect subtree
            h = sha(b"\x01" + stack.pop() + h).digest()
            count >>= 1
        stack.append(h)
    h = stack.pop()
    while stack:
        h = sha(b"\x01" + stack.pop() + h).digest()
    return h


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The tree head over already-hashed leaves (``EMPTY_ROOT`` when there are none)."""
    return _range_root(hashes, 0, len(hashes))


def merkle_root(entries: Sequence[bytes]) -> bytes:
    """The tree head over raw leaf data."""
    return root_from_leaf_hashes([leaf_hash(e) for e in entries])


def _check_tree(leaf_hashes: Sequence[bytes], size: int) -> None:
    if not 0 <= size <= len(leaf_hashes):
        raise InputError(f"tree size {size} is outside 0..{len(leaf_hashes)}")


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTH make up PATH(index, D[0:size]), deepest sibling first.

    Every range starts at a multiple of a power of two at least as large as the range, so
    its MTH is the fold of the perfect subtrees of its length's binary decomposition: a
    store that keeps perfect-subtree hashes can answer a proof without reading every leaf.
    """
    if not 0 <= index < size:
        raise InputError(f"leaf index {index} is outside a tree of size {size}")
    siblings: list[tuple[int, int]] = []  # top-down
    start, end, m = 0, size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            siblings.append((start + k, end))
            end = start + k
        else:
            siblings.append((start, start + k))
            start += k
            m -= k
    siblings.reverse()
    return siblings


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTH make up PROOF(old_size, D[0:new_size]), in proof order."""
    if not 0 <= old_size <= new_size:
        raise InputError(f"old size {old_size} is outside 0..{new_size}")
    if old_size in (0, new_size):
        return []
    siblings: list[tuple[int, int]] = []  # top-down
    start, end, m, whole = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            siblings.append((start + k, end))
            end = start + k
        else:
            siblings.append((start, start + k))
            start += k
            m -= k
            whole = False
    # SUBPROOF(m, D[m], b): nothing when the old tree is this very subtree, else its root.
    ranges = [] if whole else [(start, end)]
    ranges.extend(reversed(siblings))
    return ranges


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 2.1.3.1, deepest sibling first."""
    _check_tree(leaf_hashes, size)
    return [_range_root(leaf_hashes, s, e) for s, e in inclusion_ranges(index, size)]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 2.1.4.1 (empty when there is nothing to prove)."""
    _check_tree(leaf_hashes, new_size)
    return [_range_root(leaf_hashes, s, e) for s, e in consistency_ranges(old_size, new_size)]


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` as aligned perfect subtrees ``(height, index)``, left to right.

    Subtree ``(h, i)`` covers leaves ``[i * 2**h, (i + 1) * 2**h)``. For the ranges of
    :func:`inclusion_ranges` and :func:`consistency_ranges` the MTH of the range is the
    right-to-left fold of these roots (see :func:`fold_subtrees`).
    """
    out: list[tuple[int, int]] = []
    while start < end:
        h = min((start & -start).bit_length() - 1 if start else 63, (end - start).bit_length() - 1)
        out.append((h, start >> h))
        start += 1 << h
    return out


def fold_subtrees(roots: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect-subtree roots, largest (leftmost) first."""
    if not roots:
        return EMPTY_ROOT
    h = roots[-1]
    for left in reversed(roots[:-1]):
        h = node_hash(left, h)
    return h


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The root of a perfect subtree from its ``2**k`` child hashes at one level."""
    level = list(hashes)
    if not level or len(level) & (len(level) - 1):
        raise InputError(
            f"a perfect subtree needs a power-of-two count of hashes, not {len(level)}"
        )
    sha = _sha256
    while len(level) > 1:
        level = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def _inclusion_length(index: int, size: int) -> int:
    # Levels below the point where the paths to `index` and to the last leaf part, plus
    # one sibling per left-hand perfect subtree above it.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2: check that ``leaf_hash`` sits at ``index`` under ``root``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is out of range for tree size {size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root hash")
    want = _inclusion_length(index, size)
    if len(proof) != want:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {want}")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof element {i}")
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root hash")


def _consistency_length(old_size: int, new_size: int) -> int:
    index = old_size - 1
    inner = (index ^ (new_size - 1)).bit_length()
    border = (index >> inner).bit_count()
    shift = (old_size & -old_size).bit_length() - 1  # trailing zero bits of old_size
    seed = 0 if old_size == 1 << shift else 1  # a power of two: the old root is a node
    return seed + inner - shift + border


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2: check that the tree at ``new_root`` extends the one at ``old_root``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} is out of range for new size {new_size}")
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"different roots for the same tree size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError("old root of an empty tree is not the empty-tree hash")
        return
    want = _consistency_length(old_size, new_size)
    if len(proof) != want:
        raise ProofError(f"consistency proof has {len(proof)} hashes, expected {want}")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof element {i}")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the old root at size {old_size}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the new root at size {new_size}")


class Frontier:
    """The right edge of a tree: one perfect-subtree root per set bit of ``size``.

    Enough to append and to compute the root in O(log n) without reading old leaves,
    and small enough (32 bytes per set bit) to store next to every tree head.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._nodes: list[bytes] = []  # left to right, largest subtree first

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        if not isinstance(leaf_hash, bytes | bytearray) or len(leaf_hash) != HASH_SIZE:
            raise InputError(f"leaf hash must be {HASH_SIZE} bytes")
        h = bytes(leaf_hash)
        count = self._size
        nodes = self._nodes
        while count & 1:
            h = node_hash(nodes.pop(), h)
            count >>= 1
        nodes.append(h)
        self._size += 1

    def append_tracking(
        self, leaf_hash: bytes, every: int, out: list[tuple[int, int, bytes]]
    ) -> None:
        """:meth:`append`, also collecting each perfect subtree it completes whose height is
        a positive multiple of ``every``, as ``(height, index, root)``."""
        if not isinstance(leaf_hash, bytes | bytearray) or len(leaf_hash) != HASH_SIZE:
            raise InputError(f"leaf hash must be {HASH_SIZE} bytes")
        h = bytes(leaf_hash)
        count = self._size
        nodes = self._nodes
        height = 0
        self._size += 1
        while count & 1:
            h = node_hash(nodes.pop(), h)
            count >>= 1
            height += 1
            if height % every == 0:
                out.append((height, (self._size >> height) - 1, h))
        nodes.append(h)

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        h = self._nodes[-1]
        for left in reversed(self._nodes[:-1]):
            h = node_hash(left, h)
        return h

    def to_bytes(self) -> bytes:
        return b"".join(self._nodes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        """Rebuild a stored frontier; the byte length must match ``size`` exactly."""
        if size < 0:
            raise LedgerIntegrityError(f"stored frontier has a negative size {size}")
        want = HASH_SIZE * size.bit_count()
        if len(data) != want:
            raise LedgerIntegrityError(
                f"stored frontier for size {size} has {len(data)} bytes, expected {want}"
            )
        frontier = cls()
        frontier._size = size
        frontier._nodes = [bytes(data[i : i + HASH_SIZE]) for i in range(0, want, HASH_SIZE)]
        return frontier

    def copy(self) -> Frontier:
        other = Frontier()
        other._size = self._size
        other._nodes = list(self._nodes)
        return other

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()})"
