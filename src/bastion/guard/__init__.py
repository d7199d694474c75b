"""The runtime guard: an ASGI reverse proxy (and in-process wrapper) in front of model endpoints.

Per request: identity, authorization, size and schema validation, feature range checks,
detection stages (adversarial input, probing and extraction, LLM input rules), rate limits,
the upstream call behind a circuit breaker, output filters and obligations, and an OCSF
event for the log. The stage contract is :mod:`bastion.guard.interface`.
"""

from __future__ import annotations
