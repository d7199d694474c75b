"""SARIF 2.1.0 artifact locations that code-scanning services can map to repository files.

A result's ``artifactLocation`` is a URI relative to the ``%SRCROOT%`` base
(``uriBaseId``), and the run's ``originalUriBaseIds`` says where that root was
(a ``file:///.../`` URI ending in ``/``, SARIF 2.1.0 section 3.14.14). A file outside the
root keeps an absolute ``file://`` URI, which needs no base.

The source root defaults to the git top level of the scanned file, found by looking for
``.git`` in its directory and their parents (git itself is not run), else the file's
directory.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

__all__ = [
    "SRCROOT",
    "SarifRoot",
    "default_source_root",
    "git_toplevel",
]

#: The base id code-scanning services (GitHub, Azure DevOps) resolve to the checkout.
SRCROOT = "%SRCROOT%"


def git_toplevel(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` holding ``.git`` (a directory, or the
    file a worktree or submodule has); None outside a repository. Runs no program."""
    p = path.resolve()
    start = p if p.is_dir() else p.parent
    for d in (start, *start.parents):
        try:
            if (d / ".git").exists():
                return d
        except OSError:
            return None
    return None


def default_source_root(path: Path) -> Path:
    """The git top level of ``path``, else its directory (``path`` itself if a directory)."""
    p = path.resolve()
    return git_toplevel(p) or (p if p.is_dir() else p.parent)


def _dir_uri(root: Path) -> str:
    uri = root.as_uri()
    return uri if uri.endswith("/") else uri + "/"


class SarifRoot:
    """Writes artifact locations against one source root (or none: every URI absolute)."""

    def __init__(self, root: Path | str | None) -> None:
        self.root = Path(root).resolve() if root is not None else None

    def artifact_location(self, path: Path | str) -> dict[str, str]:
        """``{"uri": "rel/path", "uriBaseId": "%SRCROOT%"}`` for a file under the root,
        ``{"uri": "file:///abs/path"}`` for any other."""
        p = Path(path).resolve()
        if self.root is not None:
            try:
                rel = p.relative_to(self.root)
            except ValueError:
                pass
            else:
                if rel.parts:
                    return {"uri": urllib.parse.quote(rel.as_posix()), "uriBaseId": SRCROOT}
        return {"uri": p.as_uri()}

    def original_uri_base_ids(self) -> dict[str, Any]:
        """The run's ``originalUriBaseIds``: empty when there is no root."""
        if self.root is None:
            return {}
        return {SRCROOT: {"uri": _dir_uri(self.root)}}
