"""What to check: installed distributions, requirements and lock files, CycloneDX SBOMs.

Every reader returns :class:`PackageVersion` entries; a package whose exact version cannot
be known (an unpinned requirement, a purl without a version) comes back with
``version=None`` so the caller reports it as something it could not evaluate.
Nothing is installed, imported or executed: only metadata files are read.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packageurl import PackageURL
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from bastion.core.errors import InputError
from bastion.integrity.supply._osv import PackageVersion

__all__ = [
    "MAX_INPUT_BYTES",
    "installed_packages",
    "read_input",
    "read_requirements",
    "read_sbom",
]

MAX_INPUT_BYTES = 32 * 1024 * 1024
_MAX_COMPONENTS = 200_000
_MAX_DEPTH = 32


def read_input(path: Path, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a user-supplied file, refusing one larger than ``limit`` before reading it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if size > limit:
        raise InputError(f"{path}: {size} bytes exceeds the {limit}-byte limit for this input")
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise InputError(f"{path}: exceeds the {limit}-byte limit for this input")
    return data


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- installed -----------------------------------------------------------------------------


def installed_packages(paths: Iterable[str] | None = None) -> list[PackageVersion]:
    """Distributions visible to this interpreter (or on ``paths``), from their metadata only."""
    found: dict[str, PackageVersion] = {}
    dists = metadata.distributions(path=list(paths)) if paths else metadata.distributions()
    for d in dists:
        name = d.metadata["Name"] if d.metadata else None
        if not name:
            continue
        key = canonicalize_name(name)
        if key in found:
            continue  # first on the path wins, as for import
        where = str(getattr(d, "_path", "") or "installed")
        found[key] = PackageVersion(name, d.version, where, tuple(d.requires or ()))
    return sorted(found.values(), key=lambda p: p.canonical)


# --- requirements and lock files -----------------------------------------------------------

_OPTION = re.compile(r"\s+--?[a-zA-Z][\w-]*(?:[= ]\S+)?")


def read_requirements(path: Path) -> list[PackageVersion]:
    """A pip requirements file, or a TOML lock file (uv.lock, poetry.lock, pylock.toml)."""
    data = read_input(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; expected a requirements or lock file") from None
    if path.suffix in (".lock", ".toml"):
        return _read_lock(path, text)
    return _read_pip(path, text)


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0] if not raw.lstrip().startswith("#") else ""
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            yield start, buf.strip()
        buf = ""
    if buf.strip():
        yield start, buf.strip()


def _read_pip(path: Path, text: str) -> list[PackageVersion]:
    out: list[PackageVersion] = []
    for n, line in _logical_lines(text):
        where = f"{path}:{n}"
        if line.startswith("-"):
            if line.startswith(("-r", "--requirement", "-c", "--constraint", "-e", "--editable")):
                out.append(PackageVersion(line.split()[0], None, where + " (not followed)"))
            continue  # index options and the like say nothing about versions
        spec = _OPTION.sub("", " " + line).strip()  # drop --hash=... per-requirement options
        try:
            req = Requirement(spec)
        except InvalidRequirement as exc:
            # The reason and column only: the line itself may be anything (a key, a secret).
            raise InputError(
                f"{where}: not a PEP 508 requirement ({_reason(exc)}); fix or remove the line"
            ) from None
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        out.append(PackageVersion(req.name, _pinned(req), where))
    return out


def _reason(exc: InvalidRequirement) -> str:
    """packaging's first message line (what it expected), and the column of its caret."""
    lines = str(exc).splitlines()
    reason = lines[0][:120] if lines else "invalid"
    caret = next((ln.find("^") for ln in reversed(lines) if "^" in ln), -1)
    return f"{reason}, column {caret - 3}" if caret >= 4 else reason


def _pinned(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if req.url or len(specs) != 1:
        return None
    s = specs[0]
    if s.operator == "===" or (s.operator == "==" and "*" not in s.version):
        return s.version
    return None


_TOML_AT = re.compile(r"\(at (line \d+, column \d+|end of document)\)")


def _read_lock(path: Path, text: str) -> list[PackageVersion]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = _TOML_AT.search(str(exc))  # the position only: messages quote keys
        where = at.group(1) if at else "not parsable"
        raise InputError(f"{path}: not valid TOML ({where}); expected a lock file") from None
    entries = doc.get("package", doc.get("packages"))
    if not isinstance(entries, list):
        raise InputError(f"{path}: no [[package]] or [[packages]] tables; not a lock file we read")
    out = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            raise InputError(f"{path}: package entry {i} has no name")
        ver = e.get("version")
        if ver is not None and not isinstance(ver, str):
            raise InputError(f"{path}: package entry {i} has a non-string version")
        out.append(PackageVersion(e["name"], ver, f"{path}:{e['name']}"))
    return out


# --- CycloneDX SBOM ------------------------------------------------------------------------


def read_sbom(path: Path) -> list[PackageVersion]:
    """PyPI components of a CycloneDX JSON SBOM, identified by their purls."""
    data = read_input(path)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        where = (
            f"line {exc.lineno}, column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else "not UTF-8 text"
        )
        raise InputError(f"{path}: not valid JSON ({where}); expected a CycloneDX SBOM") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise InputError(f"{path}: not a CycloneDX SBOM (bomFormat must be 'CycloneDX')")
    out: list[PackageVersion] = []
    count = 0

    def walk(components: object, trail: str, depth: int) -> None:
        nonlocal count
        if components is None:
            return
        if not isinstance(components, list):
            raise InputError(f"{path}: {trail} must be a list of components")
        if depth > _MAX_DEPTH:
            raise InputError(f"{path}: components nest deeper than {_MAX_DEPTH}")
        for i, c in enumerate(components):
            count += 1
            if count > _MAX_COMPONENTS:
                raise InputError(f"{path}: more than {_MAX_COMPONENTS} components")
            where = f"{trail}[{i}]"
            if not isinstance(c, dict):
                raise InputError(f"{path}: {where} must be an object")
            purl = c.get("purl")
            if purl is not None:
                label = c.get("bom-ref") or c.get("name") or where
                # Errors name the component's position, never its values.
                if not isinstance(purl, str):
                    raise InputError(f"{path}: {where}: purl must be a string")
                try:
                    p = PackageURL.from_string(purl)
                except ValueError:
                    raise InputError(
                        f"{path}: {where}: invalid purl; expected pkg:pypi/NAME@VERSION"
                    ) from None
                if p.type == "pypi":
                    out.append(PackageVersion(p.name, p.version, f"{path}:{label}"))
            walk(c.get("components"), where + ".components", depth + 1)

    meta = doc.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("component"), dict):
        walk([meta["component"]], "metadata.component", 0)
    walk(doc.get("components", []), "components", 0)
    return out
