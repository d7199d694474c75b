"""The ledger: an append-only, RFC 9162 Merkle-tree log with C2SP signed checkpoints."""

from __future__ import annotations

from bastion.core.ledger._key import LedgerKey, ledger_key
from bastion.core.ledger._log import (
    Entry,
    Event,
    InclusionProof,
    Ledger,
    LedgerProblem,
    VerifyReport,
    encode_event,
)

# --- Merkle math and signed checkpoints (pure functions; _merkle.py, _note.py) ---
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
from bastion.core.ledger._note import (
    Checkpoint,
    NoteError,
    NoteSignature,
    key_hash,
    parse_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_checkpoint,
    verify_note,
)

# --- end of Merkle math and signed checkpoints ---

__all__ = [
    "Entry",
    "Event",
    "InclusionProof",
    "Ledger",
    "LedgerKey",
    "LedgerProblem",
    "VerifyReport",
    "encode_event",
    "ledger_key",
]

# --- Merkle math and signed checkpoints ---
__all__ += [
    "EMPTY_ROOT",
    "Checkpoint",
    "Frontier",
    "NoteError",
    "NoteSignature",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "key_hash",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "parse_checkpoint",
    "parse_verifier_key",
    "root_from_leaf_hashes",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_note",
]
# --- end of Merkle math and signed checkpoints ---
