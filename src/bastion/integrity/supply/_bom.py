"""The AI bill of materials: CycloneDX 1.6 built with cyclonedx-python-lib, then schema-checked.

cyclonedx-python-lib has no model for ``modelCard`` or a component's ``data`` yet, so the
BOM is built with the library and those two CycloneDX 1.6 fields are added to its JSON
before the whole document is validated against the 1.6 schema. An invalid BOM is never
returned.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.core.errors import CheckError, InputError
from bastion.integrity.supply._osv import PackageVersion

__all__ = [
    "AiBom",
    "ModelFile",
    "build_ai_bom",
    "build_system_bom",
    "hash_model_dir",
    "manifest_digest",
]

MAX_METADATA_BYTES = 4 * 1024 * 1024
MAX_FILES = 100_000
_IGNORE = frozenset({".git", ".hg", ".svn", "__pycache__", ".DS_Store"})
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_BUF = 4 * 1024 * 1024

# metadata.json "framework" -> the distribution that loads the model
_FRAMEWORK_DIST = {
    "scikit-learn": "scikit-learn",
    "sklearn": "scikit-learn",
    "pytorch": "torch",
    "torch": "torch",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "onnx": "onnxruntime",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "transformers": "transformers",
}
_SERVICE_KINDS = ("inference_endpoint", "third_party_model_api", "external_service")
_EXTERNAL_KINDS = ("third_party_model_api", "external_service")


@dataclass(frozen=True)
class ModelFile:
    path: str  # relative, POSIX
    size: int
    sha256: str


@dataclass(frozen=True)
class AiBom:
    """A validated CycloneDX 1.6 document and a summary of what it lists."""

    document: str
    sha256: str
    serial_number: str
    model: str
    manifest_sha256: str
    files: int
    datasets: int
    libraries: int
    services: int

    def summary(self) -> dict[str, Any]:
        return {
            "spec_version": "1.6",
            "serial_number": self.serial_number,
            "sha256": self.sha256,
            "model": self.model,
            "manifest_sha256": self.manifest_sha256,
            "files": self.files,
            "datasets": self.datasets,
            "libraries": self.libraries,
            "services": self.services,
        }


# --- hashing (private helper until the signing part exposes its hashing engine) ------------


def _sha256_file(path: Path, buf: bytearray) -> str:
    h = hashlib.sha256()
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def hash_model_dir(model_dir: Path) -> list[ModelFile]:
    """Per-file SHA-256 of a model directory through the room's hashing engine.

    Same walk rules as signing (symlinks refused, VCS folders ignored), so the BOM's
    digests are the ones a signature covers.
    """
    from bastion.integrity.signing import signed_manifest

    root = model_dir.resolve()
    if not root.is_dir():
        raise InputError(f"{model_dir}: not a directory; pass the model's directory")
    manifest = signed_manifest(root)
    if len(manifest.entries) > MAX_FILES:
        raise InputError(f"{model_dir}: more than {MAX_FILES} files")
    files = [ModelFile(e.path, e.size, e.digest) for e in manifest.entries]
    if not files:
        raise InputError(f"{model_dir}: no files to describe")
    return files


def manifest_digest(files: Sequence[ModelFile]) -> str:
    """The model-signing root digest over the files, in manifest order (hex).

    Manifest order is model-signing's (path parts, not plain strings: ``tokenizer/a``
    sorts before ``tokenizer.json``), so this equals ``signed_manifest(dir).digest``, the
    digest a signature and a registry version name.
    """
    from bastion.integrity._hashing import root_digest, sort_key

    return root_digest(f.sha256 for f in sorted(files, key=lambda f: sort_key(f.path)))


def _read_metadata(model_dir: Path) -> dict[str, Any]:
    p = model_dir / "metadata.json"
    if not p.is_file() or p.is_symlink():
        return {}
    size = p.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise InputError(f"{p}: {size} bytes exceeds {MAX_METADATA_BYTES} for a model card")
    try:
        doc = json.loads(p.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not valid JSON ({exc}); fix metadata.json or remove it") from None
    if not isinstance(doc, dict):
        raise InputError(f"{p}: must be a JSON object of model-card fields")
    return doc


def _s(value: object, limit: int = 500) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:limit]


# --- building ------------------------------------------------------------------------------


def build_ai_bom(
    model_dir: Path,
    *,
    environment: Sequence[PackageVersion] = (),
    system: Mapping[str, Any] | None = None,
    system_info: Mapping[str, Any] | None = None,
    files: Sequence[ModelFile] | None = None,
) -> AiBom:
    """Describe a model directory, its training data, its Python environment and its services.

    ``system`` is a stored manifest (``SystemRecord.manifest``); ``system_info`` its id,
    version and digest, recorded in the BOM's metadata. ``files`` skips re-hashing when the
    caller already hashed the directory.
    """
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    from bastion import __version__

    files = list(files) if files is not None else hash_model_dir(model_dir)
    meta = _read_metadata(model_dir)
    manifest = manifest_digest(files)
    name = _s(meta.get("name"), 200) or model_dir.resolve().name

    def sha(hexdigest: str) -> HashType:
        return HashType(alg=HashAlgorithm.SHA_256, content=hexdigest)

    bom = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"bastion:ai-bom:{name}:{manifest}"))
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="bastion", version=__version__)
    )
    props = [Property(name="bastion:manifest-sha256", value=manifest)]
    props += [
        Property(name=f"bastion:{key.replace('_', '-')}", value=v)
        for key in ("framework", "framework_version", "model_class")
        if (v := _s(meta.get(key))) is not None
    ]
    art = meta.get("artifact")
    artifact: dict[str, Any] = art if isinstance(art, dict) else {}
    props += [
        Property(name=f"bastion:artifact-{key}", value=v)
        for key in ("path", "format")
        if (v := _s(artifact.get(key))) is not None
    ]
    model = Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=name,
        version=_s(meta.get("version"), 100),
        description=_s(meta.get("description")) or _s(meta.get("model_class")),
        bom_ref=f"model:{name}",
        properties=props,
    )
    for f in files:
        model.components.add(
            Component(
                type=ComponentType.FILE,
                name=f.path,
                bom_ref=f"model:{name}/file:{f.path}",
                hashes=[sha(f.sha256)],
                properties=[Property(name="bastion:size", value=str(f.size))],
            )
        )
    bom.metadata.component = model

    # training data -> a data component pinned by its digest
    datasets: list[tuple[str, dict[str, Any]]] = []
    td = meta.get("training_data")
    if isinstance(td, dict):
        digest = td.get("sha256")
        if digest is not None and (not isinstance(digest, str) or not _HEX64.match(digest)):
            raise InputError(
                f"{model_dir}/metadata.json: training_data.sha256 must be 64 hex digits"
            )
        dname = _s(td.get("name")) or _s(td.get("path")) or "training data"
        ref = f"data:{digest[:16] if digest else dname}"
        detail = ", ".join(
            f"{k}={td[k]}"
            for k in ("rows", "train_rows", "test_rows", "test_fraction", "split_seed", "label")
            if k in td and not isinstance(td[k], dict | list)
        )
        bom.components.add(
            Component(
                type=ComponentType.DATA,
                name=dname,
                bom_ref=ref,
                hashes=[sha(digest)] if digest else [],
                description=detail or None,
            )
        )
        datasets.append(
            (ref, {"type": "dataset", "name": dname, **({"description": detail} if detail else {})})
        )

    # the Python environment, with its requirement edges
    libs: dict[str, Any] = {}
    for pkg in environment:
        if pkg.version is None:
            continue
        purl = PackageURL(type="pypi", name=pkg.canonical, version=pkg.version)
        libs[pkg.canonical] = Component(
            type=ComponentType.LIBRARY,
            name=pkg.name,
            version=pkg.version,
            purl=purl,
            bom_ref=purl.to_string(),
        )
    for c in libs.values():
        bom.components.add(c)
    for pkg in environment:
        if pkg.canonical not in libs:
            continue
        deps = []
        for spec in pkg.requires:
            try:
                req = Requirement(spec)
            except InvalidRequirement:
                continue  # a broken requirement string in installed metadata: no edge
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            target = libs.get(canonicalize_name(req.name))
            if target is not None:
                deps.append(target)
        bom.register_dependency(libs[pkg.canonical], deps)
    model_deps = [c for ref, _ in datasets for c in bom.components if str(c.bom_ref) == ref]
    fw = _FRAMEWORK_DIST.get(str(meta.get("framework", "")).lower())
    if fw and fw in libs:
        model_deps.append(libs[fw])
    bom.register_dependency(model, model_deps)

    n_services = _add_services(bom, system, system_info, name, OrganizationalEntity)
    if system_info:
        for key in ("id", "version", "digest"):
            if key in system_info:
                bom.metadata.properties.add(
                    Property(name=f"bastion:system-{key}", value=str(system_info[key]))
                )

    with warnings.catch_warnings():
        # A model whose framework is unknown has no known dependencies; that is the truth,
        # not an incomplete graph, so the library's warning about it is not ours to raise.
        warnings.filterwarnings(
            "ignore", message=".*has no defined dependencies", category=UserWarning
        )
        doc = json.loads(JsonV1Dot6(bom).output_as_string())
    _add_model_card(doc, meta, datasets)
    for comp in doc.get("components", []):
        for ref, data in datasets:
            if comp.get("bom-ref") == ref:
                comp["data"] = [data]
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    _validate(text)
    return AiBom(
        document=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        serial_number=str(doc["serialNumber"]),
        model=name,
        manifest_sha256=manifest,
        files=len(files),
        datasets=len(datasets),
        libraries=len(libs),
        services=n_services,
    )


def _add_services(
    bom: Any,
    system: Mapping[str, Any] | None,
    info: Mapping[str, Any] | None,
    model_name: str,
    org: Any,
) -> int:
    from cyclonedx.model import DataClassification, DataFlow, Property, XsUri
    from cyclonedx.model.service import Service

    if not system:
        return 0
    system_id = str((info or {}).get("id") or system.get("system", {}).get("id", "system"))
    assets = [a for a in system.get("assets", []) if isinstance(a, dict)]
    boundary_of: dict[str, set[str]] = {}
    for b in system.get("boundaries", []) or []:
        for aid in b.get("assets", []) or []:
            boundary_of.setdefault(str(aid), set()).add(str(b.get("id")))
    model_zones = boundary_of.get(model_name, set())
    n = 0
    for a in assets:
        if a.get("kind") not in _SERVICE_KINDS:
            continue
        aid = str(a.get("id"))
        hosting = a.get("hosting") or {}
        props = a.get("properties") or {}
        endpoints = []
        for key in ("url", "endpoint", "route"):
            v = props.get(key)
            if isinstance(v, str) and v and " " not in v:
                endpoints.append(XsUri(v))
        external = a.get("kind") in _EXTERNAL_KINDS or hosting.get("environment") == "saas"
        zones = boundary_of.get(aid, set())
        crosses = external or bool(model_zones and zones and not (zones & model_zones))
        sprops = [Property(name="bastion:asset-kind", value=str(a.get("kind")))]
        sprops += [
            Property(name=f"bastion:{k}", value=str(props[k]))
            for k in ("vendor", "model", "contract")
            if k in props and not isinstance(props[k], dict | list)
        ]
        if hosting.get("region"):
            sprops.append(Property(name="bastion:region", value=str(hosting["region"])))
        bom.services.add(
            Service(
                name=str(a.get("name") or aid),
                bom_ref=f"service:{system_id}/{aid}",
                group=system_id,
                provider=org(name=str(hosting["provider"])) if hosting.get("provider") else None,
                description=_s(a.get("description")),
                endpoints=endpoints,
                authenticated=str(a.get("authentication", "none")) != "none",
                x_trust_boundary=crosses,
                data=[
                    DataClassification(
                        flow=DataFlow.BI_DIRECTIONAL,
                        classification=str(a.get("classification", "unknown")),
                    )
                ],
                properties=sprops,
            )
        )
        n += 1
    return n


def _add_model_card(
    doc: dict[str, Any], meta: Mapping[str, Any], datasets: list[tuple[str, dict[str, Any]]]
) -> None:
    params: dict[str, Any] = {}
    td = meta.get("training_data")
    if isinstance(td, dict) and td.get("label"):
        params["approach"] = {"type": "supervised"}
    if task := _s(meta.get("task"), 200):
        params["task"] = task
    if arch := _s(meta.get("model_class"), 200):
        params["architectureFamily"] = arch.rsplit(".", 1)[-1]
        params["modelArchitecture"] = arch
    if datasets:
        params["datasets"] = [{"ref": ref} for ref, _ in datasets]
    feats = meta.get("features")
    if isinstance(feats, list) and feats:
        params["inputs"] = [{"format": f"tabular ({len(feats)} features)"}]
    card: dict[str, Any] = {}
    if params:
        card["modelParameters"] = params
    metrics = meta.get("metrics")
    if isinstance(metrics, dict):
        perf = [
            {"type": str(k)[:100], "value": str(v)}
            for k, v in sorted(metrics.items())
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if perf:
            card["quantitativeAnalysis"] = {"performanceMetrics": perf}
    hyper = meta.get("hyperparameters")
    if isinstance(hyper, dict) and hyper:
        card["properties"] = [
            {"name": f"bastion:hyperparameter:{k}", "value": json.dumps(v, sort_keys=True)}
            for k, v in sorted(hyper.items())
        ]
    if card:
        doc["metadata"]["component"]["modelCard"] = card


def _validate(text: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise CheckError(f"generated AI-BOM does not validate against CycloneDX 1.6: {error}")


def build_system_bom(
    system: Mapping[str, Any],
    system_info: Mapping[str, Any],
    model_boms: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """A CycloneDX 1.6 BOM of a stored system from its manifest alone (no files are read).

    Models become machine-learning-model components, datasets data components and
    endpoints and third-party APIs services; ``model_boms`` (asset id -> the summary of the
    model's latest ``integrity.bom`` evidence) adds the hashed manifest of each model.
    """
    from cyclonedx.model import Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.contact import OrganizationalEntity
    from cyclonedx.output.json import JsonV1Dot6

    from bastion import __version__

    system_id = str(system_info["id"])
    bom = Bom(
        serial_number=uuid.uuid5(
            uuid.NAMESPACE_URL, f"bastion:system-bom:{system_id}:{system_info.get('digest')}"
        )
    )
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="bastion", version=__version__)
    )
    sysinfo = system.get("system", {}) if isinstance(system.get("system"), dict) else {}
    bom.metadata.component = Component(
        type=ComponentType.APPLICATION,
        name=str(sysinfo.get("name") or system_id),
        bom_ref=f"system:{system_id}",
        description=_s(sysinfo.get("purpose")),
    )
    for key in ("id", "version", "digest"):
        if key in system_info:
            bom.metadata.properties.add(
                Property(name=f"bastion:system-{key}", value=str(system_info[key]))
            )
    data: list[tuple[str, dict[str, Any]]] = []
    for a in system.get("assets", []):
        if not isinstance(a, dict) or a.get("kind") not in ("model", "dataset"):
            continue
        aid = str(a.get("id"))
        props = a.get("properties") or {}
        plist = [Property(name="bastion:owner", value=str(a.get("owner", "")))]
        plist += [
            Property(name=f"bastion:{k}", value=str(v))
            for k, v in sorted(props.items())
            if not isinstance(v, dict | list)
        ]
        if a["kind"] == "model":
            summary = (model_boms or {}).get(aid)
            if summary:
                plist.append(
                    Property(
                        name="bastion:manifest-sha256", value=str(summary.get("manifest_sha256"))
                    )
                )
                plist.append(Property(name="bastion:bom-sha256", value=str(summary.get("sha256"))))
            bom.components.add(
                Component(
                    type=ComponentType.MACHINE_LEARNING_MODEL,
                    name=str(a.get("name") or aid),
                    bom_ref=f"model:{system_id}/{aid}",
                    description=_s(a.get("description")),
                    properties=plist,
                )
            )
        else:
            ref = f"data:{system_id}/{aid}"
            bom.components.add(
                Component(
                    type=ComponentType.DATA,
                    name=str(a.get("name") or aid),
                    bom_ref=ref,
                    description=_s(a.get("description")),
                    properties=plist,
                )
            )
            data.append(
                (
                    ref,
                    {
                        "type": "dataset",
                        "name": str(a.get("name") or aid),
                        "classification": str(a.get("classification", "unknown")),
                    },
                )
            )
    _add_services(bom, system, system_info, "", OrganizationalEntity)
    bom.register_dependency(bom.metadata.component, [*bom.components, *bom.services])
    doc = json.loads(JsonV1Dot6(bom).output_as_string())
    for comp in doc.get("components", []):
        for ref, d in data:
            if comp.get("bom-ref") == ref:
                comp["data"] = [d]
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    _validate(text)
    return text
