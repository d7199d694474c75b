"""Targets: the URL allowlist, JSONPath-lite, request templates, and the bounds on every
request (retries, timeouts, size cap, no redirects) against a real local server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bastion.core.errors import InputError
from bastion.robustness import RobustnessError
from bastion.robustness.llm import (
    Conversation,
    Limits,
    Message,
    RequestTemplate,
    TemplateTarget,
    ToolSpec,
    check_url,
    json_path,
    load_template,
    open_target,
)
from bastion.robustness.llm.testservers import RunningServer

HELLO = Conversation(messages=(Message("user", "hello"),))
_OK = {"choices": [{"message": {"role": "assistant", "content": "fine"}}]}


class _Flaky(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, raw: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        if status == 302:
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(json.loads(self.rfile.read(n)))
        self.server.hits[self.path] = self.server.hits.get(self.path, 0) + 1
        if self.path == "/flaky/v1/chat/completions" and self.server.hits[self.path] <= 2:
            self._send(503, b"{}")
        elif self.path == "/slow/v1/chat/completions":
            time.sleep(1.0)
            self._send(200, json.dumps(_OK).encode())
        elif self.path == "/big/v1/chat/completions":
            self._send(200, json.dumps({"pad": "x" * 20_000}).encode())
        elif self.path == "/text/v1/chat/completions":
            self._send(200, b"<html>not json</html>", "text/html")
        elif self.path == "/redirect/v1/chat/completions":
            self._send(302, b"")
        else:
            self._send(200, json.dumps(_OK).encode())


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # the size-capped client hangs up mid-body on purpose


@pytest.fixture(scope="module")
def flaky() -> Iterator[ThreadingHTTPServer]:
    srv = _Quiet(("127.0.0.1", 0), _Flaky)
    srv.daemon_threads = True
    srv.hits = {}  # type: ignore[attr-defined]
    srv.bodies = []  # type: ignore[attr-defined]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _base(srv: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("https://api.example.com/v1", "not loopback and not allowed"),
        ("ftp://127.0.0.1/x", "http:// or https://"),
        ("http://user:pw@127.0.0.1/v1", "no credentials in the URL"),
        ("http://127.0.0.1:99999/v1", "Port out of range"),
    ],
)
def test_urls_are_refused_unless_loopback_or_allowed(url: str, match: str) -> None:
    with pytest.raises(RobustnessError, match=match):
        check_url(url)


def test_an_allowed_host_is_accepted_and_location_drops_the_query() -> None:
    assert check_url("https://api.example.com/v1", ("api.example.com",))
    t = open_target("http://127.0.0.1:9/v1?key=secret")
    try:
        assert t.url == "http://127.0.0.1:9/v1/chat/completions?key=secret"
        assert t.location == "http://127.0.0.1:9/v1/chat/completions"
    finally:
        t.close()


def test_open_target_appends_the_chat_route() -> None:
    for given in (
        "http://127.0.0.1:9",
        "http://127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1/chat/completions",
    ):
        t = open_target(given)
        try:
            assert t.url == "http://127.0.0.1:9/v1/chat/completions"
        finally:
            t.close()


def test_json_path_lite() -> None:
    doc = {"choices": [{"message": {"content": "hi", "tool-calls": [1, 2]}}], "a": {"b c": 3}}
    assert json_path(doc, "$.choices[0].message.content") == "hi"
    assert json_path(doc, "$.choices[0].message['tool-calls'][1]") == 2
    assert json_path(doc, '$.a["b c"]') == 3
    assert json_path(doc, "$.choices[3].message") is None
    assert json_path(doc, "$.nope.deeper") is None
    with pytest.raises(RobustnessError, match="must start with"):
        json_path(doc, "choices")
    with pytest.raises(RobustnessError, match="cannot read at position"):
        json_path(doc, "$.choices[x]")


def test_retries_after_503_then_answers(flaky: ThreadingHTTPServer) -> None:
    t = open_target(_base(flaky) + "/flaky", limits=Limits(retries=2, backoff=0.01))
    try:
        reply = t.send(HELLO)
    finally:
        t.close()
    assert reply.error is None and reply.text == "fine"
    assert flaky.hits["/flaky/v1/chat/completions"] == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("route", "limits", "error"),
    [
        ("/slow", Limits(read_timeout=0.2, retries=0), "timed out"),
        ("/big", Limits(max_response_bytes=4096, retries=0), "larger than 4096 bytes"),
        ("/text", Limits(retries=0), "not JSON"),
        ("/redirect", Limits(retries=0), "HTTP 302"),
    ],
)
def test_bounded_requests_report_the_failure_instead_of_raising(
    flaky: ThreadingHTTPServer, route: str, limits: Limits, error: str
) -> None:
    t = open_target(_base(flaky) + route, limits=limits)
    try:
        reply = t.send(HELLO)
    finally:
        t.close()
    assert reply.error is not None and error in reply.error and reply.text == ""


def test_unreachable_target_is_an_error_reply() -> None:
    t = open_target("http://127.0.0.1:9", limits=Limits(retries=1, backoff=0.01))
    try:
        reply = t.send(HELLO)
    finally:
        t.close()
    assert reply.error is not None and "transport error" in reply.error


def test_limits_are_validated() -> None:
    with pytest.raises(RobustnessError, match="retries"):
        Limits(retries=11)
    with pytest.raises(RobustnessError, match="max_response_bytes"):
        Limits(max_response_bytes=10)


def test_api_key_comes_from_the_environment(
    flaky: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(RobustnessError, match="BASTION_TEST_KEY is not set"):
        open_target(_base(flaky), api_key_env="BASTION_TEST_KEY")
    monkeypatch.setenv("BASTION_TEST_KEY", "k-123")
    t = open_target(_base(flaky), api_key_env="BASTION_TEST_KEY")
    try:
        assert t._http._client.headers["Authorization"] == "Bearer k-123"
        assert "k-123" not in t.location
    finally:
        t.close()


def test_template_fills_placeholders_as_json_strings(
    flaky: ThreadingHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tpl_file = tmp_path / "tpl.yaml"
    tpl_file.write_text(
        "method: POST\n"
        "headers_from_env: {X-Api-Key: BASTION_TPL_KEY}\n"
        "body:\n  input: $INPUT\n  sys: $SYSTEM\n  doc: $DOCUMENT\n  history: $MESSAGES\n"
        "  tools: $TOOLS\n"
        "response_path: $.choices[0].message.content\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("BASTION_TPL_KEY", "tk")
    tpl = load_template(tpl_file)
    t = TemplateTarget(tpl, _base(flaky) + "/tpl")
    conv = Conversation(
        messages=(Message("system", "S"), Message("user", 'a "quoted" } value')),
        document="D",
        tools=(ToolSpec("lookup_order", "find an order"),),
    )
    try:
        assert t.configurable_system_prompt
        reply = t.send(conv)
    finally:
        t.close()
    assert reply.text == "fine"
    body = flaky.bodies[-1]  # type: ignore[attr-defined]
    assert body["input"] == 'a "quoted" } value' and body["sys"] == "S" and body["doc"] == "D"
    assert body["history"][0] == {"role": "system", "content": "S"}
    assert body["tools"][0]["function"]["name"] == "lookup_order"


def test_template_inlines_a_document_when_it_has_no_slot(vulnerable: RunningServer) -> None:
    tpl = RequestTemplate(body={"prompt": "$INPUT"}, response_path="$.text")
    t = TemplateTarget(tpl, vulnerable.url + "/chat")
    try:
        reply = t.send(
            Conversation(messages=(Message("user", "sum it up"),), document="the doc body")
        )
    finally:
        t.close()
    assert "<retrieved_document>" in reply.text and "the doc body" in reply.text


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("body: {a: 1}\n", "response_path: Field required"),
        ("body: [1]\nresponse_path: $.x\n", "body: Input should be a valid dictionary"),
        ("body: {a: 1}\nresponse_path: x\n", "response_path: String should match"),
        ("body: {a: &x 1, b: *x}\nresponse_path: $.x\n", "aliases"),
        ("- 1\n", "must be a mapping"),
    ],
)
def test_bad_templates_are_refused_with_the_field(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "t.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=match):
        load_template(f)


def test_template_without_a_url_or_env_is_refused() -> None:
    tpl = RequestTemplate(body={"p": "$INPUT"}, response_path="$.t")
    with pytest.raises(RobustnessError, match="give the target URL"):
        TemplateTarget(tpl)
    tpl2 = RequestTemplate(
        body={"p": "$INPUT"}, response_path="$.t", headers_from_env={"A": "BASTION_NOPE_VAR"}
    )
    with pytest.raises(RobustnessError, match="BASTION_NOPE_VAR is not set"):
        TemplateTarget(tpl2, "http://127.0.0.1:9/x", environ={})
