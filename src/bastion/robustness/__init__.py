"""Adversarial robustness: targets, evasion attacks, robustness metrics, certification.

Targets (:class:`TorchTarget`, :class:`SklearnTarget`, :class:`OnnxTarget`) declare what
they support; :func:`load_target` loads a model file only when the integrity scanner calls
it safe. :func:`evaluate` runs FGSM, PGD (L-inf, L2) or the Square attack over an epsilon
grid and checks its own validity; :func:`certify` is randomized-smoothing certification.
:class:`FeatureSqueezingDetector` flags adversarial inputs at inference time; the defenses
(:func:`adversarial_training`, :func:`purified`, :func:`randomized`, :func:`distilled`,
:func:`pruned`) each return a new target, and :func:`compare_defenses` sets them side by side.
:func:`membership_inference` (loss threshold, LiRA offline) and :func:`attribute_inference`
measure what a model leaks about its training data (``robustness.membership``);
:func:`backdoor_poison`, :func:`flip_labels` and their detectors
(:func:`activation_clustering`, :func:`spectral_signatures`) poison a training set and
find the poison; :func:`extract_model` steals a model through its answers;
:func:`invert_classes` reconstructs each class from the model's gradients.
:class:`RobustnessCheck` (``robustness.evaluation``) records it all as evidence.

The names that need torch, onnxruntime or matplotlib are imported on first use, so that
registering the check (every workspace does) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bastion.robustness._checks import (
    CertificationSummary,
    DefensesCheck,
    DefensesData,
    MembershipCheck,
    MembershipData,
    RobustnessCheck,
    RobustnessData,
    evaluation_from_params,
    judge,
)
from bastion.robustness.interface import (
    ATTACKS,
    AttackSpec,
    Capability,
    CertificationResult,
    CertifySpec,
    CurvePoint,
    FeatureConstraints,
    Norm,
    RobustnessError,
    Target,
    ValidityResult,
)

if TYPE_CHECKING:
    from bastion.robustness._attacks import AttackOutcome, auto_batch_size, run_attack
    from bastion.robustness._charts import curve_svg, radius_svg
    from bastion.robustness._compare import (
        CompareSpec,
        DefenseComparison,
        DefenseRow,
        compare_defenses,
        compare_from_files,
        compare_model_file,
        compare_wrappers,
        comparison_verdict,
        mlp,
        record_comparison,
    )
    from bastion.robustness._data import Dataset, load_dataset
    from bastion.robustness._defenses import (
        DistilledTarget,
        PurifiedTarget,
        RandomizedTarget,
        TrainSpec,
        adversarial_training,
        distilled,
        pruned,
        purified,
        randomized,
        train_classifier,
    )
    from bastion.robustness._detect import (
        Binning,
        BitDepth,
        DetectorCalibration,
        FeatureSqueezingDetector,
        MedianSmoothing,
        Rounding,
        Squeezer,
        default_squeezers,
        squeezer_from_config,
    )
    from bastion.robustness._evaluate import EvaluationReport, eps_key, evaluate, prepare_data
    from bastion.robustness._extraction import (
        ExtractionPoint,
        ExtractionReport,
        extract_model,
        extraction_from_files,
        mlp_surrogate,
    )
    from bastion.robustness._inversion import InversionResult, invert_classes
    from bastion.robustness._membership import (
        FPR_TARGETS,
        AttributeInferenceResult,
        DpGuarantee,
        MembershipReport,
        ShadowPlan,
        attribute_inference,
        dp_guarantee,
        lira_offline_scores,
        loss_scores,
        membership_from_params,
        membership_inference,
        membership_verdict,
        plan_shadow_models,
        sklearn_trainer,
    )
    from bastion.robustness._poisoning import (
        DetectionResult,
        FeatureTrigger,
        PatchTrigger,
        PoisoningReport,
        activation_clustering,
        activations,
        attack_success_rate,
        backdoor_poison,
        flip_labels,
        poisoning_exercise,
        poisoning_from_files,
        spectral_signatures,
    )
    from bastion.robustness._smoothing import certify, clopper_pearson_lower
    from bastion.robustness._targets import (
        LoadedModel,
        OnnxTarget,
        SklearnTarget,
        TorchTarget,
        load_target,
    )

_LAZY = {
    "DetectionResult": "_poisoning",
    "FeatureTrigger": "_poisoning",
    "PatchTrigger": "_poisoning",
    "activation_clustering": "_poisoning",
    "activations": "_poisoning",
    "attack_success_rate": "_poisoning",
    "backdoor_poison": "_poisoning",
    "flip_labels": "_poisoning",
    "spectral_signatures": "_poisoning",
    "ExtractionPoint": "_extraction",
    "ExtractionReport": "_extraction",
    "extract_model": "_extraction",
    "InversionResult": "_inversion",
    "invert_classes": "_inversion",
    "extraction_from_files": "_extraction",
    "PoisoningReport": "_poisoning",
    "poisoning_exercise": "_poisoning",
    "poisoning_from_files": "_poisoning",
    "mlp_surrogate": "_extraction",
    "FPR_TARGETS": "_membership",
    "AttributeInferenceResult": "_membership",
    "DpGuarantee": "_membership",
    "MembershipReport": "_membership",
    "ShadowPlan": "_membership",
    "attribute_inference": "_membership",
    "dp_guarantee": "_membership",
    "lira_offline_scores": "_membership",
    "loss_scores": "_membership",
    "membership_from_params": "_membership",
    "membership_inference": "_membership",
    "membership_verdict": "_membership",
    "plan_shadow_models": "_membership",
    "sklearn_trainer": "_membership",
    "CompareSpec": "_compare",
    "DefenseComparison": "_compare",
    "DefenseRow": "_compare",
    "compare_defenses": "_compare",
    "compare_from_files": "_compare",
    "compare_model_file": "_compare",
    "compare_wrappers": "_compare",
    "comparison_verdict": "_compare",
    "record_comparison": "_compare",
    "mlp": "_compare",
    "DistilledTarget": "_defenses",
    "PurifiedTarget": "_defenses",
    "RandomizedTarget": "_defenses",
    "TrainSpec": "_defenses",
    "adversarial_training": "_defenses",
    "distilled": "_defenses",
    "purified": "_defenses",
    "pruned": "_defenses",
    "randomized": "_defenses",
    "train_classifier": "_defenses",
    "AttackOutcome": "_attacks",
    "auto_batch_size": "_attacks",
    "run_attack": "_attacks",
    "curve_svg": "_charts",
    "radius_svg": "_charts",
    "Dataset": "_data",
    "load_dataset": "_data",
    "BitDepth": "_detect",
    "Binning": "_detect",
    "DetectorCalibration": "_detect",
    "FeatureSqueezingDetector": "_detect",
    "MedianSmoothing": "_detect",
    "Rounding": "_detect",
    "Squeezer": "_detect",
    "default_squeezers": "_detect",
    "squeezer_from_config": "_detect",
    "EvaluationReport": "_evaluate",
    "eps_key": "_evaluate",
    "evaluate": "_evaluate",
    "prepare_data": "_evaluate",
    "certify": "_smoothing",
    "clopper_pearson_lower": "_smoothing",
    "LoadedModel": "_targets",
    "OnnxTarget": "_targets",
    "SklearnTarget": "_targets",
    "TorchTarget": "_targets",
    "load_target": "_targets",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bastion.robustness.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ATTACKS",
    "FPR_TARGETS",
    "AttackOutcome",
    "AttackSpec",
    "AttributeInferenceResult",
    "Binning",
    "BitDepth",
    "Capability",
    "CertificationResult",
    "CertificationSummary",
    "CertifySpec",
    "CompareSpec",
    "CurvePoint",
    "Dataset",
    "DefenseComparison",
    "DefenseRow",
    "DefensesCheck",
    "DefensesData",
    "DetectionResult",
    "DetectorCalibration",
    "DistilledTarget",
    "DpGuarantee",
    "EvaluationReport",
    "ExtractionPoint",
    "ExtractionReport",
    "FeatureConstraints",
    "FeatureSqueezingDetector",
    "FeatureTrigger",
    "InversionResult",
    "LoadedModel",
    "MedianSmoothing",
    "MembershipCheck",
    "MembershipData",
    "MembershipReport",
    "Norm",
    "OnnxTarget",
    "PatchTrigger",
    "PoisoningReport",
    "PurifiedTarget",
    "RandomizedTarget",
    "RobustnessCheck",
    "RobustnessData",
    "RobustnessError",
    "Rounding",
    "ShadowPlan",
    "SklearnTarget",
    "Squeezer",
    "Target",
    "TorchTarget",
    "TrainSpec",
    "ValidityResult",
    "activation_clustering",
    "activations",
    "adversarial_training",
    "attack_success_rate",
    "attribute_inference",
    "auto_batch_size",
    "backdoor_poison",
    "certify",
    "clopper_pearson_lower",
    "compare_defenses",
    "compare_from_files",
    "compare_model_file",
    "compare_wrappers",
    "comparison_verdict",
    "curve_svg",
    "default_squeezers",
    "distilled",
    "dp_guarantee",
    "eps_key",
    "evaluate",
    "evaluation_from_params",
    "extract_model",
    "extraction_from_files",
    "flip_labels",
    "invert_classes",
    "judge",
    "lira_offline_scores",
    "load_dataset",
    "load_target",
    "loss_scores",
    "membership_from_params",
    "membership_inference",
    "membership_verdict",
    "mlp",
    "mlp_surrogate",
    "plan_shadow_models",
    "poisoning_exercise",
    "poisoning_from_files",
    "prepare_data",
    "pruned",
    "purified",
    "radius_svg",
    "randomized",
    "record_comparison",
    "run_attack",
    "sklearn_trainer",
    "spectral_signatures",
    "squeezer_from_config",
    "train_classifier",
]
