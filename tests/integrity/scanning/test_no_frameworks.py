"""The scanner reads ONNX, Keras, torch and numpy files without importing any framework,
and a file it cannot read is never reported safe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bastion.integrity import ScanVerdict, scan_bytes, scan_path
from bastion.integrity.scanning._onnx import looks_onnx, parse_onnx

_CHILD = r"""
import importlib.abc, json, sys
BLOCKED = ("onnx", "onnxruntime", "torch", "keras", "tensorflow", "tf_keras", "h5py",
           "joblib", "sklearn", "numpy", "google.protobuf")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {b.split(".")[0] for b in BLOCKED if "." not in b} or \
                name.startswith("google.protobuf"):
            raise ImportError(f"scanner imported {name}")
        return None

sys.meta_path.insert(0, Block())
from bastion.integrity import scan_path
report = scan_path(__import__("pathlib").Path(sys.argv[1]))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in
                {"onnx", "onnxruntime", "torch", "keras", "tensorflow", "numpy", "joblib"})
print(json.dumps({"files": [[r.path, r.format, r.verdict.value] for r in report.files],
                  "loaded": loaded}))
"""


def test_scanning_imports_no_framework(
    evil: dict[str, bytes], benign: dict[str, bytes], tmp_path: Path
) -> None:
    for name, data in [*evil.items(), *benign.items()]:
        (tmp_path / name).write_bytes(data)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    doc = json.loads(out.stdout)
    assert doc["loaded"] == []
    worst: dict[str, set[str]] = {}
    for path, _, verdict in doc["files"]:
        worst.setdefault(path.split("!")[0], set()).add(verdict)
    for name in evil:
        assert worst[name] != {"safe"}, name
    for name in benign:
        assert worst[name] == {"safe"}, (name, worst[name])
    onnx_files = [p for p, fmt, _ in doc["files"] if fmt == "onnx"]
    assert {"onnx_add", "onnx_custom_op_domain", "bypass_onnx_fields_reordered"} <= set(onnx_files)


def test_bypass_onnx_fields_reordered(evil: dict[str, bytes]) -> None:
    data = evil["bypass_onnx_fields_reordered"]
    assert data[:1] != b"\x08"  # ir_version is not first
    r = scan_bytes(data)
    assert r.files[0].format == "onnx"
    assert [f.rule_id for f in r.findings] == ["onnx.external-data-escape"]
    assert r.verdict is ScanVerdict.DANGEROUS


def test_bypass_onnx_subgraph_external_data(evil: dict[str, bytes]) -> None:
    r = scan_bytes(evil["bypass_onnx_subgraph_external_data"])
    assert r.files[0].format == "onnx"
    assert len(r.findings) == 2  # the then- and the else-branch
    for f in r.findings:
        assert f.rule_id == "onnx.external-data-escape" and "/etc/shadow" in f.message


def test_onnx_wire_parser_agrees_with_onnx(benign: dict[str, bytes]) -> None:
    import onnx

    data = benign["onnx_add"]
    ref = onnx.load_from_string(data)
    info = parse_onnx(data)
    assert info.ir_version == ref.ir_version and info.has_graph
    assert info.opset_domains == [o.domain for o in ref.opset_import]
    assert [(d, op) for d, op, _ in info.node_domains] == [
        (n.domain, n.op_type) for n in ref.graph.node
    ]
    assert [t.name for t in info.tensors] == [t.name for t in ref.graph.initializer]


def test_onnx_truncated_or_corrupt_is_never_safe(benign: dict[str, bytes]) -> None:
    data = benign["onnx_add"]
    assert looks_onnx(data)
    for bad in (data[: len(data) // 2], data[:-3], data[:10] + b"\xff" * 20 + data[30:]):
        assert scan_bytes(bad).verdict is not ScanVerdict.SAFE


def test_pickle_unknown_protocol_6_is_an_error(evil: dict[str, bytes]) -> None:
    r = scan_bytes(evil["pickle_unknown_protocol_6"])
    assert r.verdict is ScanVerdict.ERROR
    assert "unsupported pickle protocol 6" in r.findings[0].message
    assert scan_bytes(b"\x80\x06").verdict is ScanVerdict.ERROR


def test_unrecognised_binary_is_suspicious_and_text_is_safe() -> None:
    r = scan_bytes(bytes(range(256)) * 4, "blob.bin")
    assert r.files[0].format == "unknown"
    assert [f.rule_id for f in r.findings] == ["file.unrecognised"]
    assert r.verdict is ScanVerdict.SUSPICIOUS
    for text in (b"hello\nworld\n", "naïve tokenizer vocab\n".encode(), b"3\n"):
        t = scan_bytes(text)
        assert t.files[0].format == "text" and t.verdict is ScanVerdict.SAFE


def test_safetensors_header_length_with_a_0x80_low_byte_is_not_a_pickle() -> None:
    from tests.integrity.scanning.corpus import _safetensors

    pad = 0
    while True:
        data = _safetensors({"w": ("F32", [1], b"\x00" * 4)}, pad=pad)
        if data[0] == 0x80:
            break
        pad += 8
    r = scan_bytes(data)
    assert r.files[0].format == "safetensors" and r.verdict is ScanVerdict.SAFE


def test_fifo_in_a_model_directory_is_reported_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "w.safetensors").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe")
    r = scan_path(tmp_path)  # would block forever if the FIFO were opened
    (f,) = [f for f in r.findings if f.path == "pipe"]
    assert f.rule_id == "file.special" and "fifo" in f.message
    assert r.verdict is ScanVerdict.SUSPICIOUS
