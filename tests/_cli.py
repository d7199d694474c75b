"""The in-process CLI runner the end-to-end tests share: ``bastion --home HOME ARGS``
through ``bastion.cli.main.main``, with the captured stdout and stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bastion.cli.main import main

__all__ = ["Run", "start"]


class Run:
    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home, self.capsys = home, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        """``(exit code, stdout, stderr)`` of one command."""
        self.capsys.readouterr()
        rc = main(["--home", str(self.home), *args])
        out, err = self.capsys.readouterr()
        return rc, out, err

    def json(self, *args: str, rc: int = 0) -> Any:
        """The command's ``--format json`` output, asserting its exit code is ``rc``."""
        code, out, err = self(*args, "--format", "json")
        assert code == rc, out + err
        return json.loads(out)


def start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """A runner on a fresh home under ``tmp_path`` (``bastion init`` run and checked)."""
    r = Run(tmp_path / "home", capsys)
    rc, out, err = r("init")
    assert rc == 0, out + err
    return r
