"""`deps scan --format sarif`: locations relative to %SRCROOT% (issue 15, finding 3).

The SARIF rules are pinned by :func:`tests.threats.test_sarif_locations.check_locations`
(no SARIF 2.1.0 JSON schema ships with an installed package).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bastion.cli.main import main
from bastion.core.workspace import Workspace
from bastion.integrity import bundled_osv_database, dependencies_sarif, scan_dependencies
from tests.threats.test_sarif_locations import SRCROOT, _git_init, check_locations

REQS = "requests==2.30.0\njinja2==3.1.2\nnumpy\n"


def _sarif(home: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    rc = main(["--home", str(home), "deps", "scan", *args, "--format", "sarif",
               "--fail-on", "critical"])  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc


def _by_rule(log: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for res in log["runs"][0]["results"]:
        out.setdefault(res["ruleId"], []).append(res["locations"][0])
    return out


def test_finding_03_deps_sarif_uri_is_relative_to_the_git_top_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "init"]) == 0
    repo = tmp_path / "checkout"
    _git_init(repo)
    req = repo / "svc" / "requirements.txt"
    req.parent.mkdir()
    req.write_text(REQS, encoding="utf-8")
    log = _sarif(home, capsys, "-r", str(req))
    run = log["runs"][0]
    assert run["originalUriBaseIds"] == {SRCROOT: {"uri": repo.as_uri() + "/"}}
    by_rule = _by_rule(log)
    for loc in by_rule["deps.vulnerable"] + by_rule["deps.unpinned"]:
        art = loc["physicalLocation"]["artifactLocation"]
        assert art == {"uri": "svc/requirements.txt", "uriBaseId": SRCROOT}
    lines = {loc["physicalLocation"]["region"]["startLine"] for loc in by_rule["deps.vulnerable"]}
    assert lines == {1, 2}
    assert by_rule["deps.unpinned"][0]["physicalLocation"]["region"] == {"startLine": 3}
    # the bundled OSV database lies outside the checkout: an absolute file:// URI
    for loc in by_rule["deps.fixture-database"]:
        assert loc["physicalLocation"]["artifactLocation"] == {
            "uri": bundled_osv_database().as_uri()
        }
    files = check_locations(log)
    assert set(files) == {req, bundled_osv_database()}
    # --source-root names the root explicitly
    log = _sarif(home, capsys, "-r", str(req), "--source-root", str(req.parent))
    assert log["runs"][0]["originalUriBaseIds"][SRCROOT]["uri"] == req.parent.as_uri() + "/"
    locs = _by_rule(log)["deps.vulnerable"]
    assert {loc["physicalLocation"]["artifactLocation"]["uri"] for loc in locs} == {
        "requirements.txt"
    }
    assert set(check_locations(log)) == {req, bundled_osv_database()}


def test_finding_03_deps_sarif_lock_file_without_repository(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    plain = tmp_path / "plain dir"
    plain.mkdir()
    lock = plain / "uv.lock"
    lock.write_text('[[package]]\nname = "requests"\nversion = "2.30.0"\n', encoding="utf-8")
    ev = scan_dependencies(sqlite_ws, requirements=lock)
    log = dependencies_sarif(ev)
    assert log["runs"][0]["originalUriBaseIds"][SRCROOT]["uri"] == plain.as_uri() + "/"
    (loc,) = _by_rule(log)["deps.vulnerable"]
    assert loc["physicalLocation"]["artifactLocation"] == {"uri": "uv.lock", "uriBaseId": SRCROOT}
    assert loc["logicalLocations"] == [{"name": "requests"}]  # the lock file's package
    assert set(check_locations(log)) == {lock, bundled_osv_database()}


def test_finding_03_deps_sarif_of_installed_packages_has_only_absolute_uris(
    sqlite_ws: Workspace,
) -> None:
    log = dependencies_sarif(scan_dependencies(sqlite_ws))
    assert "originalUriBaseIds" not in log["runs"][0]  # no scanned file, no root
    for res in log["runs"][0]["results"]:
        for loc in res["locations"]:
            art = loc.get("physicalLocation", {}).get("artifactLocation")
            assert art is None or "uriBaseId" not in art
    assert all(f is not None and f.is_absolute() for f in check_locations(log))
