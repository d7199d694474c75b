"""The system manifest: a YAML description of an AI system, and its precise validation.

``load_manifest`` turns ``system.yaml`` into a frozen :class:`SystemManifest` or raises
:class:`~bastion.core.errors.ManifestError` listing every problem with its line, column
and field path; inventory and threats build on the result.
"""

from bastion.manifest._loader import (
    DEFAULT_MAX_BYTES,
    ManifestProblem,
    load_manifest,
    parse_manifest,
    validate_manifest,
)
from bastion.manifest._schema import (
    API_VERSION,
    SCHEMA_ID,
    Asset,
    AssetKind,
    Authentication,
    AutonomyLevel,
    BoundaryKind,
    Classification,
    DataFlow,
    DecisionImpact,
    Encryption,
    FlowEncryption,
    Hosting,
    HostingEnvironment,
    PiiCategory,
    PropertyValue,
    Protocol,
    SystemInfo,
    SystemManifest,
    TrustBoundary,
    manifest_json_schema,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_BYTES",
    "SCHEMA_ID",
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
    "ManifestProblem",
    "PiiCategory",
    "PropertyValue",
    "Protocol",
    "SystemInfo",
    "SystemManifest",
    "TrustBoundary",
    "load_manifest",
    "manifest_json_schema",
    "parse_manifest",
    "validate_manifest",
]
