"""The console's templates and static files; the routes that serve them live in bastion.api.

Kept apart from the routes so a packager (or a test) can find the assets without importing
FastAPI. htmx is vendored in ``static/`` (0BSD, see ``static/htmx.LICENSE.txt``): the
console never loads anything from another origin, so ``Content-Security-Policy:
default-src 'self'`` holds.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["HTMX_VERSION", "STATIC_DIR", "TEMPLATES_DIR"]

_HERE = Path(__file__).resolve().parent

TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"
HTMX_VERSION = "2.0.11"
