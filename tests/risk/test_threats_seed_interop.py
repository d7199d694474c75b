"""The risk room reads the threats room's findings as they are: objects or their JSON."""

from __future__ import annotations

from bastion.manifest import load_manifest
from bastion.risk import scenarios_from_threats
from bastion.threats import model_threats
from tests.conftest import EXAMPLE_MANIFEST


def test_scenarios_seed_from_real_threat_findings() -> None:
    manifest = load_manifest(EXAMPLE_MANIFEST)
    model = model_threats(manifest)
    open_findings = [f for f in model.findings if f.open]
    assert open_findings
    from_objects = scenarios_from_threats(manifest, open_findings)
    from_json = scenarios_from_threats(manifest, [f.to_dict() for f in open_findings])
    assert [s.id for s in from_objects.scenarios] == [s.id for s in from_json.scenarios]
    assert len(from_objects.scenarios) == len(open_findings)
    # Privacy threats on restricted applicant data carry per-record secondary losses.
    inversion = next(s for s in from_objects.scenarios if "AI-INVERSION" in s.id.upper())
    assert inversion.secondary_loss is not None
