"""Model integrity and the ML supply chain: hashing, signing, provenance, model-file
scanning, dependency vulnerabilities and the AI bill of materials.

Three parts, each re-exported here: ``signing/`` (hashing, signatures, PKI, provenance),
scanning (model files; still flat ``_scan*`` modules), ``supply/`` (OSV dependency matching,
CycloneDX AI-BOM). Each part's ``__init__`` is its public face; this module re-exports them.
"""

from bastion.integrity import _public_scanning, signing, supply

# The check classes (and their typed data) other rooms read evidence through, e.g.
# ``ModelSignatureCheck.read(evidence).certificate_identities``.
from bastion.integrity._checks_scanning import ScanCheck as ScanCheck
from bastion.integrity._checks_scanning import ScanData as ScanData
from bastion.integrity._checks_scanning import ScanSummary as ScanSummary

# Which evidence speaks for a model (the console and the registry read it from here).
from bastion.integrity._model_evidence import MODEL_CHECKS as MODEL_CHECKS
from bastion.integrity._model_evidence import ModelIntegrity as ModelIntegrity
from bastion.integrity._model_evidence import latest_model_evidence as latest_model_evidence
from bastion.integrity._model_evidence import model_integrity as model_integrity
from bastion.integrity._public_scanning import *  # noqa: F403
from bastion.integrity.signing import *  # noqa: F403
from bastion.integrity.supply import *  # noqa: F403

_CHECKS = [
    "MODEL_CHECKS",
    "ModelIntegrity",
    "latest_model_evidence",
    "model_integrity",
    "ScanCheck",
    "ScanData",
    "ScanSummary",
]
__all__ = [*signing.__all__, *_public_scanning.__all__, *supply.__all__, *_CHECKS]
