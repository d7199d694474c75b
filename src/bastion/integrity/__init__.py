"""Model integrity and the ML supply chain: hashing, signing, provenance, model-file
scanning, dependency vulnerabilities and the AI bill of materials.

Three parts, each re-exported here: signing (hashing, signatures, PKI, provenance),
scanning (model files), supply (OSV dependency matching, CycloneDX AI-BOM).
"""

from bastion.integrity import _public_scanning, _public_signing, _public_supply

# The check classes (and their typed data) other rooms read evidence through, e.g.
# ``ModelSignatureCheck.read(evidence).certificate_identities``.
from bastion.integrity._checks_scanning import ScanCheck as ScanCheck
from bastion.integrity._checks_scanning import ScanData as ScanData
from bastion.integrity._checks_scanning import ScanSummary as ScanSummary
from bastion.integrity._checks_signing import ModelAttestationCheck as ModelAttestationCheck
from bastion.integrity._checks_signing import ModelSignatureCheck as ModelSignatureCheck
from bastion.integrity._checks_signing import ModelSignCheck as ModelSignCheck
from bastion.integrity._checks_signing import SignatureData as SignatureData
from bastion.integrity._checks_supply import BomCheck as BomCheck
from bastion.integrity._checks_supply import DependencyCheck as DependencyCheck

# Which evidence speaks for a model (the console and the registry read it from here).
from bastion.integrity._model_evidence import MODEL_CHECKS as MODEL_CHECKS
from bastion.integrity._model_evidence import ModelIntegrity as ModelIntegrity
from bastion.integrity._model_evidence import latest_model_evidence as latest_model_evidence
from bastion.integrity._model_evidence import model_integrity as model_integrity
from bastion.integrity._public_scanning import *  # noqa: F403
from bastion.integrity._public_signing import *  # noqa: F403
from bastion.integrity._public_supply import *  # noqa: F403

_CHECKS = [
    "MODEL_CHECKS",
    "ModelIntegrity",
    "latest_model_evidence",
    "model_integrity",
    "BomCheck",
    "DependencyCheck",
    "ModelAttestationCheck",
    "ModelSignCheck",
    "ModelSignatureCheck",
    "ScanCheck",
    "ScanData",
    "ScanSummary",
    "SignatureData",
]
__all__ = [*_public_signing.__all__, *_public_scanning.__all__, *_public_supply.__all__, *_CHECKS]
