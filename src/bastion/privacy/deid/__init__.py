"""De-identification (issue 9 sections 2-3): operators, token vault, FF3-1, masking.

Operators redact, mask, replace, keyed-hash (HMAC, joinable), tokenize (deterministic,
reversible through the audited vault), FF3-1 format-preserving encryption and
generalization; keys come from a :class:`KeyProvider` (by default versioned key files
beside the workspace keyring). :func:`mask_file` makes masked non-production copies of
CSV/Parquet files, streaming, recorded as ``privacy.masking`` evidence.
"""

from __future__ import annotations

from bastion.privacy.deid._checks import MaskedColumn, MaskingCheck, MaskingData
from bastion.privacy.deid._fpe import ALPHABETS, Fpe, column_tweak
from bastion.privacy.deid._keys import KeyProvider, KeyringKeyProvider, key_provider
from bastion.privacy.deid._mask import MaskReport, build_operator, mask_content, mask_file
from bastion.privacy.deid._operators import (
    FpeOp,
    GeneralizeOp,
    HashOp,
    MaskOp,
    Operator,
    RedactOp,
    ReplaceOp,
    TokenizeOp,
)
from bastion.privacy.deid._policy import (
    MAX_POLICY_BYTES,
    ColumnRule,
    MaskingPolicy,
    OperatorName,
    load_policy,
    parse_policy,
)
from bastion.privacy.deid._vault import DetokenizeResult, RotationResult, TokenVault

__all__ = [
    "ALPHABETS",
    "MAX_POLICY_BYTES",
    "ColumnRule",
    "DetokenizeResult",
    "Fpe",
    "FpeOp",
    "GeneralizeOp",
    "HashOp",
    "KeyProvider",
    "KeyringKeyProvider",
    "MaskOp",
    "MaskReport",
    "MaskedColumn",
    "MaskingCheck",
    "MaskingData",
    "MaskingPolicy",
    "Operator",
    "OperatorName",
    "RedactOp",
    "ReplaceOp",
    "RotationResult",
    "TokenVault",
    "TokenizeOp",
    "build_operator",
    "column_tweak",
    "key_provider",
    "load_policy",
    "mask_content",
    "mask_file",
    "parse_policy",
]
