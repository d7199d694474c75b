"""Regression tests for the scanner findings of the security review (issue 14: findings 2,
5, 9, 13 and 14), each named after its finding. Samples are built with the real libraries
(pickle, joblib, numpy, torch, scikit-learn); the only things ever loaded are harmless
twins of the payloads (``builtins.len`` in place of ``os.system``), to prove the real
loaders read the bytes the way the scanner now does."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.types import Verdict
from bastion.core.workspace import Workspace
from bastion.integrity import ScanVerdict, scan_bytes
from bastion.integrity.scanning._pickle import walk_pickles
from bastion.integrity.scanning._policy import shipped_policy
from tests.integrity.scanning.corpus import (
    PROTO0_PREFIXES,
    _torch_zip,
    call_global0,
    joblib_element_size_differential,
    keras_dense,
    keras_layer_config,
    keras_zip,
    review_benign,
    zip_with_symlink,
)

_SYSTEM = b"cos\nsystem\n(S'id'\ntR."
_HARMLESS = b"cbuiltins\nlen\n(S'id'\ntR."  # the same shape, runs nothing


def _verdicts(data: bytes) -> tuple[ScanVerdict, set[str]]:
    r = scan_bytes(data, "m")
    return r.verdict, {f.rule_id for f in r.findings}


# -- finding 2: a protocol 0/1 walk that fails is never "text" ----------------------------


@pytest.mark.parametrize("name", sorted(PROTO0_PREFIXES))
def test_finding_02_proto0_prefixes_cpython_reads_are_walked(name: str) -> None:
    prefix = PROTO0_PREFIXES[name]
    assert pickle.loads(prefix + _HARMLESS) == 2  # CPython reads the prefix and the call
    for data in (prefix + _SYSTEM, _torch_zip(prefix + _SYSTEM)):
        r = scan_bytes(data, "model.pt")
        assert r.verdict is ScanVerdict.DANGEROUS, (name, [f.message for f in r.findings])
        assert "os.system" in {g for f in r.files for g in f.globals}
        assert any(f.format == "pickle" and "os.system" in f.globals for f in r.files)


def test_finding_02_torch_zip_data_pkl_is_a_pickle_not_text() -> None:
    data = _torch_zip(PROTO0_PREFIXES["memo_index_with_space"] + _SYSTEM)
    r = scan_bytes(data, "m.pt")
    (pkl,) = [f for f in r.files if f.path.endswith("archive/data.pkl")]
    assert pkl.format == "pickle" and pkl.verdict is ScanVerdict.DANGEROUS


def test_finding_02_an_import_after_a_parse_failure_is_never_text() -> None:
    """The unpickler fails at the TUPLE (no mark) before the GLOBAL; a walker that
    disagreed anywhere before would hide it. The import is reported, the file is not text."""
    data = b"Vx\nt" + _SYSTEM
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(b"Vx\nt" + _HARMLESS)
    r = scan_bytes(data)
    assert r.files[0].format == "pickle"
    assert r.verdict is ScanVerdict.DANGEROUS
    assert {"pickle.malformed", "pickle.hidden-import", "pickle.dangerous-global"} <= {
        f.rule_id for f in r.findings
    }
    # STACK_GLOBAL after a failure: the names are unknown, the file is an error.
    hidden = b"Vx\nt" + b"Vos\nVsystem\n\x93."
    v, rules = _verdicts(hidden)
    assert v is ScanVerdict.ERROR and "pickle.hidden-import" in rules


def test_finding_02_walker_limits_are_errors_never_text() -> None:
    data = b"(" * 3_000 + _SYSTEM
    res = walk_pickles(data, max_items=1_000)
    assert res.limited and res.is_pickle  # a limit is never "not a pickle"
    assert [i.kind for i in res.issues] == ["limit"]


def test_finding_02_memo_indexes_are_read_as_cpython_reads_them() -> None:
    for line, ok in (
        (b" 0", True),
        (b"+0", True),
        (b"0_0", True),
        (b"0 \r", True),
        (b"0\x00x", True),
        (b"-1", False),
        (b"0x", False),
        (b"", False),
    ):
        data = b"Vx\np" + line + b"\n0g0\n."
        try:
            pickle.loads(data)
            cpython = True
        except Exception:
            cpython = False
        assert cpython is ok, line
        res = walk_pickles(data + b"")
        assert (res.pickles == 1 and not res.issues) or not ok, line
        # and with an import behind it, the walk never stops short of it
        v, _ = _verdicts(b"Vx\np" + line + b"\n0" + _SYSTEM)
        assert v is ScanVerdict.DANGEROUS, line


def test_finding_02_string_operands_are_escape_decoded() -> None:
    """S'o\\x73' is "os" to the unpickler: STACK_GLOBAL resolves to os.system."""
    data = b"S'o\\x73'\nS'system'\n\x93(S'id'\ntR."
    assert pickle.loads(data.replace(b"o\\x73'\nS'system", b"builtin\\x73'\nS'len")) == 2
    r = scan_bytes(data)
    assert "os.system" in r.files[0].globals and r.verdict is ScanVerdict.DANGEROUS


def test_finding_02_text_files_stay_text() -> None:
    for data in (
        b"MIT License\n\nCopyright (c) 2026\n",
        b"[PAD]\n[UNK]\ntacos\nburrito\n",
        b"# Model card\n\nlicense: mit\n",
        b"Model card\n==========\nVersion 2\n",
    ):
        r = scan_bytes(data)
        assert r.verdict is ScanVerdict.SAFE and r.files[0].format in ("text", "json"), data


_OPERAND_LINE = st.one_of(
    st.text(alphabet="abcxyz019 '\"_+-\\", max_size=12).map(str.encode),
    st.just(b"A" * 70_000),
)
_MEMO = st.sampled_from([b"0", b" 1", b"+2", b"0_3", b"4\x00z", b"-0", b"7 "])
_P0_OP = st.one_of(
    st.sampled_from([b"(", b"0", b"1", b"2", b"N", b"R", b"a", b"b", b"d", b"l", b"s", b"t"]),
    st.builds(lambda x: b"I" + str(x).encode() + b"\n", st.integers(-(10**20), 10**20)),
    st.builds(lambda x: b"L" + str(x).encode() + b"L\n", st.integers(-(10**20), 10**20)),
    st.builds(lambda x: b"F" + repr(x).encode() + b"\n", st.floats(allow_nan=False)),
    st.builds(lambda s: b"V" + s + b"\n", _OPERAND_LINE),
    st.builds(lambda s: b"S'" + s.replace(b"\\", b"") + b"'\n", _OPERAND_LINE),
    st.builds(lambda s: b"P" + s + b"\n", _OPERAND_LINE),
    st.builds(lambda m: b"p" + m + b"\n", _MEMO),
    st.builds(lambda m: b"g" + m + b"\n", _MEMO),
    st.builds(lambda k: b"(" * k, st.integers(1, 12_000)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_P0_OP, max_size=12), st.booleans())
def test_finding_02_property_proto0_prefix_then_os_system_is_never_safe(
    ops: list[bytes], in_zip: bool
) -> None:
    """Any run of well-formed protocol 0 opcodes followed by GLOBAL os.system: whether
    the unpickler gets to the GLOBAL or not, the scan never says safe."""
    data = b"".join(ops) + call_global0("os", "system", "id")
    if in_zip:
        data = _torch_zip(data)
    r = scan_bytes(data, "m")
    assert r.verdict is not ScanVerdict.SAFE, [(f.path, f.format) for f in r.files]


# -- finding 5: joblib array bytes skipped as numpy reads them -------------------------------


def test_finding_05_joblib_element_size_differential() -> None:
    import joblib

    evil = joblib_element_size_differential(b"cos\nsystem\n(S'id'\ntR0")
    twin = joblib_element_size_differential(b"cbuiltins\nlen\n(S'id'\ntR0")
    # joblib + numpy read 32 data bytes, then run the opcodes after them
    assert list(joblib.load(io.BytesIO(twin))) == [0.0, 1.0, 2.0, 3.0]
    r = scan_bytes(evil, "m.joblib")
    assert r.verdict is ScanVerdict.DANGEROUS
    assert "os.system" in r.files[0].globals


def test_finding_05_joblib_dtypes_numpy_would_size_differently_are_never_guessed() -> None:
    import joblib
    import numpy as np

    b = io.BytesIO()
    joblib.dump(np.arange(4.0), b)
    data = b.getvalue()
    # the dtype built by something other than numpy.dtype: the size would be a guess
    other = data.replace(b"\x8c\x05dtype\x94h\x06", b"\x8c\x05dtype\x94\x8c\x08builtins")
    assert other != data
    assert scan_bytes(other).verdict is not ScanVerdict.SAFE
    # a descriptor numpy does not write
    odd = data.replace(b"\x8c\x02f8", b"\x8c\x02f3")
    v, rules = _verdicts(odd)
    assert v is ScanVerdict.ERROR and "pickle.malformed" in rules
    # flexible kinds: numpy takes the state's element size, so does the walker
    for arr in (np.array(["ab", "cde"]), np.array([b"x", b"yz"]), np.zeros(2, dtype="V3")):
        b = io.BytesIO()
        joblib.dump(arr, b)
        assert scan_bytes(b.getvalue()).verdict is ScanVerdict.SAFE, arr.dtype


def test_finding_05_joblib_state_keys_that_cannot_be_followed_are_errors() -> None:
    import joblib
    import numpy as np

    b = io.BytesIO()
    joblib.dump(np.arange(4.0), b)
    data = b.getvalue()
    # a second "shape" after 64 other keys: the walker cannot keep them all, so it
    # does not trust the first one
    keys = b"".join(b"\x8c\x03k" + bytes([65 + i // 26, 65 + i % 26]) + b"N" for i in range(70))
    hidden = data.replace(b"\x8c\x0aallow_mmap", keys + b"\x8c\x0aallow_mmap")
    assert hidden != data
    assert scan_bytes(hidden).verdict is ScanVerdict.ERROR


# -- finding 9: Keras keras.* references ------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "rule", "verdict"),
    [
        (
            {"module": "keras.utils", "class_name": "function", "config": "get_file"},
            "keras.dangerous-import",
            "dangerous",
        ),
        (
            {
                "module": "keras.src.utils.file_utils",
                "class_name": "function",
                "config": "get_file",
            },
            "keras.dangerous-import",
            "dangerous",
        ),
        (
            {"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/m"}},
            "keras.dangerous-import",
            "dangerous",
        ),
        (
            {"module": None, "class_name": "Dense", "registered_name": "x>TFSMLayer"},
            "keras.dangerous-import",
            "dangerous",
        ),
        (
            {"module": "keras.layers", "class_name": "TorchModuleWrapper", "config": {}},
            "keras.dangerous-import",
            "dangerous",
        ),
        (
            {
                "module": "keras.config",
                "class_name": "function",
                "config": "enable_unsafe_deserialization",
            },
            "keras.dangerous-import",
            "dangerous",
        ),
        (
            {"module": "keras.src.layers.core.dense", "class_name": "Weird", "config": {}},
            "keras.unknown-object",
            "suspicious",
        ),
        (
            {
                "module": "keras.layers",
                "class_name": "StringLookup",
                "config": {"vocabulary": "/v"},
            },
            "keras.file-reference",
            "suspicious",
        ),
        (
            {"module": "builtins", "class_name": "function", "config": "exec"},
            "keras.dangerous-import",
            "dangerous",
        ),
    ],
)
def test_finding_09_keras_references_are_checked(
    node: dict[str, object], rule: str, verdict: str
) -> None:
    for data in (
        keras_zip(keras_layer_config(node)),  # .keras config.json
        b"\x89HDF\r\n\x1a\n"
        + b"\x00" * 32
        + __import__("json")
        .dumps(keras_layer_config(node))
        .encode(),  # a legacy .h5 model_config attribute
    ):
        found = [f for f in scan_bytes(data, "m.keras").findings if f.rule_id == rule]
        assert found and found[0].verdict.value == verdict, node


def test_finding_09_ordinary_keras_models_stay_safe() -> None:
    r = scan_bytes(keras_zip(keras_layer_config(keras_dense())), "m.keras")
    assert r.verdict is ScanVerdict.SAFE, [f.message for f in r.findings]
    gelu = {"module": "builtins", "class_name": "function", "config": "gelu"}
    dense = keras_dense() | {"config": {"name": "d", "units": 1, "activation": gelu}}
    assert scan_bytes(keras_zip(keras_layer_config(dense))).verdict is ScanVerdict.SAFE


def test_finding_09_keras_allowlist_never_names_a_loader() -> None:
    policy = shipped_policy()
    assert "keras.layers.Dense" in policy.keras_allow
    for bad in ("Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"):
        assert not any(q.rsplit(".", 1)[1] == bad for q in policy.keras_allow)
    assert policy.classify("keras.utils", "get_file")[0] is ScanVerdict.DANGEROUS


# -- finding 13: zip members that are symbolic links -----------------------------------------


def test_finding_13_zip_symlink_member_is_flagged() -> None:
    r = scan_bytes(zip_with_symlink("model/weights.bin", b"/etc/passwd"), "m.zip")
    links = [f for f in r.findings if f.rule_id == "archive.link"]
    assert links and "symbolic link" in links[0].message
    assert r.verdict is ScanVerdict.SUSPICIOUS
    # torch reads a linked data.pkl as a file: its bytes are still scanned
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as zf:
        info = zipfile.ZipInfo("archive/data.pkl")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, call_global0("os", "system", "id"))
    r = scan_bytes(b.getvalue(), "m.pt")
    assert {"archive.link", "pickle.dangerous-global"} <= {f.rule_id for f in r.findings}
    assert r.verdict is ScanVerdict.DANGEROUS


# -- finding 14: false positives ---------------------------------------------------------------


def test_finding_14_false_positives_are_safe() -> None:
    samples = review_benign()
    for name in (
        "torch_sparse_coo",
        "torch_sparse_coo_legacy",
        "torch_sparse_csr",
        "torch_float8_e4m3fn",
        "torch_float8_e5m2_legacy",
        "torch_uint16",
        "torch_uint16_legacy",
        "sklearn_lasso_pickle",
        "sklearn_isolation_forest_joblib",
        "sklearn_column_transformer_pickle",
        "sklearn_tfidf_joblib",
        "sklearn_grid_search_pickle",
        "sklearn_grid_search_joblib",
    ):
        r = scan_bytes(samples[name], name)
        assert r.verdict is ScanVerdict.SAFE, (name, [f.message for f in r.findings])
    for name, data in samples.items():
        assert scan_bytes(data, name).verdict is ScanVerdict.SAFE, name


def test_finding_14_torch_globals_are_exactly_the_weights_only_ones() -> None:
    """Allowed torch globals = what torch.load(weights_only=True) allows, nothing more."""
    from torch._weights_only_unpickler import _get_allowed_globals

    torch_allowed = {k for k in _get_allowed_globals() if k.startswith("torch")}
    ours = {g for g in shipped_policy().allow if g.startswith("torch")}
    assert ours == torch_allowed
    # the one torch.serialization name it allows is safe; the module stays dangerous
    policy = shipped_policy()
    assert policy.classify("torch.serialization", "_get_layout")[0] is ScanVerdict.SAFE
    assert policy.classify("torch.serialization", "load")[0] is ScanVerdict.DANGEROUS


def test_finding_14_malicious_corpus_still_flagged(evil: dict[str, bytes], tmp_path: Path) -> None:
    for name, data in evil.items():
        assert scan_bytes(data, name).verdict is not ScanVerdict.SAFE, name


def test_finding_02_api_upload_of_a_torch_zip_is_dangerous_not_pass(ws: Workspace) -> None:
    """Through POST /models/scan: the torch zip with the protocol 0 prefix was recorded
    as PASS; now the report is dangerous and the evidence fails."""
    client = TestClient(create_app(ws.settings, workspace=ws))
    writer = create_token(ws, name="w", role=Role.ENGINEER).token
    body = _torch_zip(PROTO0_PREFIXES["memo_index_with_space"] + _SYSTEM)
    r = client.post(
        "/api/v1/models/scan?name=model.pt",
        content=body,
        headers={"Authorization": f"Bearer {writer}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "dangerous"
    assert ws.evidence.get(r.json()["evidence"]).verdict is Verdict.FAIL
