"""The robustness room's feature-squeezing detector as a guard stage.

:class:`~bastion.robustness.FeatureSqueezingDetector` (Xu et al. 2018) scores one input by
how far the model's probabilities move when the input is squeezed; this adapter calls it
per request and maps "above the calibrated threshold" to a verdict. It is not a second
detector: calibration (``fit``), squeezers and scoring all stay in the robustness room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bastion.core.errors import BastionError, InputError
from bastion.guard.detect._common import ATLAS_ADVERSARIAL_DATA, feature_vector
from bastion.guard.interface import GuardRequest, StageResult, Verdict

if TYPE_CHECKING:
    from bastion.robustness import FeatureSqueezingDetector

__all__ = ["SqueezingDetector"]


class SqueezingDetector:
    """Adversarial-input detection per request (an InputDetector) over a calibrated
    :class:`~bastion.robustness.FeatureSqueezingDetector`.

    Score: the squeezing score (largest L1 distance between probability vectors, in
    [0, 2]); above the detector's threshold the verdict is ``on_detect`` (BLOCK by
    default). A detector that cannot score (wrong shape, the model fails) fails closed."""

    def __init__(
        self,
        detector: FeatureSqueezingDetector,
        *,
        on_detect: Verdict = Verdict.BLOCK,
        name: str = "feature_squeezing",
    ) -> None:
        if detector.threshold is None:
            raise InputError("feature squeezing: calibrate the detector (fit) before use")
        if not isinstance(on_detect, Verdict) or on_detect is Verdict.ALLOW:
            raise InputError("feature squeezing: on_detect must be a verdict above ALLOW")
        self.detector = detector
        self.on_detect = on_detect
        self.name = name

    def inspect(self, request: GuardRequest) -> StageResult:
        if request.features is None:
            return StageResult(self.name, reasons=("no feature vector: not applicable",))
        try:
            x = feature_vector(request)
            score = float(self.detector.score(x[np.newaxis, :])[0])
        except BastionError as exc:
            return StageResult(
                self.name, self.on_detect, 2.0, (f"refused: {exc.message}",),
                (ATLAS_ADVERSARIAL_DATA,),
            )  # fmt: skip
        threshold = float(self.detector.threshold or 0.0)
        if score > threshold:
            return StageResult(
                self.name,
                self.on_detect,
                score,
                (
                    f"squeezing score {score:.4f} above the calibrated threshold {threshold:.4f}",
                    "the prediction moves when the input is squeezed: adversarial input suspected",
                ),
                (ATLAS_ADVERSARIAL_DATA,),
            )
        return StageResult(
            self.name, Verdict.ALLOW, score, (f"squeezing score {score:.4f} <= {threshold:.4f}",)
        )
