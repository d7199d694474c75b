"""SARIF artifact locations a code-scanning service can map to repository files (issue 15,
finding 3): repository-relative URIs under ``%SRCROOT%``, and ``originalUriBaseIds``.

No SARIF 2.1.0 JSON schema ships with an installed package (none named
``sarif-schema-2.1.0.json`` in site-packages), so :func:`check_locations` pins the spec's
rules (SARIF 2.1.0 sections 3.4, 3.4.4, 3.14.14) with assertions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rfc3986_validator import validate_rfc3986

from bastion.cli.main import main
from bastion.threats import model_text, to_sarif
from tests.conftest import EXAMPLE_MANIFEST

SRCROOT = "%SRCROOT%"


def _locations(log: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for run in log["runs"]:
        for a in run.get("artifacts", []):
            yield run, a["location"]
        for res in run["results"]:
            for loc in res.get("locations", []):
                if "physicalLocation" in loc:
                    yield run, loc["physicalLocation"]["artifactLocation"]


def check_locations(log: dict[str, Any]) -> list[Path | None]:
    """Every artifactLocation follows SARIF 2.1.0; returns the file each one resolves to
    (None for a base id the log leaves undefined)."""
    files: list[Path | None] = []
    for run in log["runs"]:
        for base_id, base in (run.get("originalUriBaseIds") or {}).items():
            # 3.14.14: an absolute URI ending in "/" (or itself relative to a base id)
            assert "uriBaseId" not in base and validate_rfc3986(base["uri"], rule="URI")
            assert base["uri"].startswith("file:///") and base["uri"].endswith("/"), base_id
    for run, loc in _locations(log):
        uri = loc["uri"]
        assert validate_rfc3986(uri, rule="URI_reference"), uri
        if "uriBaseId" in loc:
            # 3.4.4: with a uriBaseId the uri is a relative reference, never absolute
            assert not validate_rfc3986(uri, rule="URI") and not uri.startswith("/"), uri
            assert loc["uriBaseId"] == SRCROOT
            base = (run.get("originalUriBaseIds") or {}).get(SRCROOT)
            if base is None:
                files.append(None)
                continue
            uri = urllib.parse.urljoin(base["uri"], uri)
        # no base: an absolute URI (a file outside the source root)
        assert validate_rfc3986(uri, rule="URI") and uri.startswith("file:///"), uri
        files.append(Path(urllib.request.url2pathname(urllib.parse.urlsplit(uri).path)))
    return files


def _git_init(path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    subprocess.run(["git", "init", "-q", str(path)], check=True, env=env)


class Run:
    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home, self.capsys = home, capsys

    def sarif(self, *args: str) -> dict[str, Any]:
        self.capsys.readouterr()
        rc = main(["--home", str(self.home), *args, "--format", "sarif"])
        out, err = self.capsys.readouterr()
        assert rc in (0, 1), err
        doc: dict[str, Any] = json.loads(out)
        return doc


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    r = Run(tmp_path / "home", capsys)
    assert main(["--home", str(r.home), "init"]) == 0
    return r


def _physical(log: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        loc["physicalLocation"]["artifactLocation"]
        for res in log["runs"][0]["results"]
        for loc in res["locations"]
    ]


def test_finding_03_threats_sarif_uri_is_relative_to_the_git_top_level(
    run: Run, tmp_path: Path
) -> None:
    repo = tmp_path / "checkout"
    _git_init(repo)
    manifest = repo / "deploy" / "credit scoring" / "system.yaml"
    manifest.parent.mkdir(parents=True)
    shutil.copy(EXAMPLE_MANIFEST, manifest)
    for cmd in ("model", "check"):
        log = run.sarif("threats", cmd, str(manifest))
        run_ = log["runs"][0]
        assert run_["originalUriBaseIds"] == {SRCROOT: {"uri": repo.as_uri() + "/"}}
        locs = _physical(log)
        assert locs and all(
            loc == {"uri": "deploy/credit%20scoring/system.yaml", "uriBaseId": SRCROOT}
            for loc in locs
        )
        assert run_["artifacts"] == [{"location": locs[0]}]
        assert set(check_locations(log)) == {manifest}
        assert str(tmp_path) not in json.dumps(run_["results"])  # no absolute path


def test_finding_03_threats_sarif_source_root_option_and_outside_files(
    run: Run, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"  # no repository: the manifest's directory is the root
    plain.mkdir()
    manifest = plain / "system.yaml"
    shutil.copy(EXAMPLE_MANIFEST, manifest)
    log = run.sarif("threats", "model", str(manifest))
    assert log["runs"][0]["originalUriBaseIds"][SRCROOT]["uri"] == plain.as_uri() + "/"
    assert {loc["uri"] for loc in _physical(log)} == {"system.yaml"}
    assert set(check_locations(log)) == {manifest}
    # --source-root names the root explicitly
    log = run.sarif("threats", "check", str(manifest), "--source-root", str(tmp_path))
    assert {loc["uri"] for loc in _physical(log)} == {"plain/system.yaml"}
    assert set(check_locations(log)) == {manifest}
    # a manifest outside the given root keeps an absolute file:// URI, with no base id
    other = tmp_path / "other"
    other.mkdir()
    log = run.sarif("threats", "model", str(manifest), "--source-root", str(other))
    assert {json.dumps(loc) for loc in _physical(log)} == {json.dumps({"uri": manifest.as_uri()})}
    assert set(check_locations(log)) == {manifest}
    # the option must name an existing directory
    assert main(["--home", str(run.home), "threats", "model", str(manifest),
                 "--source-root", str(manifest), "--format", "sarif"]) == 2  # fmt: skip


def test_finding_03_threats_sarif_of_a_request_body_has_no_absolute_uri() -> None:
    model = model_text(EXAMPLE_MANIFEST.read_text(), source="request body")
    log = to_sarif(model)
    assert {json.dumps(loc) for loc in _physical(log)} == {
        json.dumps({"uri": "system.yaml", "uriBaseId": SRCROOT})
    }
    assert "originalUriBaseIds" not in log["runs"][0]  # the consumer supplies the root
    assert log["runs"][0]["properties"]["source"] == "request body"
    assert check_locations(log) == [None] * len(check_locations(log))
