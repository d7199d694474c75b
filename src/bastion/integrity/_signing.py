"""Transitional alias: the flat scanning modules (``_checks_scanning``, ``_public_scanning``)
still import ``signed_manifest`` from this old path.

The signing part lives in :mod:`bastion.integrity.signing`; delete this module when the
scanning modules move to ``integrity/scanning/`` and import the signing part's public face
(issue 13, section 5).
"""

from bastion.integrity.signing import signed_manifest

__all__ = ["signed_manifest"]
