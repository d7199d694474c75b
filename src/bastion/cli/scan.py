"""`bastion model scan` (being built). Registers on the shared ``model_app``."""

from __future__ import annotations

from bastion.cli._groups import model_app

__all__ = ["model_app"]
