"""The runtime guard: an ASGI reverse proxy (and in-process wrapper) in front of model endpoints.

Per request: identity, authorization, size and schema validation, feature range checks,
detection stages (adversarial input, probing and extraction, LLM input rules), rate limits,
the upstream call behind a circuit breaker, output filters and obligations, and an OCSF
event for the log. The stage contract is :mod:`bastion.guard.interface`; docs/guard.md
describes the configuration, the refusals and the CLI.
"""

from __future__ import annotations

from bastion.guard._audit import AuditWriter, decision_event, ocsf_events
from bastion.guard._auth import ApiTokenAuthenticator, GuardAuthenticator, default_authenticator
from bastion.guard._breaker import BreakerState, CircuitBreaker
from bastion.guard._build import (
    Guard,
    GuardCheck,
    build_guard,
    check_guard,
    check_guard_file,
    egress_network_policy,
    revoke_credential,
    run_guard,
)
from bastion.guard._config import (
    EgressRule,
    EndpointConfig,
    EndpointKind,
    GuardConfig,
    Priority,
    RateClass,
    config_digest,
    load_guard_config,
    parse_guard_config,
    record_config,
)
from bastion.guard._decisions import recent_decisions
from bastion.guard._demo import demo_story
from bastion.guard._egress import EgressDenied, EgressPolicy, PinnedTarget, network_policy
from bastion.guard._guarded import GuardedModel, GuardRefused
from bastion.guard._pipeline import Admission, EndpointRuntime, Outcome, Pipeline, Refusal
from bastion.guard._proxy import GuardProxy
from bastion.guard._startup import ModelCheck, UnverifiedModelError, check_model
from bastion.guard._state import (
    BucketResult,
    MemoryStateStore,
    RedisStateStore,
    open_state_store,
)
from bastion.guard._tls import TlsHttpProtocol, serve, tls_extension

__all__ = [
    "Admission",
    "ApiTokenAuthenticator",
    "AuditWriter",
    "BreakerState",
    "BucketResult",
    "CircuitBreaker",
    "EgressDenied",
    "EgressPolicy",
    "EgressRule",
    "EndpointConfig",
    "EndpointKind",
    "EndpointRuntime",
    "Guard",
    "GuardAuthenticator",
    "GuardCheck",
    "GuardConfig",
    "GuardProxy",
    "GuardRefused",
    "GuardedModel",
    "MemoryStateStore",
    "ModelCheck",
    "Outcome",
    "PinnedTarget",
    "Pipeline",
    "Priority",
    "RateClass",
    "RedisStateStore",
    "Refusal",
    "TlsHttpProtocol",
    "UnverifiedModelError",
    "build_guard",
    "check_guard",
    "check_guard_file",
    "check_model",
    "config_digest",
    "decision_event",
    "default_authenticator",
    "demo_story",
    "egress_network_policy",
    "load_guard_config",
    "network_policy",
    "ocsf_events",
    "open_state_store",
    "parse_guard_config",
    "recent_decisions",
    "record_config",
    "revoke_credential",
    "run_guard",
    "serve",
    "tls_extension",
]
