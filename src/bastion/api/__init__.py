"""The REST API and the console's HTTP side; no logic beyond translating HTTP."""

from bastion.api.app import create_app

__all__ = ["create_app"]
