"""The end-to-end tests share one CLI runner, ``tests/_cli.py`` (issue 13 tidy-house):
no test module carries its own copy of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._cli import Run, start

TESTS = Path(__file__).parent
COPY = 'rc = main(["--home", str(self.home), *args])'


def test_finding_13_no_test_module_copies_the_cli_runner() -> None:
    copies = [
        str(p.relative_to(TESTS))
        for p in TESTS.rglob("*.py")
        if p.name not in {"_cli.py", Path(__file__).name} and COPY in p.read_text(encoding="utf-8")
    ]
    assert copies == []


def test_finding_13_shared_runner_starts_a_home_and_checks_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = start(tmp_path, capsys)
    assert isinstance(r, Run) and r.home == tmp_path / "home" and r.home.is_dir()
    assert r.json("init")["new"] is False
    rc, _, err = r("inventory", "show", "no-such-system")
    assert rc != 0 and err
    with pytest.raises(AssertionError):
        r.json("inventory", "show", "no-such-system")
