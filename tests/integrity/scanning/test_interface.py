"""The scanner layer's interface: the shipped scanner satisfies it; errors are its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.core.errors import InputError
from bastion.integrity.interface import ScanError, Scanner, ScanVerdict
from bastion.integrity.scanning import ModelFileScanner
from tests.integrity.scanning.corpus import call_global


def test_model_file_scanner_is_a_scanner(tmp_path: Path) -> None:
    s: Scanner = ModelFileScanner()
    assert isinstance(s, Scanner) and s.name == "bastion-model-scan"
    (tmp_path / "m.pkl").write_bytes(call_global("os", "system", "x"))
    assert s.scan_path(tmp_path).verdict is ScanVerdict.DANGEROUS
    assert s.scan_bytes(b"N.", "n.pkl").verdict is ScanVerdict.SAFE
    with pytest.raises(ScanError, match="no such file") as exc:
        s.scan_path(tmp_path / "missing")
    assert isinstance(exc.value, InputError)  # the CLI maps it to exit 2


def test_a_class_without_the_methods_is_not_a_scanner() -> None:
    class NotAScanner:
        name = "x"

    assert not isinstance(NotAScanner(), Scanner)
