"""DSSE v1: pre-authentication encoding and the envelope, as model-signing and in-toto use."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from bastion.core.errors import InputError

__all__ = ["INTOTO_PAYLOAD_TYPE", "STATEMENT_TYPE", "Envelope", "b64decode", "pae"]

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"  # the in-toto Statement v1 a payload holds


def pae(payload_type: str, payload: bytes) -> bytes:
    """The bytes a DSSE signature covers (protocol v1.0.0), never the JSON around them."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def b64decode(value: object, what: str, source: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise InputError(f"{source}: {what} is missing or not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(
            f"{source}: {what} is not valid base64 (truncated or corrupted?)"
        ) from None


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": [
                {"sig": base64.b64encode(s).decode(), "keyid": ""} for s in self.signatures
            ],
        }

    @classmethod
    def from_json(cls, d: object, source: str) -> Envelope:
        if not isinstance(d, dict):
            raise InputError(f"{source}: dsseEnvelope must be an object")
        ptype = d.get("payloadType")
        if not isinstance(ptype, str):
            raise InputError(f"{source}: dsseEnvelope.payloadType is missing")
        payload = b64decode(d.get("payload"), "dsseEnvelope.payload", source)
        sigs = d.get("signatures")
        if not isinstance(sigs, list) or not sigs:
            raise InputError(f"{source}: dsseEnvelope.signatures is empty")
        raw = tuple(
            b64decode(s.get("sig") if isinstance(s, dict) else None, "signature", source)
            for s in sigs
        )
        return cls(ptype, payload, raw)
