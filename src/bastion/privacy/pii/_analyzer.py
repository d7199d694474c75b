"""Text analysis: every recognizer over the text, validated, context-scored, de-overlapped.

The fast path of the PII detector: compiled patterns, cheap preconditions (no digit in the
text, no ``@``) skip whole recognizers, and validators run only on pattern matches. When
two entities overlap the higher score wins (then the longer span), so a payment card is
never also reported as a bank account or a phone number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bastion.core.errors import InputError
from bastion.privacy.pii._recognizers import CONTEXT_BOOST, Recognizer, builtin_recognizers

__all__ = ["DEFAULT_THRESHOLD", "Analyzer", "EntityMatch", "analyze_text"]

DEFAULT_THRESHOLD = 0.5
CONTEXT_BEFORE = 48
CONTEXT_AFTER = 24
MAX_TEXT_CHARS = 8 * 1024 * 1024
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class EntityMatch:
    """One entity found in a text: where, what, how sure, and which recognizer fired.

    The matched text itself is not kept (results go into evidence): slice the input."""

    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str

    def to_dict(self) -> dict[str, object]:
        return {
            "entity_type": self.entity_type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 3),
            "recognizer": self.recognizer,
        }


class Analyzer:
    """A set of recognizers (the built-in ones by default), optionally limited to
    ``entities``. ``extra`` adds recognizers such as the optional NER adapter's, which
    take ``(text) -> Iterable[EntityMatch]``."""

    def __init__(
        self,
        recognizers: Sequence[Recognizer] | None = None,
        *,
        entities: Iterable[str] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        extra: Sequence[object] = (),
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold: expected a number in [0, 1], got {threshold}")
        recs = tuple(recognizers if recognizers is not None else builtin_recognizers())
        if entities is not None:
            wanted = set(entities)
            known = {r.entity for r in recs}
            unknown = wanted - known - {"PERSON"}
            if unknown:
                raise InputError(
                    f"entities: unknown entity type(s) {', '.join(sorted(unknown))}; "
                    f"known: {', '.join(sorted(known))}"
                )
            recs = tuple(r for r in recs if r.entity in wanted)
        self.recognizers = recs
        self.threshold = threshold
        self.extra = tuple(extra)
        self._digit_recs = tuple(r for r in recs if r.needs_digit)
        self._other_recs = tuple(r for r in recs if not r.needs_digit)

    def analyze(self, text: str, *, context: str = "") -> list[EntityMatch]:
        """Entities in ``text`` at or above the threshold, in order of position.
        ``context``: extra words that count as near every match (a column name)."""
        if not isinstance(text, str):
            raise InputError("text: expected a string")
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(f"text: longer than {MAX_TEXT_CHARS} characters")
        found: list[EntityMatch] = []
        lowered: str | None = None
        ctx = context.lower().replace("_", " ")
        recs = self._other_recs + self._digit_recs if _DIGIT.search(text) else self._other_recs
        threshold = self.threshold
        for rec in recs:
            if rec.trigger is not None and rec.trigger not in text:
                continue
            for m in rec.pattern.finditer(text):
                g = rec.group
                value = m.group(g)
                if value is None:
                    continue
                if rec.validate is not None and not rec.validate(value):
                    continue
                start, end = m.start(g), m.end(g)
                score = rec.score
                if rec.context:
                    if lowered is None:
                        lowered = text.lower()
                    window = lowered[max(0, start - CONTEXT_BEFORE) : start]
                    window += " " + lowered[end : end + CONTEXT_AFTER] + " " + ctx
                    near = any(w in window for w in rec.context)
                    if rec.needs_context:
                        if not near:
                            score -= CONTEXT_BOOST
                    elif near:
                        score = min(1.0, score + CONTEXT_BOOST)
                if score >= threshold:
                    found.append(EntityMatch(rec.entity, start, end, score, rec.name))
        for ner in self.extra:
            found.extend(
                e
                for e in ner(text)  # type: ignore[operator]
                if e.score >= threshold
            )
        if len(found) > 1:
            found = _resolve(found)
        return found


def _resolve(found: list[EntityMatch]) -> list[EntityMatch]:
    """Drop every match that overlaps a better one (higher score, then longer)."""
    ranked = sorted(found, key=lambda e: (-e.score, -(e.end - e.start), e.start))
    kept: list[EntityMatch] = []
    for e in ranked:
        if all(e.end <= k.start or e.start >= k.end for k in kept):
            kept.append(e)
    kept.sort(key=lambda e: e.start)
    return kept


_DEFAULT: Analyzer | None = None


def analyze_text(
    text: str,
    *,
    entities: Iterable[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    context: str = "",
) -> list[EntityMatch]:
    """PII entities in ``text`` with the built-in recognizers."""
    global _DEFAULT
    if entities is None and threshold == DEFAULT_THRESHOLD:
        if _DEFAULT is None:
            _DEFAULT = Analyzer()
        return _DEFAULT.analyze(text, context=context)
    return Analyzer(entities=entities, threshold=threshold).analyze(text, context=context)
