"""The system manifest's data model: what an AI system is made of and how data moves.

Every model is frozen and forbids unknown fields, so a typo in a manifest is an error
rather than a silently ignored setting. Later rooms (inventory, threats, risk) match on
the enums defined here, so the choices are closed sets, not free text.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bastion.core.errors import NotFoundError
from bastion.manifest._references import check_references, format_path

__all__ = [
    "API_VERSION",
    "JURISDICTION_PATTERN",
    "SCHEMA_ID",
    "SKIP_REFERENCES",
    "SLUG_PATTERN",
    "Asset",
    "AssetKind",
    "Authentication",
    "AutonomyLevel",
    "BoundaryKind",
    "Classification",
    "DataFlow",
    "DecisionImpact",
    "Encryption",
    "FlowEncryption",
    "Hosting",
    "HostingEnvironment",
    "PiiCategory",
    "PropertyValue",
    "Protocol",
    "SystemInfo",
    "SystemManifest",
    "TrustBoundary",
    "manifest_json_schema",
]

API_VERSION = "bastion/v1"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
# ISO 3166-1 alpha-2 (optionally with an ISO 3166-2 subdivision, e.g. US-CA) or a region code.
JURISDICTION_PATTERN = r"^(?:[A-Z]{2}(?:-[A-Z0-9]{1,3})?|EEA|EMEA|APAC|LATAM|GLOBAL)$"
# Validation context key: the loader checks references itself, with line numbers.
SKIP_REFERENCES = "bastion.manifest.skip_references"

_CONFIG = ConfigDict(
    extra="forbid",
    frozen=True,
    validate_by_alias=True,
    validate_by_name=True,
    use_enum_values=False,
)

Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1)]
Jurisdiction = Annotated[str, StringConstraints(pattern=JURISDICTION_PATTERN)]


class Classification(enum.StrEnum):
    """Data classification, least to most sensitive; compare with ``rank``."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"

    @property
    def rank(self) -> int:
        return list(Classification).index(self)

    def at_least(self, other: Classification) -> bool:
        return self.rank >= other.rank


class DecisionImpact(enum.StrEnum):
    """What the system's outputs decide about people; drives EU AI Act style risk tiers."""

    FINANCIAL = "financial"
    LEGAL = "legal"
    EMPLOYMENT = "employment"
    EDUCATION = "education"
    HEALTH = "health"
    SAFETY_CRITICAL = "safety_critical"
    ESSENTIAL_SERVICES = "essential_services"
    LAW_ENFORCEMENT = "law_enforcement"
    REPUTATIONAL = "reputational"
    NONE = "none"


class AutonomyLevel(enum.StrEnum):
    """How much a human stands between the model's output and its effect."""

    HUMAN_IN_THE_LOOP = "human_in_the_loop"
    HUMAN_ON_THE_LOOP = "human_on_the_loop"
    AUTONOMOUS = "autonomous"


class AssetKind(enum.StrEnum):
    """What an asset is; threat rules select on it."""

    MODEL = "model"
    DATASET = "dataset"
    FEATURE_STORE = "feature_store"
    VECTOR_STORE = "vector_store"
    TRAINING_PIPELINE = "training_pipeline"
    INFERENCE_ENDPOINT = "inference_endpoint"
    THIRD_PARTY_MODEL_API = "third_party_model_api"
    AGENT = "agent"
    TOOL = "tool"
    DATA_STORE = "data_store"
    HUMAN_ACTOR = "human_actor"
    EXTERNAL_SERVICE = "external_service"


class PiiCategory(enum.StrEnum):
    """Categories of personal data, aligned with GDPR Art. 4, 9 and 10.

    ``special_category`` marks the Art. 9/10 categories whose processing needs an extra
    legal basis; rules and privacy impact assessments key on it.
    """

    NONE = "none"
    NAME = "name"
    CONTACT = "contact"
    GOVERNMENT_ID = "government_id"
    FINANCIAL = "financial"
    CREDIT_HISTORY = "credit_history"
    EMPLOYMENT = "employment"
    EDUCATION = "education"
    DEMOGRAPHIC = "demographic"
    DATE_OF_BIRTH = "date_of_birth"
    LOCATION = "location"
    ONLINE_IDENTIFIER = "online_identifier"
    BEHAVIORAL = "behavioral"
    COMMUNICATIONS = "communications"
    CHILDREN = "children"
    HEALTH = "health"
    GENETIC = "genetic"
    BIOMETRIC = "biometric"
    RACIAL_ETHNIC_ORIGIN = "racial_ethnic_origin"
    POLITICAL_OPINION = "political_opinion"
    RELIGIOUS_BELIEF = "religious_belief"
    TRADE_UNION_MEMBERSHIP = "trade_union_membership"
    SEX_LIFE_ORIENTATION = "sex_life_orientation"
    CRIMINAL_RECORD = "criminal_record"

    @property
    def special_category(self) -> bool:
        return self in _SPECIAL_PII


_SPECIAL_PII = frozenset(
    {
        PiiCategory.HEALTH,
        PiiCategory.GENETIC,
        PiiCategory.BIOMETRIC,
        PiiCategory.RACIAL_ETHNIC_ORIGIN,
        PiiCategory.POLITICAL_OPINION,
        PiiCategory.RELIGIOUS_BELIEF,
        PiiCategory.TRADE_UNION_MEMBERSHIP,
        PiiCategory.SEX_LIFE_ORIENTATION,
        PiiCategory.CRIMINAL_RECORD,
    }
)


class HostingEnvironment(enum.StrEnum):
    ON_PREM = "on_prem"
    CLOUD = "cloud"
    SAAS = "saas"
    EDGE = "edge"


class Authentication(enum.StrEnum):
    """How callers prove who they are; ``none`` is also the default, so omission is flagged."""

    NONE = "none"
    API_KEY = "api_key"
    OAUTH2 = "oauth2"
    MTLS = "mtls"
    IAM = "iam"
    PASSWORD = "password"
    SSO = "sso"


class Protocol(enum.StrEnum):
    """How a flow moves data; ``internal`` is an in-process call, ``manual`` a human step."""

    HTTPS = "https"
    HTTP = "http"
    GRPC = "grpc"
    SQL = "sql"
    S3 = "s3"
    KAFKA = "kafka"
    AMQP = "amqp"
    MQTT = "mqtt"
    SFTP = "sftp"
    SMTP = "smtp"
    WEBSOCKET = "websocket"
    FILE = "file"
    INTERNAL = "internal"
    MANUAL = "manual"
    OTHER = "other"


class BoundaryKind(enum.StrEnum):
    NETWORK = "network"
    ACCOUNT = "account"
    ORGANIZATION = "organization"
    PROCESS = "process"
    PHYSICAL = "physical"


def _scalar_property(value: Any) -> Any:
    # One clear error instead of one per member of the union below.
    if isinstance(value, bool | int | float | str):
        return value
    raise ValueError("expected a string, number or boolean")


PropertyValue = Annotated[str | int | float | bool, BeforeValidator(_scalar_property)]


def _exclusive_none(values: list[Any], none: Any, what: str) -> list[Any]:
    if none in values and len(values) > 1:
        raise ValueError(f"'none' cannot be combined with other {what}")
    return values


class SystemInfo(BaseModel):
    """Who owns the system, what it is for and how much its decisions matter."""

    model_config = _CONFIG

    id: Slug
    name: Text
    owner: Text
    purpose: Text
    decision_impact: list[DecisionImpact] = Field(min_length=1)
    autonomy_level: AutonomyLevel
    data_sensitivity: Classification
    regulatory_scope: list[Text] = Field(default_factory=list)
    jurisdictions: list[Jurisdiction] = Field(default_factory=list)
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("decision_impact")
    @classmethod
    def _impact_none_alone(cls, v: list[DecisionImpact]) -> list[DecisionImpact]:
        return _exclusive_none(v, DecisionImpact.NONE, "decision impacts")


class Hosting(BaseModel):
    """Where an asset runs; ``region`` matters for data residency rules."""

    model_config = _CONFIG

    environment: HostingEnvironment
    provider: Text | None = None
    region: Text | None = None


class Encryption(BaseModel):
    """Absent means unencrypted: a manifest must claim encryption to get credit for it."""

    model_config = _CONFIG

    at_rest: StrictBool = False
    in_transit: StrictBool = False
    key_management: Text | None = None


class FlowEncryption(BaseModel):
    model_config = _CONFIG

    in_transit: StrictBool = False
    mechanism: Text | None = None


class Asset(BaseModel):
    """One component of the system: a model, a data store, a person, a vendor API..."""

    model_config = _CONFIG

    id: Slug
    kind: AssetKind
    name: Text
    owner: Text
    classification: Classification
    description: str | None = None
    pii_categories: list[PiiCategory] = Field(default_factory=list)
    hosting: Hosting | None = None
    authentication: Authentication = Authentication.NONE
    encryption: Encryption = Field(default_factory=Encryption)
    properties: dict[str, PropertyValue] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("pii_categories")
    @classmethod
    def _pii_none_alone(cls, v: list[PiiCategory]) -> list[PiiCategory]:
        return _exclusive_none(v, PiiCategory.NONE, "PII categories")

    @property
    def has_pii(self) -> bool:
        return any(c is not PiiCategory.NONE for c in self.pii_categories)


class DataFlow(BaseModel):
    """Data moving from one asset to another; the edges of the threat model's graph."""

    model_config = _CONFIG

    id: Slug
    source: Slug
    target: Slug
    protocol: Protocol
    classification: Classification
    data: list[Text] = Field(default_factory=list)
    authentication: Authentication = Authentication.NONE
    encryption: FlowEncryption = Field(default_factory=FlowEncryption)
    description: str | None = None


class TrustBoundary(BaseModel):
    """A zone of shared trust; ``boundaries`` lists the zones nested directly inside."""

    model_config = _CONFIG

    id: Slug
    name: Text
    kind: BoundaryKind
    assets: list[Slug] = Field(default_factory=list)
    boundaries: list[Slug] = Field(default_factory=list)
    description: str | None = None


class SystemManifest(BaseModel):
    """A whole AI system as declared in ``system.yaml``; the root of inventory and threats."""

    model_config = _CONFIG

    api_version: Literal["bastion/v1"] = Field(alias="apiVersion")
    kind: Literal["System"]
    system: SystemInfo
    assets: list[Asset] = Field(default_factory=list)
    flows: list[DataFlow] = Field(default_factory=list)
    boundaries: list[TrustBoundary] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> Self:
        if isinstance(info.context, dict) and info.context.get(SKIP_REFERENCES):
            return self
        problems = check_references(self.model_dump(mode="json", by_alias=True))
        if problems:
            raise ValueError("; ".join(f"{format_path(p.path)}: {p.message}" for p in problems))
        return self

    # -- lookups for the rooms that build on the manifest ---------------------------

    def asset(self, asset_id: str) -> Asset:
        for a in self.assets:
            if a.id == asset_id:
                return a
        raise NotFoundError(f"no asset '{asset_id}' in system '{self.system.id}'")

    def flow(self, flow_id: str) -> DataFlow:
        for f in self.flows:
            if f.id == flow_id:
                return f
        raise NotFoundError(f"no flow '{flow_id}' in system '{self.system.id}'")

    def boundary(self, boundary_id: str) -> TrustBoundary:
        for b in self.boundaries:
            if b.id == boundary_id:
                return b
        raise NotFoundError(f"no trust boundary '{boundary_id}' in system '{self.system.id}'")

    def parent_of(self, boundary_id: str) -> TrustBoundary | None:
        """The boundary that directly contains ``boundary_id``, or None at the top."""
        for b in self.boundaries:
            if boundary_id in b.boundaries:
                return b
        return None

    def boundary_of(self, asset_id: str) -> TrustBoundary | None:
        """The innermost boundary that lists the asset, or None when it sits in none."""
        path = self.boundary_path(asset_id)
        return path[-1] if path else None

    def boundary_path(self, asset_id: str) -> list[TrustBoundary]:
        """Boundaries around the asset, outermost first; empty when it sits in none."""
        best: list[TrustBoundary] = []
        for b in self.boundaries:
            if asset_id in b.assets:
                chain = self._chain(b)
                if len(chain) > len(best):
                    best = chain
        return best

    def _chain(self, boundary: TrustBoundary) -> list[TrustBoundary]:
        chain = [boundary]
        seen = {boundary.id}
        parent = self.parent_of(boundary.id)
        while parent is not None and parent.id not in seen:  # a validated manifest is acyclic
            chain.append(parent)
            seen.add(parent.id)
            parent = self.parent_of(parent.id)
        chain.reverse()
        return chain

    def flows_from(self, asset_id: str) -> list[DataFlow]:
        return [f for f in self.flows if f.source == asset_id]

    def flows_to(self, asset_id: str) -> list[DataFlow]:
        return [f for f in self.flows if f.target == asset_id]

    def boundaries_crossed(self, flow: DataFlow) -> list[TrustBoundary]:
        """Boundaries a flow leaves or enters: those around one end but not the other."""
        src = self.boundary_path(flow.source)
        dst = self.boundary_path(flow.target)
        common = 0
        while common < min(len(src), len(dst)) and src[common].id == dst[common].id:
            common += 1
        return list(reversed(src[common:])) + dst[common:]

    def flows_crossing_boundaries(self) -> list[DataFlow]:
        """Flows whose ends sit in different innermost boundaries: where threats concentrate."""
        return [f for f in self.flows if self.boundaries_crossed(f)]


SCHEMA_ID = "https://bastion.dev/schemas/manifest/bastion-v1.json"


def manifest_json_schema() -> dict[str, Any]:
    """The manifest format as JSON Schema (2020-12), for editors and other tools."""
    schema = SystemManifest.model_json_schema(by_alias=True, mode="validation")
    schema.pop("title", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Bastion system manifest (bastion/v1)",
        **schema,
    }
