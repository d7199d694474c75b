"""The crafted corpus is detected, nothing in it runs, and benign models are safe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bastion.integrity import ScanVerdict, scan_bytes, scan_path
from tests.integrity.scanning.corpus import MARKER_CASES, malicious_corpus


def test_every_malicious_file_is_detected_and_nothing_runs(
    evil: dict[str, bytes], marker: Path, tmp_path: Path
) -> None:
    assert len(evil) >= 60
    for name, data in evil.items():
        (tmp_path / name).write_bytes(data)  # no extension: formats come from content
        report = scan_bytes(data, name)
        assert report.verdict is not ScanVerdict.SAFE, name
    report = scan_path(tmp_path)
    assert {r.path.split("!")[0] for r in report.files if r.verdict is not ScanVerdict.SAFE} == set(
        evil
    )
    assert not marker.exists()


@pytest.mark.parametrize("case", MARKER_CASES)
def test_the_corpus_payloads_are_real(case: str, tmp_path: Path) -> None:
    """Loading the payload (in a child process) does create the marker: the proof above holds."""
    marker = tmp_path / "PWNED"
    data = malicious_corpus(marker)[case]
    (tmp_path / "f").write_bytes(data)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))",
            str(tmp_path / "f"),
        ],
        check=False,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,  # payloads with a short relative command (the tar polyglot) touch here
    )
    assert marker.exists()


def test_benign_models_are_safe(benign: dict[str, bytes]) -> None:
    assert len(benign) >= 18
    for name, data in benign.items():
        report = scan_bytes(data, name)
        assert report.verdict is ScanVerdict.SAFE, (name, [f.message for f in report.findings])


def test_example_models_directory_is_safe(sklearn_model: Path) -> None:
    report = scan_path(sklearn_model)
    formats = {r.format for r in report.files}
    assert {"pickle", "pytorch-zip", "json"} <= formats
    assert report.verdict is ScanVerdict.SAFE


@pytest.mark.parametrize(
    ("case", "rule", "verdict"),
    [
        ("bypass_stack_global_via_memo", "pickle.dangerous-global", "dangerous"),
        ("bypass_stack_global_via_long_binget", "pickle.dangerous-global", "dangerous"),
        ("bypass_stack_global_via_text_get", "pickle.dangerous-global", "dangerous"),
        ("bypass_unresolved_stack_global", "pickle.unresolved-global", "dangerous"),
        ("bypass_bad_crc_zip", "zip.crc-mismatch", "suspicious"),
        ("cve_2025_1944_zip_name_mismatch", "zip.name-mismatch", "suspicious"),
        ("ext1_extension_registry", "pickle.extension-code", "suspicious"),
        ("payload_then_malformed_tail", "pickle.malformed", "error"),
        ("unknown_module_suspicious", "pickle.suspicious-global", "suspicious"),
        ("keras_lambda_layer", "keras.lambda", "dangerous"),
        ("cve_2025_1550_keras_module_function", "keras.dangerous-import", "dangerous"),
        ("onnx_external_data_traversal", "onnx.external-data-escape", "dangerous"),
        ("onnx_custom_op_domain", "onnx.custom-domain", "suspicious"),
        ("npy_object_array", "npy.object-array", "safe"),
    ],
)
def test_bypass_regressions_name_the_rule(
    evil: dict[str, bytes], case: str, rule: str, verdict: str
) -> None:
    found = [f for f in scan_bytes(evil[case], case).findings if f.rule_id == rule]
    assert found, case
    assert found[0].verdict.value == verdict


def test_bypass_stack_global_via_memo_names_global_and_offset(evil: dict[str, bytes]) -> None:
    (f,) = [x for x in scan_bytes(evil["bypass_stack_global_via_memo"]).findings]
    assert f.global_name == "builtins.exec"
    assert f.offset == evil["bypass_stack_global_via_memo"].index(b"\x93")


def test_bypass_torch_legacy_format_finds_the_second_pickle(evil: dict[str, bytes]) -> None:
    r = scan_bytes(evil["bypass_torch_legacy_format"])
    assert r.files[0].format == "pytorch-legacy"
    assert "builtins.exec" in r.files[0].globals


def test_bypass_nonstandard_extension(evil: dict[str, bytes], tmp_path: Path) -> None:
    for ext in ("README.txt", "weights.safetensors", "tokenizer.json", "noext"):
        (tmp_path / ext).write_bytes(evil["bypass_nonstandard_extension_torch_zip"])
    report = scan_path(tmp_path)
    top = [r for r in report.files if "!" not in r.path]
    assert all(r.format == "pytorch-zip" for r in top)
    assert report.verdict is ScanVerdict.DANGEROUS


def test_cve_2025_1945_zip_flag_bits_is_still_read(evil: dict[str, bytes]) -> None:
    r = scan_bytes(evil["cve_2025_1945_zip_flag_bits"])
    assert any(f.global_name == "builtins.exec" for f in r.findings)
