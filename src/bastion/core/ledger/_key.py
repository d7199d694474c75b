"""The ledger's public verifier key, in the forms a witness configures.

The key is public: it lets anyone check that a checkpoint was signed by this ledger, and
nothing else. The CLI (`bastion ledger key`) and the API (`GET /api/v1/ledger/key`) print
it; docs/ledger.md shows how to verify a checkpoint with it without Bastion installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bastion.core.ledger._note import key_hash, verifier_key

if TYPE_CHECKING:
    from bastion.core.ledger._log import Ledger

__all__ = ["LedgerKey", "ledger_key"]


@dataclass(frozen=True)
class LedgerKey:
    """The C2SP verifier key of a ledger: its checkpoints' origin is the key name."""

    origin: str
    key_name: str
    key_hash: str
    vkey: str
    public_key_pem: str
    algorithm: str = "Ed25519"

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "key_name": self.key_name,
            "key_hash": self.key_hash,
            "algorithm": self.algorithm,
            "vkey": self.vkey,
            "public_key_pem": self.public_key_pem,
        }


def ledger_key(ledger: Ledger) -> LedgerKey:
    """The verifier key (``name+hash+key``) and PEM public key that sign ``ledger``'s
    checkpoints; the key name is the ledger's origin, as in every checkpoint it signs."""
    name = ledger.origin
    pem = ledger.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return LedgerKey(
        origin=ledger.origin,
        key_name=name,
        key_hash=key_hash(name, ledger.public_key).hex(),
        vkey=verifier_key(name, ledger.public_key),
        public_key_pem=pem.decode("ascii"),
    )
