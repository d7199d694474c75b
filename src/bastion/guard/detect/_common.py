"""Pieces the detection stages share: ATLAS technique ids, feature vectors, state keys."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from bastion.core.errors import InputError
from bastion.guard.detect._ladder import ResponseLadder
from bastion.guard.interface import GuardRequest

__all__ = [
    "ATLAS_ADVERSARIAL_DATA",
    "ATLAS_EXFIL_INFERENCE_API",
    "ATLAS_EXTRACT_MODEL",
    "ATLAS_INFERENCE_API_ACCESS",
    "MAX_FEATURES",
    "TECHNIQUE_NAMES",
    "client_key",
    "feature_vector",
    "positive",
    "positive_int",
]

#: MITRE ATLAS ids (names as in ATLAS 5.x; copied here, never read at run time)
ATLAS_EXFIL_INFERENCE_API = "AML.T0024"
ATLAS_EXTRACT_MODEL = "AML.T0024.002"
ATLAS_INFERENCE_API_ACCESS = "AML.T0040"
ATLAS_ADVERSARIAL_DATA = "AML.T0043"

TECHNIQUE_NAMES: dict[str, str] = {
    ATLAS_EXFIL_INFERENCE_API: "Exfiltration via AI Inference API",
    ATLAS_EXTRACT_MODEL: "Extract AI Model",
    ATLAS_INFERENCE_API_ACCESS: "AI Model Inference API Access",
    ATLAS_ADVERSARIAL_DATA: "Craft Adversarial Data",
}

#: the longest feature vector a detector keeps (wider inputs are refused, never truncated);
#: one stored float32 vector then fits the state store's 64 KiB value limit
MAX_FEATURES = 16_384


def client_key(endpoint: str, client_id: str) -> str:
    """A fixed-size, key-safe name for one client of one endpoint (ids can be anything)."""
    h = hashlib.sha256(f"{endpoint}\x00{client_id}".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:24]


def endpoint_key(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def feature_vector(request: GuardRequest, max_features: int = MAX_FEATURES) -> NDArray[np.float64]:
    """The request's features as a finite float vector; :class:`InputError` when they are
    missing, empty, too wide or not finite numbers."""
    feats = request.features
    if feats is None:
        raise InputError("the request carries no feature vector")
    try:
        x = np.asarray(feats, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError("features: expected numbers") from exc
    if x.ndim != 1 or x.size == 0:
        raise InputError("features: expected a non-empty flat vector")
    if x.size > max_features:
        raise InputError(f"features: more than {max_features} values")
    if not np.isfinite(x).all():
        raise InputError("features: values must be finite numbers")
    return x


def positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name}: expected a positive number, got {value}")
    return float(value)


def positive_int(name: str, value: int, lo: int = 1, hi: int = 10_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InputError(f"{name}: expected an integer in {lo}..{hi}, got {value!r}")
    return value


def as_ladder(ladder: ResponseLadder | Mapping[str, object], where: str) -> ResponseLadder:
    """A ladder given as one, or as configuration (``{throttle: 0.1, block: 0.2}``)."""
    if isinstance(ladder, ResponseLadder):
        return ladder
    return ResponseLadder.from_mapping(ladder, where)


def as_scale(scale: Sequence[float] | None) -> NDArray[np.float64] | None:
    if scale is None:
        return None
    s = np.asarray(scale, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or not np.isfinite(s).all() or (s <= 0).any():
        raise InputError("scale: expected positive finite numbers, one per feature")
    return s
