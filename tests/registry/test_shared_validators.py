"""A gate policy's inline evidence requirement validates its fields with the compliance
room's validators (the room that owns controls), not a second copy (issue 13 tidy-house)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bastion.compliance import Control
from bastion.core.errors import InputError
from bastion.registry._policy import ApprovalRequirement, EvidenceRequirement

_SHARED = ("verdicts", "max_age", "where", "producers")


def test_finding_13_evidence_requirement_shares_the_control_validators() -> None:
    for name in _SHARED:
        ours = EvidenceRequirement.model_fields[name].metadata
        theirs = Control.model_fields[name].metadata
        assert ours and ours == theirs, name
    assert (
        ApprovalRequirement.model_fields["max_age"].metadata
        == Control.model_fields["attestation_max_age"].metadata
    )
    # No validator methods of its own for those fields.
    own = EvidenceRequirement.__pydantic_decorators__.field_validators
    assert not any(set(d.info.fields) & set(_SHARED) for d in own.values())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("verdicts", ["error"], "verdicts must be non-empty and may not include error"),
        ("verdicts", [], "verdicts must be non-empty"),
        ("producers", ["bad actor!"], "producer 'bad actor!' must be a role name"),
    ],
)
def test_finding_13_requirement_and_control_refuse_the_same(
    field: str, value: object, message: str
) -> None:
    for build in (
        lambda: EvidenceRequirement.model_validate({"kind": "integrity.scan", field: value}),
        lambda: Control.model_validate({"id": "c.one", "check": "integrity.scan", field: value}),
    ):
        with pytest.raises(ValidationError, match=message):
            build()


def test_finding_13_bad_durations_and_conditions_fail_in_both() -> None:
    for build in (EvidenceRequirement, Control):
        base = (
            {"kind": "integrity.scan"}
            if build is EvidenceRequirement
            else {"id": "c.one", "check": "x.yz"}
        )
        with pytest.raises((InputError, ValidationError)):
            build.model_validate({**base, "max_age": "soon"})
        with pytest.raises((InputError, ValidationError)):
            build.model_validate({**base, "where": ["nonsense"]})
        ok = build.model_validate({**base, "max_age": "7d", "where": ["data.count == 0"]})
        assert ok.max_age_delta is not None and len(ok.conditions) == 1
    with pytest.raises((InputError, ValidationError)):
        ApprovalRequirement.model_validate({"kind": "legal_review", "max_age": "soon"})


def test_finding_13_requirement_is_described_as_its_control() -> None:
    req = EvidenceRequirement.model_validate(
        {
            "kind": "integrity.scan",
            "verdicts": ["pass", "warn"],
            "max_severity": "medium",
            "max_age": "7d",
            "where": ["data.count == 0"],
            "producers": ["security"],
        }
    )
    line = (
        "integrity.scan on the model, verdict pass/warn, no finding above medium, "
        "at most 7d old, data.count == 0, produced by security"
    )
    assert req.describe() == line and req.to_control().describe() == line
    assert req.to_control().anonymous and req.to_control().title == line
    titled = EvidenceRequirement.model_validate({"kind": "integrity.scan", "title": "Scanned"})
    assert titled.describe() == "Scanned" == titled.to_control().describe()
