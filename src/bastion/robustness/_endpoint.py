"""Black-box HTTP endpoint targets: an inference URL, a request template and a
response path.

The template (YAML or JSON) is the request body with a placeholder for the input: a
value exactly ``$INPUTS`` becomes the batch (a list of rows, at most ``batch_size`` per
request), a value exactly ``$INPUT`` one row (one request per row); rows are flat lists
of numbers unless ``flatten: false``. ``response_path`` names the answer in the
response: per-row probabilities (``output: probabilities``, a list of lists for a batch)
or class indices (``output: label``). The target declares PROBABILITIES (with LABELS) or
LABELS only, so the score-based Square attack, the label-only HopSkipJump attack and the
membership and extraction attacks run against it; gradient attacks are refused.

Every request goes through the room's bounded client (:mod:`bastion.robustness._http`):
loopback only unless the operator allows a host, timeouts, retries, a response size
limit, no redirects. On top: at most ``concurrency`` requests in flight and a query
budget (rows sent) past which the target refuses, so an attack cannot run away with a
paid or rate-limited endpoint. A malformed answer (wrong shape, not finite, not a
distribution, a label outside the classes) fails closed with the reason.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bastion.core.documents import load_document
from bastion.robustness._http import BoundedClient, ClientOwner, Limits, fill, json_path
from bastion.robustness.interface import Capability, RobustnessError

__all__ = [
    "EndpointTarget",
    "EndpointTemplate",
    "load_endpoint_template",
    "open_endpoint",
]

MAX_TEMPLATE_BYTES = 64 * 1024
MAX_QUERY_BUDGET = 10_000_000
MAX_CONCURRENCY = 64


class EndpointTemplate(BaseModel):
    """How to ask an inference endpoint and where its answer is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, max_length=2000)
    method: str = Field(default="POST", pattern=r"^(POST|PUT)$")
    headers: dict[str, str] = Field(default_factory=dict)
    #: header name -> environment variable holding its value (never stored in evidence)
    headers_from_env: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any]
    response_path: str = Field(pattern=r"^\$", max_length=200)
    output: Literal["probabilities", "label"] = "probabilities"
    input_shape: tuple[int, ...] = Field(min_length=1, max_length=4)
    n_classes: int = Field(ge=2, le=100_000)
    batch_size: int = Field(default=64, ge=1, le=10_000)
    flatten: bool = True

    @model_validator(mode="after")
    def _placeholder(self) -> EndpointTemplate:
        if any(d < 1 for d in self.input_shape):
            raise ValueError("input_shape: every dimension must be positive")
        batch, one = _exact(self.body, "$INPUTS"), _exact(self.body, "$INPUT")
        if batch + one != 1:
            raise ValueError(
                "body: put exactly one value that is exactly $INPUTS (the batch) or $INPUT "
                "(one row per request)"
            )
        return self

    @property
    def batched(self) -> bool:
        return _exact(self.body, "$INPUTS") == 1


def _exact(node: Any, token: str) -> int:
    if isinstance(node, str):
        return int(node == token)
    if isinstance(node, dict):
        return sum(_exact(v, token) for v in node.values())
    if isinstance(node, list):
        return sum(_exact(v, token) for v in node)
    return 0


def load_endpoint_template(path: Path) -> EndpointTemplate:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise RobustnessError(f"template {path}: cannot read ({exc.strerror})") from None
    return load_document(
        text, EndpointTemplate, what=f"endpoint template {path.name}", max_bytes=MAX_TEMPLATE_BYTES
    )


class EndpointTarget(ClientOwner):
    """A classifier behind an HTTP endpoint (see the module docstring)."""

    kind = "http-endpoint"

    def __init__(
        self,
        template: EndpointTemplate,
        url: str | None = None,
        *,
        limits: Limits | None = None,
        allow_hosts: tuple[str, ...] = (),
        query_budget: int = 1_000_000,
        concurrency: int = 4,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if not 1 <= query_budget <= MAX_QUERY_BUDGET:
            raise RobustnessError(f"query budget must lie in 1..{MAX_QUERY_BUDGET:,}")
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise RobustnessError(f"concurrency must lie in 1..{MAX_CONCURRENCY}")
        env = os.environ if environ is None else environ
        target = url or template.url
        if not target:
            raise RobustnessError(
                "give the endpoint URL (on the command line or as url: in the template)"
            )
        headers = dict(template.headers)
        for name, var in template.headers_from_env.items():
            if var not in env:
                raise RobustnessError(
                    f"template header {name}: environment variable {var} is not set"
                )
            headers[name] = env[var]
        self.template = template
        self._http = BoundedClient(
            target,
            limits=limits or Limits(),
            allow_hosts=allow_hosts,
            headers=headers,
            method=template.method,
            max_connections=concurrency,
        )
        self.input_shape = tuple(template.input_shape)
        self.n_classes = template.n_classes
        self.capabilities = (
            frozenset({Capability.PROBABILITIES, Capability.LABELS})
            if template.output == "probabilities"
            else frozenset({Capability.LABELS})
        )
        self.query_budget = query_budget
        self.concurrency = concurrency
        self.queries = 0
        self.requests = 0
        self._lock = threading.Lock()

    def _charge(self, rows: int) -> None:
        with self._lock:
            if self.queries + rows > self.query_budget:
                raise RobustnessError(
                    f"the endpoint's query budget of {self.query_budget:,} rows is spent "
                    f"({self.queries:,} sent); raise --query-budget to go on"
                )
            self.queries += rows
            self.requests += 1

    def _rows(self, x: NDArray[Any]) -> list[Any]:
        arr = np.asarray(x, dtype=np.float64)
        if tuple(arr.shape[1:]) != self.input_shape and arr.ndim == 2:
            arr = arr.reshape((len(arr), *self.input_shape))
        if tuple(arr.shape[1:]) != self.input_shape:
            raise RobustnessError(
                f"inputs of shape {tuple(arr.shape[1:])} do not match the endpoint's "
                f"{self.input_shape}"
            )
        if self.template.flatten:
            arr = arr.reshape(len(arr), -1)
        out: list[Any] = arr.tolist()
        return out

    def _ask(self, rows: list[Any]) -> list[Any]:
        self._charge(len(rows))
        tpl = self.template
        body = fill(tpl.body, {}, {"$INPUTS": rows} if tpl.batched else {"$INPUT": rows[0]})
        _status, doc, error, _seconds = self._http.post(body)
        if error is not None:
            raise RobustnessError(f"endpoint {self.location}: {error}")
        answer = json_path(doc, tpl.response_path)
        if answer is None:
            raise RobustnessError(f"endpoint {self.location}: nothing at {tpl.response_path}")
        return answer if tpl.batched else [answer]

    def _answers(self, x: NDArray[Any]) -> list[Any]:
        rows = self._rows(x)
        step = self.template.batch_size if self.template.batched else 1
        chunks = [rows[i : i + step] for i in range(0, len(rows), step)]
        if len(chunks) == 1 or self.concurrency == 1:
            parts = [self._ask(c) for c in chunks]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
                parts = list(pool.map(self._ask, chunks))
        out: list[Any] = []
        for chunk, part in zip(chunks, parts, strict=True):
            if not isinstance(part, list) or len(part) != len(chunk):
                raise RobustnessError(
                    f"endpoint {self.location}: {len(chunk)} rows sent, the answer at "
                    f"{self.template.response_path} is not a list of {len(chunk)}"
                )
            out.extend(part)
        return out

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float32]:
        if Capability.PROBABILITIES not in self.capabilities:
            raise RobustnessError("this endpoint answers labels only")
        if len(x) == 0:
            return np.zeros((0, self.n_classes), dtype=np.float32)
        try:
            p = np.asarray(self._answers(x), dtype=np.float64)
        except (TypeError, ValueError):
            raise RobustnessError(
                f"endpoint {self.location}: the probabilities are not numbers"
            ) from None
        if p.shape != (len(x), self.n_classes):
            raise RobustnessError(
                f"endpoint {self.location}: probabilities of shape {p.shape}, expected "
                f"({len(x)}, {self.n_classes})"
            )
        if not np.isfinite(p).all() or (p < -1e-6).any() or not np.allclose(p.sum(1), 1, atol=1e-3):
            raise RobustnessError(
                f"endpoint {self.location}: the answer is not a probability distribution per row"
            )
        return np.ascontiguousarray(p, dtype=np.float32)

    def predict_labels(self, x: NDArray[Any]) -> NDArray[np.int64]:
        if Capability.PROBABILITIES in self.capabilities:
            out: NDArray[np.int64] = self.predict_proba(x).argmax(axis=1).astype(np.int64)
            return out
        if len(x) == 0:
            return np.zeros(0, dtype=np.int64)
        raw = self._answers(x)
        labels: list[int] = []
        for v in raw:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise RobustnessError(f"endpoint {self.location}: a label is not a class index")
            if v != int(v) or not 0 <= int(v) < self.n_classes:
                raise RobustnessError(
                    f"endpoint {self.location}: label {v!r} outside 0..{self.n_classes - 1}"
                )
            labels.append(int(v))
        return np.asarray(labels, dtype=np.int64)

    def describe(self) -> dict[str, Any]:
        """What evidence records about the endpoint (no headers: they may hold secrets)."""
        return {
            "location": self.location,
            "output": self.template.output,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "batched": self.template.batched,
            "query_budget": self.query_budget,
            "concurrency": self.concurrency,
            "queries": self.queries,
            "requests": self.requests,
        }


def open_endpoint(
    url: str | None,
    template: Path | EndpointTemplate,
    *,
    allow_hosts: tuple[str, ...] = (),
    query_budget: int = 1_000_000,
    concurrency: int = 4,
    limits: Limits | None = None,
    probe: bool = True,
) -> EndpointTarget:
    """An endpoint target; with ``probe`` one zero input is sent first, so an endpoint
    that does not answer (or answers in another shape) is refused before any work."""
    tpl = load_endpoint_template(template) if isinstance(template, Path) else template
    t = EndpointTarget(
        tpl,
        url or None,
        limits=limits,
        allow_hosts=allow_hosts,
        query_budget=query_budget,
        concurrency=concurrency,
    )
    if probe:
        try:
            t.predict_labels(np.zeros((1, *t.input_shape), dtype=np.float32))
        except RobustnessError as exc:
            t.close()
            raise RobustnessError(f"preflight: {exc}") from None
    return t
