"""The integrity room shows its parts (issue 13, section 5): ``signing/``, ``scanning/``
and ``supply/`` are sub-packages with a public face, the room re-exports exactly their
names, the room's import graph has no circle (it had ``_checks_signing`` <->
``_provenance`` and ``_signing`` <-> ``_sigstore``), and ``interface`` holds the scanner's
data types and protocol without importing the implementation (it imported ``_scan``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import bastion.integrity
from bastion.integrity import interface, scanning, signing, supply
from tests._imports import cycles, import_graph, modules

ROOM = Path(bastion.integrity.__file__).resolve().parent

#: ``bastion.integrity.__all__`` before the parts became packages: other rooms, the CLI
#: and the API import these, so the move may neither drop nor add one.
ROOM_NAMES = frozenset(
    {
        "AiBom",
        "ArchiveLimits",
        "AttestationCheck",
        "AttestationSummary",
        "load_ca_key",
        "sign_leaf",
        "BomCheck",
        "CYCLONEDX_BOM_PREDICATE",
        "CertificateInfo",
        "DependencyCheck",
        "FileReport",
        "HashAlgorithm",
        "IssuedCertificate",
        "MODEL_CHECKS",
        "MODEL_SIGNATURE_PREDICATE",
        "ManifestEntry",
        "ModelAttestationCheck",
        "ModelIntegrity",
        "ModelManifest",
        "ModelSignCheck",
        "ModelSignatureCheck",
        "OsvDatabase",
        "OsvRecord",
        "PackageVersion",
        "PkiInfo",
        "RULES",
        "SCAN_VERDICT_PREDICATE",
        "SIGNING_CHECKS",
        "SLSA_PROVENANCE_V1",
        "ScanCheck",
        "ScanData",
        "ScanFinding",
        "ScanReport",
        "ScanRule",
        "ScanSummary",
        "ScanVerdict",
        "SignResult",
        "SignatureData",
        "SigningKey",
        "TimeMode",
        "TrainingRun",
        "VerificationPolicy",
        "VerifiedSignature",
        "VerifyResult",
        "VulnerabilityMatch",
        "attest",
        "attestation_public_key",
        "build_ai_bom",
        "bundled_osv_database",
        "cvss3_base_score",
        "dependencies_sarif",
        "generate_ai_bom",
        "hash_model",
        "installed_packages",
        "issue_certificate",
        "latest_model_evidence",
        "list_certificates",
        "load_allowlist",
        "load_osv_database",
        "load_policy",
        "load_public_key",
        "load_signing_key",
        "match_packages",
        "model_integrity",
        "pki_init",
        "read_requirements",
        "read_sbom",
        "record_attest_bom",
        "record_attest_scan",
        "record_attest_scan_upload",
        "record_attest_training",
        "record_attestation_check",
        "record_pki_init",
        "record_pki_issue",
        "record_scan",
        "record_scan_upload",
        "record_sign",
        "record_verify",
        "scan_bytes",
        "scan_dependencies",
        "scan_path",
        "sign_model",
        "signed_manifest",
        "signing_evidence",
        "slsa_training_predicate",
        "system_ai_bom",
        "to_sarif",
        "upload_digest",
        "verify_attestation",
        "verify_model",
    }
)


def _modules() -> dict[str, Path]:
    return modules(bastion.integrity)


def _import_graph() -> dict[str, set[str]]:
    """Every import of an integrity module by an integrity module, top level or deferred."""
    return import_graph(bastion.integrity)


def test_issue13_integrity_import_graph_has_no_circle() -> None:
    edges = _import_graph()
    assert "bastion.integrity.signing._checks" in edges  # the graph covers the parts
    assert "bastion.integrity.signing._provenance" in edges["bastion.integrity.signing._checks"]
    assert cycles(edges) == []


def test_issue13_provenance_does_not_import_the_checks() -> None:
    # The piece both needed (TrainingRun, which attests and then records evidence) sits
    # above both of them now.
    edges = _import_graph()
    assert "bastion.integrity.signing._checks" not in edges["bastion.integrity.signing._provenance"]
    assert edges["bastion.integrity.signing._training"] >= {
        "bastion.integrity.signing._checks",
        "bastion.integrity.signing._provenance",
    }


@pytest.mark.parametrize("part", [signing, scanning, supply])
def test_issue13_parts_have_an_explicit_public_face(part: object) -> None:
    init = Path(part.__file__)  # type: ignore[attr-defined]
    tree = ast.parse(init.read_text(encoding="utf-8"))
    (names,) = [
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign) and [getattr(t, "id", None) for t in n.targets] == ["__all__"]
    ]
    assert isinstance(names, ast.List)  # a literal list, not built from other modules
    listed = [e.value for e in names.elts if isinstance(e, ast.Constant)]
    assert listed == part.__all__  # type: ignore[attr-defined]
    assert len(set(listed)) == len(listed)
    for name in listed:
        assert not name.startswith("_")
        assert getattr(part, name) is getattr(bastion.integrity, name)


def test_issue13_room_reexports_exactly_its_parts() -> None:
    room = set(bastion.integrity.__all__)
    assert len(room) == len(bastion.integrity.__all__)
    assert room == ROOM_NAMES
    assert set(signing.__all__) <= room
    assert set(supply.__all__) <= room
    assert set(scanning.__all__) <= room
    assert not set(signing.__all__) & set(supply.__all__)
    assert not set(scanning.__all__) & (set(signing.__all__) | set(supply.__all__))
    # The check classes other rooms read evidence through stay reachable from the room.
    for name in (
        "ModelSignCheck",
        "ModelSignatureCheck",
        "ModelAttestationCheck",
        "BomCheck",
        "ScanCheck",
    ):
        assert name in room


def test_issue13_checks_register_from_their_parts() -> None:
    from bastion.integrity import _checks

    assert _checks._checks_scanning is importlib.import_module("bastion.integrity.scanning._checks")
    assert _checks._checks_signing is importlib.import_module("bastion.integrity.signing._checks")
    assert _checks._checks_supply is importlib.import_module("bastion.integrity.supply._checks")


def test_issue13_bundled_osv_data_moved_with_supply() -> None:
    db = supply.bundled_osv_database()
    assert db == ROOM / "supply" / "data" / "osv"
    assert sorted(p.name for p in db.glob("*.json"))  # the advisories are there
    assert (db / "NOTICE").is_file()


#: The scanning part's private modules, moved out of the room's flat layout.
SCANNING_MODULES = (
    "_checks",
    "_containers",
    "_formats",
    "_gguf",
    "_onnx",
    "_pickle",
    "_policy",
    "_public",
    "_scan",
    "_scanner",
)


def test_issue13_scanning_is_a_part_and_the_flat_modules_are_gone() -> None:
    mods = _modules()
    for name in SCANNING_MODULES:
        assert f"bastion.integrity.scanning.{name}" in mods
    flat = {p.name for p in ROOM.glob("*.py")}
    assert flat == {
        "__init__.py",
        "_checks.py",
        "_hashing.py",
        "_model_evidence.py",
        "interface.py",
    }
    # The transitional forwarding modules of the signing move are gone too.
    for gone in ("_signing", "_public_signing", "_scan", "_scan_policy", "_public_scanning"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"bastion.integrity.{gone}")


def test_issue13_interface_imports_no_implementation() -> None:
    # The data types and the protocol sit in ``interface``; the implementation imports
    # them from there, never the other way round (deferred imports count too).
    edges = _import_graph()
    assert edges["bastion.integrity.interface"] == set()
    assert "bastion.integrity.interface" in edges["bastion.integrity.scanning._scan"]
    assert "bastion.integrity.interface" in edges["bastion.integrity.scanning._scanner"]
    # The signing part reads the scan report from the interface, not from scanning.
    for name, targets in edges.items():
        if name.startswith("bastion.integrity.signing"):
            assert not any(t.startswith("bastion.integrity.scanning") for t in targets), name


def test_issue13_report_types_are_the_interface_types() -> None:
    for name in ("ScanReport", "FileReport", "ScanFinding", "ScanRule", "ScanVerdict"):
        assert getattr(scanning, name) is getattr(interface, name)
        assert getattr(bastion.integrity, name) is getattr(interface, name)
        assert getattr(interface, name).__module__ == "bastion.integrity.interface"
    assert scanning.ArchiveLimits is interface.ArchiveLimits
    assert scanning.RULES is interface.RULES
    # The shipped scanner satisfies the protocol and is not one of the room's names.
    assert isinstance(scanning.ModelFileScanner(), interface.Scanner)
    assert "ModelFileScanner" not in bastion.integrity.__all__


def test_issue13_scanner_lists_moved_with_scanning() -> None:
    from bastion.integrity.scanning._policy import shipped_policy

    data = ROOM / "scanning" / "data"
    assert sorted(p.name for p in data.glob("*.yaml")) == [
        "allowlist.yaml",
        "denylist.yaml",
        "keras_allowlist.yaml",
    ]
    assert not (ROOM / "data").exists()
    shipped_policy.cache_clear()
    policy = shipped_policy()  # read from the new place
    assert policy.classify("os", "system")[0] is scanning.ScanVerdict.DANGEROUS
    assert policy.classify("collections", "OrderedDict")[0] is scanning.ScanVerdict.SAFE
