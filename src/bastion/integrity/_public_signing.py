"""Transitional alias: ``_public_scanning`` still imports ``record_attest_scan_upload``
from this old path.

The signing part lives in :mod:`bastion.integrity.signing`; delete this module when the
scanning modules move to ``integrity/scanning/`` and import the signing part's public face
(issue 13, section 5).
"""

from bastion.integrity.signing import record_attest_scan_upload

__all__ = ["record_attest_scan_upload"]
