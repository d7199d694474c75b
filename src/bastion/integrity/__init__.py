"""Model integrity and the ML supply chain: hashing, signing, provenance, model-file
scanning, dependency vulnerabilities and the AI bill of materials.

Three parts, each re-exported here: ``signing/`` (hashing, signatures, PKI, provenance),
``scanning/`` (model files), ``supply/`` (OSV dependency matching, CycloneDX AI-BOM). Each
part's ``__init__`` is its public face; this module re-exports them. ``interface`` holds the
scanner's data types and protocol.
"""

from bastion.integrity import scanning, signing, supply

# Which evidence speaks for a model (the console and the registry read it from here).
from bastion.integrity._model_evidence import MODEL_CHECKS as MODEL_CHECKS
from bastion.integrity._model_evidence import ModelIntegrity as ModelIntegrity
from bastion.integrity._model_evidence import latest_model_evidence as latest_model_evidence
from bastion.integrity._model_evidence import model_integrity as model_integrity
from bastion.integrity.scanning import *  # noqa: F403
from bastion.integrity.signing import *  # noqa: F403
from bastion.integrity.supply import *  # noqa: F403

_CHECKS = [
    "MODEL_CHECKS",
    "ModelIntegrity",
    "latest_model_evidence",
    "model_integrity",
]
__all__ = [*signing.__all__, *scanning.__all__, *supply.__all__, *_CHECKS]
