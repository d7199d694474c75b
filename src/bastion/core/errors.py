"""Bastion's error hierarchy: one root, one subclass per domain.

::

    BastionError                      exit code 2 unless noted
    ├── ConfigError                   bad settings, uninitialised home
    │   └── UnverifiedModelError      (guard) a model version whose signature or gate does not verify
    ├── StorageError                  database unreachable or unreadable (exit 3)
    ├── InputError                    a file or value the user gave is wrong
    │   ├── ManifestError             a system manifest that does not validate
    │   ├── ScanError                 (integrity) a model file that cannot be scanned
    │   ├── RobustnessError           (robustness) an evaluation that cannot be run as asked
    │   ├── NerUnavailableError       (privacy) the optional NER model is not installed
    │   ├── BodyTooLarge              (api) a request body over its limit (HTTP 413)
    │   ├── SigmaRuleError            (monitor) a Sigma rule that does not parse or cannot run
    │   ├── PlaybookError             (incidents) a playbook that does not validate
    │   ├── TokenExchangeError        (access) a refused RFC 8693 token exchange (OAuth error code)
    │   └── PolicyError               (access) a policy set that does not parse; the old one stays
    ├── NotFoundError                 an ID that does not exist
    ├── ConflictError                 a state change that would break an invariant
    │   └── BudgetExceededError       (privacy) a DP release over the dataset's budget
    ├── KeyringError                  missing, unreadable or insecure keys
    ├── LedgerError                   the ledger cannot be appended to or read
    │   ├── LedgerIntegrityError      verification found tampering
    │   │   ├── ProofError            (ledger) an inclusion or consistency proof fails
    │   │   └── NoteError             (ledger) a signed note that does not verify
    │   └── LedgerBusyError           the commit queue is full: back-pressure, retry (HTTP 503)
    ├── CheckError                    a check could not run
    ├── SinkError                     (monitor) a log sink refused or is unreachable
    │   └── SpoolFullError            (monitor) the on-disk spool is full: back-pressure
    ├── DiagramError                  (threats) a diagram that cannot be drawn
    ├── Busy                          (api) heavy work at its concurrency limit (HTTP 503)
    ├── GuardRefused                  (guard) a request the guard refused (its status and reason id)
    └── AuthError                     missing or bad credentials (HTTP 401)
        ├── CredentialError           (access) a token or certificate that does not verify
        ├── SignInRequired            (console) no session: sign in again
        └── PermissionDeniedError     authenticated but not allowed (HTTP 403)
            └── EgressDenied          (guard) a destination outside the egress allowlist

Rooms define their own subclasses next to their code (the room is in brackets); every one
of them is drawn here, and ``tests/core/test_errors_tree.py`` fails when one is not.

Every error carries a one-line ``message`` fit for a user, and the CLI prints it without a
traceback; the API turns it into RFC 9457 problem+json with ``http_status``.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BastionError",
    "CheckError",
    "ConfigError",
    "ConflictError",
    "InputError",
    "KeyringError",
    "LedgerBusyError",
    "LedgerError",
    "LedgerIntegrityError",
    "ManifestError",
    "NotFoundError",
    "PermissionDeniedError",
    "StorageError",
]


class BastionError(Exception):
    """Root of every error Bastion raises on purpose."""

    exit_code: int = 2
    http_status: int = 400
    title: str = "Bad request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(BastionError):
    title = "Configuration error"
    http_status = 500


class StorageError(BastionError):
    exit_code = 3
    http_status = 503
    title = "Storage unavailable"


class InputError(BastionError):
    http_status = 422
    title = "Invalid input"


class ManifestError(InputError):
    """A manifest failed validation; ``problems`` holds every problem found."""

    title = "Invalid manifest"

    def __init__(self, message: str, problems: list[object] | None = None) -> None:
        super().__init__(message)
        self.problems: list[object] = list(problems or [])


class NotFoundError(BastionError):
    http_status = 404
    title = "Not found"


class ConflictError(BastionError):
    http_status = 409
    title = "Conflict"


class KeyringError(BastionError):
    http_status = 500
    title = "Keyring error"


class LedgerError(BastionError):
    exit_code = 3
    http_status = 500
    title = "Ledger error"


class LedgerIntegrityError(LedgerError):
    exit_code = 1
    title = "Ledger integrity violation"


class LedgerBusyError(LedgerError):
    """Back-pressure: more events wait for the ledger's committer than it may hold."""

    http_status = 503
    title = "Ledger busy"


class CheckError(BastionError):
    title = "Check failed to run"


class AuthError(BastionError):
    http_status = 401
    title = "Unauthorized"


class PermissionDeniedError(AuthError):
    http_status = 403
    title = "Forbidden"
