"""The built-in recognizers: a pattern, a validator, context words and a base score.

Entity names follow Microsoft Presidio's (``EMAIL_ADDRESS``, ``CREDIT_CARD``, ...) so
results can be compared and policies moved between the two; entities Presidio has no
name for get one in the same style (``API_KEY``, ``POSTAL_CODE``).

A recognizer with ``needs_context`` only reports a match when one of its context words
is near it (a bare 9-digit number is not a passport number); its ``score`` applies with
context, ``score - CONTEXT_BOOST`` without (then usually under the report threshold).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from bastion.privacy.pii import _validators as v

__all__ = ["CONTEXT_BOOST", "ENTITY_TYPES", "Recognizer", "builtin_recognizers"]

CONTEXT_BOOST = 0.35


@dataclass(frozen=True)
class Recognizer:
    """One entity recognizer. ``group``: the regex group holding the entity (0: all)."""

    name: str
    entity: str
    pattern: re.Pattern[str]
    score: float
    validate: Callable[[str], bool] | None = None
    context: tuple[str, ...] = ()
    needs_context: bool = False
    needs_digit: bool = True
    group: int = 0
    #: cheap precondition on the text: a substring that must occur (None: none)
    trigger: str | None = None


def _entropy(s: str) -> float:
    counts: dict[str, int] = {}
    for c in s:
        counts[c] = counts.get(c, 0) + 1
    n = len(s)
    return -sum(k / n * math.log2(k / n) for k in counts.values())


def _email_ok(s: str) -> bool:
    local, _, domain = s.rpartition("@")
    return 0 < len(local) <= 64 and ".." not in s and not local.startswith(".") and "." in domain


_MONTHS = (
    "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|"
    "july|august|september|october|november|december"
)
_MONTH_NO = {
    m: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for m in names
}
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_NUM_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_TEXT_DATE = re.compile(
    rf"(?i)(?:({_MONTHS})\.? (\d{{1,2}}),? (\d{{4}})|(\d{{1,2}}) ({_MONTHS})\.? (\d{{4}}))"
)


def _date_ok(s: str) -> bool:
    m = _ISO_DATE.fullmatch(s)
    if m:
        return v.date_ok(int(m[1]), int(m[2]), int(m[3]))
    m = _NUM_DATE.fullmatch(s)
    if m:
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        return v.date_ok(y, a, b) or v.date_ok(y, b, a)
    m = _TEXT_DATE.fullmatch(s)
    if m:
        if m[1]:
            return v.date_ok(int(m[3]), _MONTH_NO[m[1].lower()], int(m[2]))
        return v.date_ok(int(m[6]), _MONTH_NO[m[5].lower()], int(m[4]))
    return False


def _itin_ok(s: str) -> bool:
    d = v.digits(s)
    if len(d) != 9 or d[0] != "9":
        return False
    g = int(d[3:5])
    return 50 <= g <= 65 or 70 <= g <= 88 or 90 <= g <= 92 or 94 <= g <= 99


def _secret_ok(s: str) -> bool:
    return len(s) >= 16 and _entropy(s) >= 3.0 and any(c.isdigit() for c in s)


def _ssn_bare_ok(s: str) -> bool:
    return v.us_ssn_ok(s) and not _itin_ok(s)


def _ssn_ok(s: str) -> bool:
    return v.us_ssn_ok(s)


_B = r"(?<![\w@.+-])"  # no word, e-mail or number glued on the left
_E = r"(?![\w@]|[.-]\w)"  # nor on the right


def builtin_recognizers() -> tuple[Recognizer, ...]:
    c = re.compile
    return (
        Recognizer(
            "EmailRecognizer",
            "EMAIL_ADDRESS",
            c(
                r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]*+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w])"
            ),
            0.95,
            _email_ok,
            ("email", "e-mail", "mail", "contact"),
            needs_digit=False,
            trigger="@",
        ),
        Recognizer(
            "CreditCardRecognizer",
            "CREDIT_CARD",
            c(
                _B
                + r"(?:\d{4}[ -]?){2}\d{4}(?:[ -]?\d{1,7})?"
                + _E
                + "|"
                + _B
                + r"\d{4}[ -]?\d{6}[ -]?\d{5}"
                + _E
            ),
            0.85,
            v.luhn_ok,
            ("card", "credit", "debit", "visa", "mastercard", "amex", "payment", "cc"),
        ),
        Recognizer(
            "IbanRecognizer",
            "IBAN_CODE",
            c(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![\w])"),
            0.9,
            v.iban_ok,
            ("iban", "bank", "account", "transfer"),
        ),
        Recognizer(
            "UsSsnRecognizer",
            "US_SSN",
            c(_B + r"\d{3}([- ])\d{2}\1\d{4}" + _E),
            0.6,
            _ssn_ok,
            ("ssn", "social security", "social", "ss#"),
        ),
        Recognizer(
            "UsSsnBareRecognizer",
            "US_SSN",
            c(_B + r"\d{9}" + _E),
            0.75,
            _ssn_bare_ok,
            ("ssn", "social security", "ss#"),
            needs_context=True,
        ),
        Recognizer(
            "UsItinRecognizer",
            "US_ITIN",
            c(_B + r"9\d{2}[- ]?\d{2}[- ]?\d{4}" + _E),
            0.5,
            _itin_ok,
            ("itin", "taxpayer", "tax id"),
        ),
        Recognizer(
            "PhoneRecognizer",
            "PHONE_NUMBER",
            c(
                r"(?<![\w+().-])(?:(?:\+1|001)[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-]?)\d{3}[ .-]?\d{4}"
                r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?(?![\w]|[.-]\d)"
                r"|(?<![\w+])\+(?!1[ .-]?\d{3})\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,4}[ .-]?\d{2,4}(?![\w]|[.-]\d)"
            ),
            0.75,
            v.nanp_ok,
            ("phone", "tel", "call", "mobile", "cell", "fax", "contact", "reach"),
        ),
        Recognizer(
            "IpRecognizer",
            "IP_ADDRESS",
            c(
                r"(?<![\w.:])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
            ),
            0.8,
            v.ip_ok,
            ("ip", "address", "host", "server", "client"),
            trigger=".",
        ),
        Recognizer(
            "Ipv6Recognizer",
            "IP_ADDRESS",
            c(
                r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])"
                r"|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}(?![\w:])"
            ),
            0.8,
            v.ip_ok,
            ("ip", "address", "host", "server", "client"),
            needs_digit=False,
            trigger=":",
        ),
        Recognizer(
            "DateRecognizer",
            "DATE_TIME",
            c(
                r"(?=[0-9JFMASONDjfmasond])(?:(?<![\w/.-])(?:\d{4}-\d{2}-\d{2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{4})(?![\w]|[/.-]\d)"
                rf"|(?i:\b(?:(?:{_MONTHS})\.? \d{{1,2}},? \d{{4}}|\d{{1,2}} (?:{_MONTHS})\.? \d{{4}})\b))"
            ),
            0.6,
            _date_ok,
            ("born", "birth", "dob", "birthday", "date"),
        ),
        Recognizer(
            "UsPassportRecognizer",
            "US_PASSPORT",
            c(_B + r"[A-Z]?\d{8,9}" + _E),
            0.75,
            None,
            ("passport",),
            needs_context=True,
        ),
        Recognizer(
            "UsBankRecognizer",
            "US_BANK_NUMBER",
            c(_B + r"\d{8,17}" + _E),
            0.7,
            None,
            ("bank account", "account number", "acct", "checking", "savings", "routing"),
            needs_context=True,
        ),
        Recognizer(
            "UkNhsRecognizer",
            "UK_NHS",
            c(_B + r"\d{3}[ -]?\d{3}[ -]?\d{4}" + _E),
            0.9,
            v.uk_nhs_ok,
            ("nhs", "health service", "patient"),
            needs_context=True,
        ),
        Recognizer(
            "UkNinoRecognizer",
            "UK_NINO",
            c(r"(?<![\w])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\w])"),
            0.7,
            v.uk_nino_ok,
            ("national insurance", "nino", "ni number"),
        ),
        Recognizer(
            "EsNifRecognizer",
            "ES_NIF",
            c(r"(?<![\w])[XYZ0-9]\d{7}-?[A-Z](?![\w])"),
            0.8,
            v.es_nif_ok,
            ("dni", "nif", "nie", "documento"),
        ),
        Recognizer(
            "InAadhaarRecognizer",
            "IN_AADHAAR",
            c(_B + r"[2-9]\d{3}[ -]?\d{4}[ -]?\d{4}" + _E),
            0.9,
            v.aadhaar_ok,
            ("aadhaar", "aadhar", "uidai", "uid"),
            needs_context=True,
        ),
        Recognizer(
            "SgNricRecognizer",
            "SG_NRIC_FIN",
            c(r"(?<![\w])[STFG]\d{7}[A-Z](?![\w])"),
            0.85,
            v.sg_nric_ok,
            ("nric", "fin", "singapore"),
        ),
        Recognizer(
            "AuTfnRecognizer",
            "AU_TFN",
            c(_B + r"\d{3} ?\d{3} ?\d{3}" + _E),
            0.9,
            v.au_tfn_ok,
            ("tfn", "tax file"),
            needs_context=True,
        ),
        Recognizer(
            "PostalCodeRecognizer",
            "POSTAL_CODE",
            c(_B + r"\d{5}(?:-\d{4})?" + _E),
            0.6,
            None,
            ("zip", "postal", "postcode", "zip code"),
            needs_context=True,
        ),
        Recognizer(
            "KnownKeyRecognizer",
            "API_KEY",
            c(
                r"(?=[Agxsre])(?:(?<![\w])(?:AKIA|ASIA)[A-Z0-9]{16}(?![\w])"
                r"|(?<![\w])gh[pousr]_[A-Za-z0-9]{36,255}(?![\w])"
                r"|(?<![\w])github_pat_[A-Za-z0-9_]{60,255}(?![\w])"
                r"|(?<![\w])xox[abposr]-[A-Za-z0-9-]{10,200}(?![\w])"
                r"|(?<![\w])(?:sk|rk)_live_[A-Za-z0-9]{16,200}(?![\w])"
                r"|(?<![\w])AIza[A-Za-z0-9_-]{35}(?![\w-])"
                r"|(?<![\w])sk-(?:proj-)?[A-Za-z0-9_-]{32,200}(?![\w-])"
                r"|(?<![\w])glpat-[A-Za-z0-9_-]{20}(?![\w-])"
                r"|(?<![\w.])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}(?![\w.]))"
            ),
            0.95,
            None,
            ("key", "token", "secret", "api"),
            needs_digit=False,
        ),
        Recognizer(
            "AssignedSecretRecognizer",
            "API_KEY",
            c(
                r"(?i:api[_-]?key|secret|token|password|passwd|access[_-]?key)[\"']?\s*[:=]\s*[\"']?"
                r"([A-Za-z0-9_/+=-]{16,200})"
            ),
            0.8,
            _secret_ok,
            group=1,
        ),
        Recognizer(
            "PrivateKeyRecognizer",
            "PRIVATE_KEY",
            c(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
            1.0,
            needs_digit=False,
            trigger="-----BEGIN",
        ),
    )


ENTITY_TYPES: tuple[str, ...] = tuple(
    sorted({r.entity for r in builtin_recognizers()} | {"PERSON", "LOCATION", "DATE_OF_BIRTH"})
)
