"""Model integrity and the ML supply chain: hashing, signing, provenance, model-file
scanning, dependency vulnerabilities and the AI bill of materials.

Three parts, each re-exported here: signing (hashing, signatures, PKI, provenance),
scanning (model files), supply (OSV dependency matching, CycloneDX AI-BOM).
"""

from bastion.integrity import _public_scanning, _public_signing, _public_supply
from bastion.integrity._public_scanning import *  # noqa: F403
from bastion.integrity._public_signing import *  # noqa: F403
from bastion.integrity._public_supply import *  # noqa: F403

__all__ = [*_public_signing.__all__, *_public_scanning.__all__, *_public_supply.__all__]
