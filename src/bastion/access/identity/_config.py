"""The identity configuration: ``<home>/identity.yaml`` (optional; defaults when absent).

It names this Bastion's issuer, bounds token lifetimes, says who may act for whom in a
token exchange, and lists the external OIDC issuers whose tokens are accepted::

    issuer: https://bastion.example.com
    max_ttl_minutes: 60
    leeway_seconds: 30
    trust_domain: bastion.local      # SPIFFE trust domain of the CA's mTLS certificates
    delegation:
      max_depth: 3
      rules:
        - actor: "workload:*"       # fnmatch pattern on the actor's principal id
          subjects: ["user:*"]      # ... who may act for these subjects
    federation:
      - issuer: https://login.example.com
        jwks_url: https://login.example.com/.well-known/jwks.json   # or discovery, or jwks_file
        audience: bastion
        algorithms: [RS256, ES256]
        kind: user
        id_claim: sub
        id_prefix: "user:"
        roles_claim: groups
        attributes: [email, department]
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bastion.access.interface import IdentityKind
from bastion.core.documents import load_document
from bastion.core.workspace import Workspace

__all__ = [
    "CONFIG_FILE",
    "DelegationConfig",
    "DelegationRule",
    "FederatedIssuerConfig",
    "IdentityConfig",
    "load_identity_config",
]

CONFIG_FILE = "identity.yaml"
MAX_CONFIG_BYTES = 256 * 1024
#: The most any configuration may allow a Bastion-issued token to live.
HARD_MAX_TTL_MINUTES = 24 * 60

FederatedAlg = Literal["RS256", "ES256", "EdDSA"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DelegationRule(_Strict):
    actor: str = Field(min_length=1, max_length=200)
    subjects: tuple[str, ...] = Field(min_length=1, max_length=100)

    def allows(self, actor: str, subject: str) -> bool:
        return fnmatch.fnmatchcase(actor, self.actor) and any(
            fnmatch.fnmatchcase(subject, s) for s in self.subjects
        )


class DelegationConfig(_Strict):
    max_depth: int = Field(default=3, ge=1, le=10)
    #: nobody may act for anybody unless a rule says so (deny by default)
    rules: tuple[DelegationRule, ...] = ()

    def allows(self, actor: str, subject: str) -> bool:
        return any(r.allows(actor, subject) for r in self.rules)


class FederatedIssuerConfig(_Strict):
    issuer: str = Field(min_length=1, max_length=500)
    jwks_url: str | None = Field(default=None, max_length=2000)
    jwks_file: Path | None = None
    #: fetch ``<issuer>/.well-known/openid-configuration`` for the JWKS URL
    discovery: bool = False
    audience: str = Field(min_length=1, max_length=500)
    algorithms: tuple[FederatedAlg, ...] = ("RS256", "ES256", "EdDSA")
    kind: IdentityKind = IdentityKind.USER
    id_claim: str = Field(default="sub", min_length=1, max_length=100)
    #: prepended to the id claim; default "<kind>:" so the id is a principal id
    id_prefix: str | None = Field(default=None, max_length=100)
    roles_claim: str | None = Field(default=None, max_length=100)
    attributes: tuple[str, ...] = ()
    #: seconds a fetched JWKS is trusted before it is fetched again
    jwks_cache_seconds: int = Field(default=300, ge=0, le=86_400)

    @model_validator(mode="after")
    def _one_source(self) -> FederatedIssuerConfig:
        sources = sum((self.jwks_url is not None, self.jwks_file is not None, self.discovery))
        if sources != 1:
            raise ValueError("give exactly one of jwks_url, jwks_file or discovery: true")
        return self

    @field_validator("algorithms")
    @classmethod
    def _some(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one algorithm")
        return v


class IdentityConfig(_Strict):
    issuer: str = Field(default="https://bastion.local", min_length=1, max_length=500)
    max_ttl_minutes: int = Field(default=60, ge=1, le=HARD_MAX_TTL_MINUTES)
    default_ttl_minutes: int = Field(default=15, ge=1, le=HARD_MAX_TTL_MINUTES)
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    #: the SPIFFE trust domain of the workspace CA's mTLS certificates
    trust_domain: str = Field(default="bastion.local", pattern=r"^[a-z0-9._-]{1,255}$")
    delegation: DelegationConfig = DelegationConfig()
    federation: tuple[FederatedIssuerConfig, ...] = ()

    @model_validator(mode="after")
    def _ttls(self) -> IdentityConfig:
        if self.default_ttl_minutes > self.max_ttl_minutes:
            raise ValueError("default_ttl_minutes exceeds max_ttl_minutes")
        seen = [f.issuer for f in self.federation]
        if self.issuer in seen or len(set(seen)) != len(seen):
            raise ValueError("every federated issuer must be distinct, and not Bastion's own")
        return self

    def federated(self, issuer: str) -> FederatedIssuerConfig | None:
        return next((f for f in self.federation if f.issuer == issuer), None)


def load_identity_config(ws: Workspace) -> IdentityConfig:
    """``<home>/identity.yaml`` validated, or the defaults when there is none."""
    path = ws.settings.home / CONFIG_FILE
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return IdentityConfig()
    return load_document(text, IdentityConfig, what=str(path), max_bytes=MAX_CONFIG_BYTES)
