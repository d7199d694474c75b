"""LLM targets over HTTP: an OpenAI-compatible ``/v1/chat/completions`` endpoint, or any
endpoint described by a request template and response paths.

Every target is bounded: a host allowlist (loopback unless the operator names more),
connect/read timeouts, retries with backoff on transport errors, 429 and 5xx, a cap on
the response size read (the body is streamed and abandoned past it), no redirects, and
credentials read from an environment variable, never logged nor kept in evidence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from bastion.core.documents import load_document
from bastion.robustness._http import BoundedClient, ClientOwner, Limits, check_url, json_path
from bastion.robustness._http import fill as _fill
from bastion.robustness._http import uses as _uses
from bastion.robustness.llm.interface import (
    Conversation,
    Message,
    Reply,
    RobustnessError,
    ToolCall,
)

__all__ = [
    "Limits",
    "OpenAIChatTarget",
    "RequestTemplate",
    "TemplateTarget",
    "check_url",
    "json_path",
    "load_template",
    "open_target",
    "preview",
]

MAX_TEMPLATE_BYTES = 64 * 1024
MAX_TOOL_ARGS = 4000


class _HttpTarget(ClientOwner):
    kind = "http"
    configurable_system_prompt = False
    supports_tools = False

    def __init__(
        self,
        url: str,
        *,
        limits: Limits,
        allow_hosts: tuple[str, ...],
        headers: Mapping[str, str],
        method: str = "POST",
    ) -> None:
        self._http = BoundedClient(
            url, limits=limits, allow_hosts=allow_hosts, headers=headers, method=method
        )
        self.url = self._http.url
        self.limits = limits
        self.method = method

    def body(self, conversation: Conversation) -> Any:
        raise NotImplementedError

    def parse(self, status: int, doc: Any, seconds: float) -> Reply:
        raise NotImplementedError

    def exchange(self, conversation: Conversation) -> tuple[Any, Any, Reply]:
        """``(request body, parsed response or None, reply)`` of one request."""
        body = self.body(conversation)
        status, doc, error, seconds = self._http.post(body)
        if error is not None:
            return body, doc, Reply("", status=status, seconds=seconds, error=error)
        return body, doc, self.parse(status, doc, seconds)

    def send(self, conversation: Conversation) -> Reply:
        return self.exchange(conversation)[2]


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        return ()
    calls: list[ToolCall] = []
    for item in raw[:64]:
        if not isinstance(item, dict):
            continue
        fn = item.get("function") if isinstance(item.get("function"), dict) else item
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str):
            continue
        args = fn.get("arguments", "") if isinstance(fn, dict) else ""
        args_text = args if isinstance(args, str) else json.dumps(args)
        calls.append(ToolCall(name[:200], args_text[:MAX_TOOL_ARGS], str(item.get("id", ""))[:100]))
    return tuple(calls)


def _content_text(content: Any) -> str:
    """A message's text: a string, or the text parts of a content-part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content[:256]
            if isinstance(p, dict) and p.get("type") in ("text", "output_text")
        )
    return ""


def _openai_message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


class OpenAIChatTarget(_HttpTarget):
    """An OpenAI-compatible chat endpoint (``.../v1/chat/completions``). The harness
    sets the system prompt and offers tools; the reply's ``tool_calls`` are read."""

    kind = "openai-chat"
    configurable_system_prompt = True
    supports_tools = True

    def __init__(
        self,
        url: str,
        *,
        model: str = "default",
        api_key: str | None = None,
        limits: Limits | None = None,
        allow_hosts: tuple[str, ...] = (),
        temperature: float | None = 0.0,
        max_tokens: int | None = 512,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        super().__init__(url, limits=limits or Limits(), allow_hosts=allow_hosts, headers=headers)
        self.model, self.temperature, self.max_tokens = model, temperature, max_tokens

    def body(self, conversation: Conversation) -> Any:
        messages = [_openai_message(m) for m in conversation.messages]
        if conversation.document:
            messages.insert(
                len(messages) - 1,
                {
                    "role": "user",
                    "content": f"<retrieved_document>\n{conversation.document}\n</retrieved_document>",
                },
            )
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if conversation.tools:
            body["tools"] = [t.to_openai() for t in conversation.tools]
        return body

    def parse(self, status: int, doc: Any, seconds: float) -> Reply:
        try:
            msg = doc["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            return Reply(
                "", status=status, seconds=seconds, error="no choices[0].message in the response"
            )
        content = msg.get("content") if isinstance(msg, dict) else None
        calls = _tool_calls(msg.get("tool_calls")) if isinstance(msg, dict) else ()
        return Reply(_content_text(content), calls, status, seconds)


# --- the generic template target ---


class RequestTemplate(BaseModel):
    """A request template (YAML or JSON). ``body``: the JSON body, where a string
    ``$INPUT``, ``$SYSTEM``, ``$DOCUMENT`` inside any value is replaced by the text (as
    a JSON string, never spliced into JSON syntax) and a value exactly ``$MESSAGES`` by
    the OpenAI-style message list (``$TOOLS``: the tools offered, OpenAI-shaped). Without
    ``$DOCUMENT`` a retrieved document is put
    before the input; without ``$SYSTEM`` or ``$MESSAGES`` the system prompt is not ours.
    ``headers_from_env``: header name -> environment variable holding its value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, max_length=2000)
    method: str = Field(default="POST", pattern=r"^(POST|PUT)$")
    headers: dict[str, str] = Field(default_factory=dict)
    headers_from_env: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any]
    response_path: str = Field(pattern=r"^\$", max_length=200)
    tool_calls_path: str | None = Field(default=None, pattern=r"^\$", max_length=200)


def load_template(path: Path) -> RequestTemplate:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise RobustnessError(f"template {path}: cannot read ({exc.strerror})") from None
    return load_document(
        text, RequestTemplate, what=f"request template {path.name}", max_bytes=MAX_TEMPLATE_BYTES
    )


class TemplateTarget(_HttpTarget):
    """Any HTTP endpoint described by a :class:`RequestTemplate`."""

    kind = "http-template"

    def __init__(
        self,
        template: RequestTemplate,
        url: str | None = None,
        *,
        limits: Limits | None = None,
        allow_hosts: tuple[str, ...] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        target = url or template.url
        if not target:
            raise RobustnessError(
                "give the target URL (on the command line or as url: in the template)"
            )
        headers = dict(template.headers)
        for name, var in template.headers_from_env.items():
            if var not in env:
                raise RobustnessError(
                    f"template header {name}: environment variable {var} is not set"
                )
            headers[name] = env[var]
        super().__init__(
            target,
            limits=limits or Limits(),
            allow_hosts=allow_hosts,
            headers=headers,
            method=template.method,
        )
        self.template = template
        self.configurable_system_prompt = _uses(template.body, "$SYSTEM") or _uses(
            template.body, "$MESSAGES"
        )
        self.supports_tools = template.tool_calls_path is not None
        self._has_document = _uses(template.body, "$DOCUMENT")
        self._has_messages = _uses(template.body, "$MESSAGES")

    def body(self, conversation: Conversation) -> Any:
        system = next((m.content for m in conversation.messages if m.role == "system"), "")
        turns = [m for m in conversation.messages if m.role != "system"]
        user = "\n\n".join(
            m.content if m.role == "user" else f"[{m.role} result]\n{m.content}"
            for m in turns
            if m.content
        )
        document = conversation.document or ""
        if document and not self._has_document:
            user = f"<retrieved_document>\n{document}\n</retrieved_document>\n\n{user}"
        lists = {
            "$MESSAGES": [_openai_message(m) for m in conversation.messages],
            "$TOOLS": [t.to_openai() for t in conversation.tools],
        }
        return _fill(
            self.template.body, {"$INPUT": user, "$SYSTEM": system, "$DOCUMENT": document}, lists
        )

    def parse(self, status: int, doc: Any, seconds: float) -> Reply:
        text = json_path(doc, self.template.response_path)
        calls = (
            _tool_calls(json_path(doc, self.template.tool_calls_path))
            if self.template.tool_calls_path
            else ()
        )
        if text is None and not calls:
            return Reply(
                "",
                status=status,
                seconds=seconds,
                error=f"nothing at {self.template.response_path}",
            )
        return Reply(
            text if isinstance(text, str) else json.dumps(text)[:100_000], calls, status, seconds
        )


def preview(
    target: OpenAIChatTarget | TemplateTarget, text: str = "Hello! What can you help me with?"
) -> dict[str, Any]:
    """One harmless request, shown whole: the body sent (headers left out: they may hold
    credentials), the raw response (cut at 4000 characters) and what was extracted from
    it. For checking a template before a run."""
    conv = Conversation(messages=(Message("user", text),))
    body, doc, reply = target.exchange(conv)
    raw = json.dumps(doc) if doc is not None else None
    return {
        "target": target.location,
        "kind": target.kind,
        "configurable_system_prompt": bool(target.configurable_system_prompt),
        "supports_tools": bool(target.supports_tools),
        "request": body,
        "status": reply.status,
        "response": raw if raw is None or len(raw) <= 4000 else raw[:4000] + "...",
        "text": reply.text,
        "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in reply.tool_calls],
        "error": reply.error,
    }


def open_target(
    url: str,
    *,
    template: Path | RequestTemplate | None = None,
    model: str = "default",
    api_key_env: str | None = None,
    limits: Limits | None = None,
    allow_hosts: tuple[str, ...] = (),
) -> OpenAIChatTarget | TemplateTarget:
    """The target a URL and options describe: a template target when a template is
    given, otherwise an OpenAI-compatible chat endpoint (``/v1/chat/completions`` is
    appended to a bare base URL)."""
    if template is not None:
        tpl = load_template(template) if isinstance(template, Path) else template
        return TemplateTarget(tpl, url or None, limits=limits, allow_hosts=allow_hosts)
    key = None
    if api_key_env:
        key = os.environ.get(api_key_env)
        if key is None:
            raise RobustnessError(f"--api-key-env: environment variable {api_key_env} is not set")
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
        url = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    return OpenAIChatTarget(url, model=model, api_key=key, limits=limits, allow_hosts=allow_hosts)
