"""Access to Bastion itself: API tokens, roles, TOTP MFA and authorisation."""

from bastion.access._tokens import (
    NewToken,
    Permission,
    Principal,
    Role,
    TokenInfo,
    authenticate,
    create_token,
    list_tokens,
    principal_for_token_id,
    require,
    revoke_token,
    verify_totp,
)

__all__ = [
    "NewToken",
    "Permission",
    "Principal",
    "Role",
    "TokenInfo",
    "authenticate",
    "create_token",
    "list_tokens",
    "principal_for_token_id",
    "require",
    "revoke_token",
    "verify_totp",
]
