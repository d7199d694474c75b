"""Access to Bastion itself: API tokens, roles, TOTP MFA and authorisation."""

from bastion.access._tokens import (
    MFA_LOCKOUT_AFTER,
    NewToken,
    Permission,
    Principal,
    Role,
    TokenInfo,
    authenticate,
    create_token,
    end_session,
    list_tokens,
    open_session,
    principal_for_session,
    principal_for_token_id,
    require,
    revoke_token,
    verify_totp,
)

__all__ = [
    "MFA_LOCKOUT_AFTER",
    "NewToken",
    "Permission",
    "Principal",
    "Role",
    "TokenInfo",
    "authenticate",
    "create_token",
    "end_session",
    "list_tokens",
    "open_session",
    "principal_for_session",
    "principal_for_token_id",
    "require",
    "revoke_token",
    "verify_totp",
]
