"""The PIA questionnaire template (YAML): sections of questions, each with a kind, where
its answer is prefilled from, and the risk an answer raises."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bastion.core.documents import load_document
from bastion.core.errors import InputError

__all__ = ["Question", "Risk", "Section", "Template", "default_template", "load_template"]

MAX_TEMPLATE_BYTES = 256 * 1024
_ID = r"^[a-z][a-z0-9_]{0,63}$"
PREFILLS = (
    "manifest.pii_assets", "manifest.special_categories", "manifest.pii_flows",
    "manifest.flows_encrypted", "manifest.jurisdictions", "manifest.cross_border",
    "manifest.human_oversight", "evidence.privacy.pii_scan", "evidence.privacy.masking",
    "evidence.privacy.minimization", "evidence.privacy.dp", "evidence.data.validation",
    "evidence.privacy.retention", "evidence.privacy.erasure",
)  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Risk(_Strict):
    when: Literal["yes", "no", "empty"]
    likelihood: int = Field(ge=1, le=5)
    impact: int = Field(ge=1, le=5)
    title: str = Field(min_length=3, max_length=200)
    treatment: str = Field(min_length=3, max_length=1000)


class Question(_Strict):
    id: str = Field(pattern=_ID)
    text: str = Field(min_length=3, max_length=500)
    kind: Literal["yes_no", "text", "list"]
    prefill: str | None = None
    risk: Risk | None = None
    required_if: dict[str, str] | None = None

    @model_validator(mode="after")
    def _check(self) -> Question:
        if self.prefill is not None and self.prefill not in PREFILLS:
            raise ValueError(f"prefill {self.prefill!r} is not one of {', '.join(PREFILLS)}")
        if self.risk is not None and self.risk.when != "empty" and self.kind != "yes_no":
            raise ValueError("a yes/no risk needs a yes_no question")
        return self


class Section(_Strict):
    id: str = Field(pattern=_ID)
    title: str = Field(min_length=3, max_length=200)
    questions: tuple[Question, ...] = Field(min_length=1, max_length=200)


class Template(_Strict):
    version: Literal[1] = 1
    name: str = Field(max_length=100)
    sections: tuple[Section, ...] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _unique(self) -> Template:
        ids = [q.id for s in self.sections for q in s.questions]
        dup = next((i for i in ids if ids.count(i) > 1), None)
        if dup:
            raise ValueError(f"question id {dup!r} is used twice")
        for q in self.questions():
            for other in q.required_if or {}:
                if other not in ids:
                    raise ValueError(f"{q.id}: required_if names no question {other!r}")
        return self

    def questions(self) -> list[Question]:
        return [q for s in self.sections for q in s.questions]

    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def _parse(raw: bytes, what: str) -> Template:
    return load_document(raw, Template, what=what, max_bytes=MAX_TEMPLATE_BYTES)


def default_template() -> Template:
    """The bundled questionnaire (``bastion/privacy/pia/template.yaml``)."""
    raw = resources.files("bastion.privacy.pia").joinpath("template.yaml").read_bytes()
    return _parse(raw, "PIA template")


def load_template(path: Path) -> Template:
    try:
        if path.stat().st_size > MAX_TEMPLATE_BYTES:
            raise InputError(f"{path.name}: larger than {MAX_TEMPLATE_BYTES} bytes")
        return _parse(path.read_bytes(), path.name)
    except FileNotFoundError:
        raise InputError(f"{path.name}: no such PIA template") from None
