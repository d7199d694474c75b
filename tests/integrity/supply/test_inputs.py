"""What deps scan reads: requirements and lock files, CycloneDX SBOMs, installed metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.core.errors import InputError
from bastion.integrity import installed_packages, read_requirements, read_sbom


def test_requirements_pinned_unpinned_hashes_markers_and_continuations(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text(
        "# a comment\n"
        "--index-url https://pypi.org/simple\n"
        "requests==2.30.0 \\\n"
        "    --hash=sha256:58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f\n"
        "Jinja2===3.1.2  # trailing comment\n"
        "numpy>=1.26\n"
        "torch==2.*\n"
        'pywin32==306 ; sys_platform == "win32"\n'
        "-r other.txt\n",
        encoding="utf-8",
    )
    got = {p.name: (p.version, p.location) for p in read_requirements(req)}
    assert got["requests"] == ("2.30.0", f"{req}:3")
    assert got["Jinja2"][0] == "3.1.2"
    assert got["numpy"][0] is None and got["torch"][0] is None  # ranges and wildcards: unpinned
    assert "pywin32" not in got  # its marker is false here
    assert got["-r"][0] is None and "not followed" in got["-r"][1]


def test_unparsable_requirement_names_the_line(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("requests==2.31.0\nfoo==>1 bar\n", encoding="utf-8")
    # The line number and the reason, never the line (it could be a key or a secret).
    with pytest.raises(InputError, match=r"requirements\.txt:2: not a PEP 508") as err:
        read_requirements(req)
    assert "foo" not in err.value.message and "bar" not in err.value.message


def test_lock_files(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\n[[package]]\nname = "requests"\nversion = "2.30.0"\n'
        '[[package]]\nname = "local-thing"\n',
        encoding="utf-8",
    )
    got = {p.name: p.version for p in read_requirements(lock)}
    assert got == {"requests": "2.30.0", "local-thing": None}
    bad = tmp_path / "poetry.lock"
    bad.write_text("[[package]\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        read_requirements(bad)


def test_oversized_and_binary_inputs_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "requirements.txt"
    with big.open("wb") as fh:
        fh.truncate(33 * 1024 * 1024)
    with pytest.raises(InputError, match="exceeds the 33554432-byte limit"):
        read_requirements(big)
    binary = tmp_path / "req.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="not UTF-8"):
        read_requirements(binary)


def _sbom(components: list[dict[str, object]]) -> dict[str, object]:
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components}


def test_sbom_pypi_purls_including_nested(tmp_path: Path) -> None:
    p = tmp_path / "sbom.json"
    doc = _sbom(
        [
            {"type": "library", "name": "requests", "purl": "pkg:pypi/requests@2.30.0"},
            {"type": "library", "name": "lodash", "purl": "pkg:npm/lodash@4.17.20"},
            {
                "type": "application",
                "name": "app",
                "components": [{"type": "library", "name": "Pillow", "purl": "pkg:pypi/pillow"}],
            },
        ]
    )
    p.write_text(json.dumps(doc), encoding="utf-8")
    got = {x.name: x.version for x in read_sbom(p)}
    assert got == {"requests": "2.30.0", "pillow": None}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            _sbom([{"bom-ref": "c1", "name": "x", "purl": "pypi/requests@1"}]),
            r"components\[0\]: invalid purl",
        ),
        (_sbom([{"name": "x", "purl": 7}]), "purl must be a string"),
        (_sbom([{"name": "x", "components": {"a": 1}}]), "must be a list of components"),
        ({"bomFormat": "SPDX"}, "not a CycloneDX SBOM"),
    ],
)
def test_bad_sboms_are_refused_clearly(
    tmp_path: Path, doc: dict[str, object], message: str
) -> None:
    p = tmp_path / "sbom.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_sbom(p)


def test_installed_packages_come_from_metadata() -> None:
    pkgs = {p.canonical: p for p in installed_packages()}
    from importlib.metadata import version

    assert pkgs["packaging"].version == version("packaging")
    assert any(r.startswith("numpy") for r in pkgs["scikit-learn"].requires)
