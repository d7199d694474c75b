"""Checks of the integrity room; importing this module registers all of them."""

from bastion.integrity.scanning import _checks as _checks_scanning
from bastion.integrity.signing import _checks as _checks_signing
from bastion.integrity.supply import _checks as _checks_supply

__all__ = ["_checks_scanning", "_checks_signing", "_checks_supply"]
