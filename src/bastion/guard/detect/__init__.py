"""The guard's detection stages for numeric model endpoints (issue 11 section 3).

- :class:`PradaDetector`: per-client model-extraction detection from the normality of
  query distances (Juuti et al. 2019), ATLAS AML.T0024.002 / AML.T0024 / AML.T0040.
- :class:`BlacklightDetector`: near-duplicate fingerprints of queries across all clients,
  the signature of query-based black-box attacks (Li et al. 2022), AML.T0043 / AML.T0040.
- :class:`SqueezingDetector`: the robustness room's feature-squeezing detector per
  request (Xu et al. 2018), AML.T0043.

Each maps its score to a graduated :class:`~bastion.guard.interface.Verdict` through a
:class:`ResponseLadder` (throttle, coarsen, step-up, block). State lives in a
:class:`~bastion.guard.interface.StateStore`, bounded and expiring.
:mod:`bastion.guard.detect.traffic` plays scripted probing traffic against them.
"""

from __future__ import annotations

from bastion.guard.detect._blacklight import (
    DEFAULT_BLACKLIGHT_LADDER,
    BlacklightDetector,
    fingerprint,
)
from bastion.guard.detect._common import (
    ATLAS_ADVERSARIAL_DATA,
    ATLAS_EXFIL_INFERENCE_API,
    ATLAS_EXTRACT_MODEL,
    ATLAS_INFERENCE_API_ACCESS,
    TECHNIQUE_NAMES,
)
from bastion.guard.detect._ladder import ResponseLadder
from bastion.guard.detect._prada import DEFAULT_PRADA_LADDER, PradaDetector
from bastion.guard.detect._squeeze import SqueezingDetector

__all__ = [
    "ATLAS_ADVERSARIAL_DATA",
    "ATLAS_EXFIL_INFERENCE_API",
    "ATLAS_EXTRACT_MODEL",
    "ATLAS_INFERENCE_API_ACCESS",
    "DEFAULT_BLACKLIGHT_LADDER",
    "DEFAULT_PRADA_LADDER",
    "TECHNIQUE_NAMES",
    "BlacklightDetector",
    "PradaDetector",
    "ResponseLadder",
    "SqueezingDetector",
    "fingerprint",
]
