"""Hostile or broken input: each gives one clear, placed problem and never a traceback."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bastion.core.errors import InputError, ManifestError
from bastion.manifest import (
    DEFAULT_MAX_BYTES,
    load_manifest,
    parse_manifest,
    validate_manifest,
)
from tests.manifest.helpers import VALID, edit, only_problem

TOP_LEVEL = "a mapping with apiVersion, kind, system, assets, flows and boundaries"

BILLION_LAUGHS = """\
lol: &lol "lol"
lol1: &lol1 [*lol, *lol, *lol, *lol, *lol, *lol, *lol, *lol, *lol, *lol]
lol2: &lol2 [*lol1, *lol1, *lol1, *lol1, *lol1, *lol1, *lol1, *lol1, *lol1, *lol1]
lol3: &lol3 [*lol2, *lol2, *lol2, *lol2, *lol2, *lol2, *lol2, *lol2, *lol2, *lol2]
lol4: &lol4 [*lol3, *lol3, *lol3, *lol3, *lol3, *lol3, *lol3, *lol3, *lol3, *lol3]
lol5: &lol5 [*lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4, *lol4]
lol6: &lol6 [*lol5, *lol5, *lol5, *lol5, *lol5, *lol5, *lol5, *lol5, *lol5, *lol5]
lol7: &lol7 [*lol6, *lol6, *lol6, *lol6, *lol6, *lol6, *lol6, *lol6, *lol6, *lol6]
lol8: &lol8 [*lol7, *lol7, *lol7, *lol7, *lol7, *lol7, *lol7, *lol7, *lol7, *lol7]
lol9: &lol9 [*lol8, *lol8, *lol8, *lol8, *lol8, *lol8, *lol8, *lol8, *lol8, *lol8]
"""


def test_billion_laughs_is_refused_at_the_first_alias() -> None:
    start = time.perf_counter()
    p = only_problem(BILLION_LAUGHS)
    assert time.perf_counter() - start < 1.0
    assert (p.line, p.column, p.path) == (2, 14, "")
    assert p.message == "YAML alias '*lol' is not allowed in a manifest"


def test_alias_inside_a_manifest_is_refused() -> None:
    text = edit("    owner: team\n    classification: internal\n  - id: model",
                "    owner: &t team\n    classification: internal\n  - id: model")  # fmt: skip
    text = edit("    name: Model\n    owner: team\n", "    name: Model\n    owner: *t\n", text)
    p = only_problem(text)
    assert (p.line, p.column) == (20, 12)


def test_merge_keys_are_refused_as_aliases() -> None:
    p = only_problem("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert (p.line, p.column) == (3, 7)


def test_an_anchor_without_alias_is_harmless() -> None:
    assert parse_manifest(edit("    name: DB\n", "    name: &n DB\n")).assets[0].name == "DB"


def test_oversize_sparse_file_is_refused_without_reading(tmp_path: Path) -> None:
    big = tmp_path / "huge.yaml"
    with big.open("wb") as fh:
        fh.truncate(3 * 1024**3)  # sparse: 3 GiB on paper, nothing on disk
    start = time.perf_counter()
    with pytest.raises(ManifestError) as info:
        load_manifest(big)
    assert time.perf_counter() - start < 0.5
    (p,) = info.value.problems
    assert str(p) == (
        f"{big}:1:1: file is 3.0 GiB, over the size limit; refused without reading it "
        "(expected at most 2.0 MiB)"
    )
    assert validate_manifest(big) == info.value.problems
    assert DEFAULT_MAX_BYTES == 2 * 1024 * 1024


def test_size_limit_is_a_parameter(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    path.write_text(VALID, encoding="utf-8")
    assert validate_manifest(path) == []
    (p,) = validate_manifest(path, max_bytes=100)
    assert "over the size limit" in p.message
    with pytest.raises(ManifestError, match="1 problem"):
        parse_manifest(VALID, max_bytes=100)


def test_endless_device_is_cut_off_by_the_bounded_read() -> None:
    if not os.path.exists("/dev/zero"):  # pragma: no cover
        pytest.fail("/dev/zero is needed for this test")
    (p,) = validate_manifest("/dev/zero", max_bytes=4096)
    assert p.message == "file is at least 4.0 KiB, over the size limit; refused without reading it"


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file") as info:
        validate_manifest(tmp_path / "nope.yaml")
    assert not isinstance(info.value, ManifestError)


def test_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        load_manifest(tmp_path)


def test_non_utf8_bytes() -> None:
    p = only_problem(b"apiVersion: bastion/v1\nkind: Sys\xfftem\n")
    assert (p.line, p.column, p.path) == (2, 10, "")
    assert p.message == "file is not valid UTF-8: byte 0xff cannot be decoded"


def test_utf8_bom_is_accepted() -> None:
    assert parse_manifest(b"\xef\xbb\xbf" + VALID.encode()).system.id == "demo"


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("owner: Müller\n".encode("latin-1"))
    (p,) = validate_manifest(path)
    assert (p.file, p.line, p.column) == (str(path), 1, 9)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(text: str) -> None:
    p = only_problem(text)
    assert p.message == "the manifest is empty"
    assert p.expected == TOP_LEVEL
    assert p.line in (1, 2)
    assert p.column == 1


def test_empty_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_bytes(b"")
    (p,) = validate_manifest(path)
    assert str(p) == f"{path}:1:1: the manifest is empty (expected {TOP_LEVEL})"


def test_top_level_list() -> None:
    p = only_problem("# comment\n- apiVersion: bastion/v1\n- kind: System\n")
    assert (p.line, p.column, p.path) == (2, 1, "")
    assert p.message == "the top level is a list"


def test_top_level_scalar() -> None:
    p = only_problem("just words\n")
    assert p.message == "the top level is a string ('just words')"


def test_tab_indentation() -> None:
    p = only_problem(edit("  name: Demo\n", "\tname: Demo\n"))
    assert (p.line, p.column) == (5, 1)
    assert p.message == "tab character in indentation"
    assert p.expected == "spaces; YAML forbids tabs"


def test_tab_after_spaces() -> None:
    p = only_problem(edit("    kind: model\n", "  \t  kind: model\n"))
    assert (p.line, p.column) == (18, 3)
    assert p.message == "tab character in indentation"


def test_malformed_yaml() -> None:
    p = only_problem(edit("  decision_impact: [none]\n", "  decision_impact: [none\n"))
    assert (p.line, p.column) == (9, 17)
    assert p.message.startswith("malformed YAML: ")


def test_control_characters() -> None:
    p = only_problem(edit("  name: Demo\n", "  name: De\x07mo\n"))
    assert (p.line, p.column) == (5, 11)
    assert p.message == "control character U+0007 is not allowed in YAML"


def test_lone_surrogate_in_text() -> None:
    p = only_problem("a: \ud800\n")
    assert (p.line, p.column) == (1, 4)


def test_several_documents() -> None:
    p = only_problem(VALID + "---\nkind: System\n")
    assert (p.line, p.column) == (38, 1)
    assert p.message == "more than one YAML document in the file"


def test_deep_nesting_is_bounded() -> None:
    p = only_problem("a: " + "[" * 100 + "]" * 100 + "\n")
    assert p.message == "nesting deeper than 64 levels"


def test_python_tags_are_never_constructed() -> None:
    text = edit("    name: DB\n", "    name: !!python/object/apply:os.system [echo pwned]\n")
    p = only_problem(text)
    assert (p.line, p.column, p.path) == (14, 11, "assets[0].name")
    assert p.message.startswith("unsupported YAML tag")


def test_invalid_timestamp_scalar() -> None:
    text = edit("    name: DB\n", "    name: 2024-13-45\n")
    p = only_problem(text)
    assert (p.line, p.column, p.path) == (14, 11, "assets[0].name")
    assert p.message == "'2024-13-45' is not a valid YAML timestamp"


def test_date_scalar_where_a_string_is_expected() -> None:
    p = only_problem(edit("    name: DB\n", "    name: 2024-01-31\n"))
    assert p.message == "wrong type: got a date (2024-01-31)"


def test_node_count_is_bounded() -> None:
    p = only_problem("a: [" + "1," * 300_000 + "]\n")
    assert p.message == "more than 250000 YAML nodes"
    assert p.line == 1
