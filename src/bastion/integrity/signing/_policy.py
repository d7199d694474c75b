"""Per-model verification policy (YAML): who may sign, how many, which roots, what is revoked."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bastion.core.errors import InputError

__all__ = ["TimeMode", "VerificationPolicy", "load_policy"]

MAX_POLICY_BYTES = 1024 * 1024


class TimeMode(enum.StrEnum):
    """When certificates must be valid: now, or at issuance of the signing certificate.

    ``issuance`` is what model-signing does: without a timestamp authority the signing time
    is not authenticated, so it is the leaf's notBefore, and only the CAs are time-checked.
    """

    NOW = "now"
    ISSUANCE = "issuance"


class VerificationPolicy(BaseModel):
    """What a valid signature of this model must satisfy (fail closed on anything missing)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(None, description="Expected subject name in the signature")
    allowed_identities: list[str] = Field(
        default_factory=list, description="Certificate SAN identities allowed to sign"
    )
    allowed_keys: list[str] = Field(
        default_factory=list,
        description="Public key files (PEM) or SHA-256 key hints allowed to sign",
    )
    trust_roots: list[str] = Field(default_factory=list, description="PEM root certificates")
    allowed_issuers: list[str] = Field(
        default_factory=list,
        description="OIDC issuers allowed for Sigstore (Fulcio) certificates",
    )
    sigstore_trust_root: str | None = Field(
        None, description="Sigstore trusted_root.json (or ClientTrustConfig) for keyless bundles"
    )
    required_signatures: int = Field(1, ge=1, le=16)
    max_trust_root_age_days: float | None = Field(None, gt=0)
    revoked_serials: list[str] = Field(default_factory=list)
    crls: list[str] = Field(default_factory=list)
    time: TimeMode = TimeMode.NOW
    allow_symlinks: bool = False
    trust_cache: bool = False

    def resolve(self, base: Path) -> VerificationPolicy:
        """Paths in a policy file are relative to the file."""

        def r(p: str) -> str:
            q = Path(p)
            return str(q if q.is_absolute() else base / q)

        def key(p: str) -> str:
            return p if len(p) == 64 and all(c in "0123456789abcdef" for c in p) else r(p)

        return self.model_copy(
            update={
                "allowed_keys": [key(k) for k in self.allowed_keys],
                "trust_roots": [r(p) for p in self.trust_roots],
                "crls": [r(p) for p in self.crls],
                "sigstore_trust_root": r(self.sigstore_trust_root)
                if self.sigstore_trust_root
                else None,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_policy(path: Path) -> VerificationPolicy:
    try:
        size = path.stat().st_size
    except OSError:
        raise InputError(f"{path}: policy file not found") from None
    if size > MAX_POLICY_BYTES:
        raise InputError(f"{path}: policy larger than {MAX_POLICY_BYTES} bytes")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid YAML ({type(exc).__name__})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a policy must be a mapping of fields")
    try:
        pol = VerificationPolicy.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"]) or "(root)"
        raise InputError(f"{path}: field '{loc}': {e['msg']}") from None
    return pol.resolve(path.parent)
