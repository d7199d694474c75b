"""Optional person-name recognizer on spaCy NER (the engine Presidio's NER path wraps).

Runs only where the user has installed spaCy and a model package themselves: Bastion
never downloads a model (no network at run time, no code fetched on the user's behalf).
When either is missing the adapter says so in one line and what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable
from typing import Any

from bastion.core.errors import InputError
from bastion.privacy.pii._analyzer import EntityMatch

__all__ = ["NerUnavailableError", "person_recognizer"]

_MODEL = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
NER_SCORE = 0.85


class NerUnavailableError(InputError):
    """The optional NER adapter cannot run here (spaCy or the model is not installed)."""


def person_recognizer(model: str = "en_core_web_sm") -> Callable[[str], list[EntityMatch]]:
    """A recognizer of ``PERSON`` entities from the installed spaCy model package ``model``.

    ``NerUnavailableError`` when spaCy or the model package is not installed; nothing is
    downloaded."""
    if not _MODEL.match(model):
        raise NerUnavailableError(
            f"NER model {model[:80]!r}: expected the name of an installed spaCy model package"
        )
    if importlib.util.find_spec("spacy") is None:
        raise NerUnavailableError(
            "person-name detection needs spaCy and a model, which are not installed; "
            f"install them yourself (pip install spacy {model}); Bastion never downloads models"
        )
    if importlib.util.find_spec(model) is None:
        raise NerUnavailableError(
            f"spaCy model {model!r} is not installed; install the model package yourself "
            "(Bastion never downloads models); the pattern recognizers run without it"
        )
    spacy: Any = importlib.import_module("spacy")
    nlp = spacy.load(model, exclude=["parser", "lemmatizer", "textcat"])

    def recognize(text: str) -> list[EntityMatch]:
        doc = nlp(text)
        return [
            EntityMatch("PERSON", ent.start_char, ent.end_char, NER_SCORE, "SpacyNerRecognizer")
            for ent in doc.ents
            if ent.label_ in ("PERSON", "PER")
        ]

    return recognize
