"""Access to Bastion itself: API tokens, roles, TOTP MFA, console sessions and authorisation."""

from bastion.access._sessions import (
    SESSION_TTL,
    STEP_UP_AFTER,
    end_session,
    issue_session,
    mfa_is_fresh,
    open_session,
    principal_for_session,
    read_session,
    session_mfa_at,
    session_principal,
    sign_out,
    step_up_session,
)
from bastion.access._tokens import (
    MFA_LOCKOUT_AFTER,
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
    verify_token_otp,
    verify_totp,
)

__all__ = [
    "MFA_LOCKOUT_AFTER",
    "SESSION_TTL",
    "STEP_UP_AFTER",
    "NewToken",
    "Permission",
    "Principal",
    "Role",
    "TokenInfo",
    "authenticate",
    "create_token",
    "end_session",
    "issue_session",
    "list_tokens",
    "mfa_is_fresh",
    "open_session",
    "principal_for_session",
    "principal_for_token_id",
    "read_session",
    "require",
    "revoke_token",
    "session_mfa_at",
    "session_principal",
    "sign_out",
    "step_up_session",
    "verify_token_otp",
    "verify_totp",
]

# --- authorization (access/policy): Cedar policies, obligations, JIT grants ---
from bastion.access.policy import (  # last: the policy side imports _tokens
    PolicyEngine,
    approve_grant,
    request_grant,
    revoke_grant,
)

__all__ += ["PolicyEngine", "approve_grant", "request_grant", "revoke_grant"]

# --- audit of artifact access (issue 11, section 4) ---
from bastion.access._audit import (  # noqa: E402 - after the policy side
    PURPOSE_HEADER,
    Artifact,
    ArtifactKind,
    audit_artifact_read,
    identity_for_principal,
    validate_purpose,
)

__all__ += [
    "PURPOSE_HEADER",
    "Artifact",
    "ArtifactKind",
    "audit_artifact_read",
    "identity_for_principal",
    "validate_purpose",
]
