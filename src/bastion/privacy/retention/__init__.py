"""Retention (issue 9 section 7): the items under retention and erasure requests."""

from bastion.privacy.retention._rows import ErasureRequestRow, RetentionItemRow

__all__ = ["ErasureRequestRow", "RetentionItemRow"]
