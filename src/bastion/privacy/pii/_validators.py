"""Checksums and structural rules that turn a regex match into a validated entity.

Each validator takes the matched text and says whether it can be what the recognizer
claims. They are pure, total functions: any string in, a bool out, never an exception.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date

__all__ = [
    "aadhaar_ok",
    "au_tfn_ok",
    "date_ok",
    "digits",
    "es_nif_ok",
    "iban_ok",
    "ip_ok",
    "luhn_ok",
    "nanp_ok",
    "sg_nric_ok",
    "uk_nhs_ok",
    "uk_nino_ok",
    "us_ssn_ok",
]

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26,
    "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def digits(text: str) -> str:
    return "".join(c for c in text if "0" <= c <= "9")


def luhn_ok(text: str) -> bool:
    """Payment card: 12-19 digits (12 only with a Maestro prefix), Luhn checksum, not one
    repeated digit."""
    d = digits(text)
    if not 12 <= len(d) <= 19 or len(set(d)) == 1:
        return False
    if len(d) == 12 and not (d[:2] == "50" or "56" <= d[:2] <= "69" or d[:4] == "0604"):
        return False
    total = 0
    for i, ch in enumerate(reversed(d)):
        n = ord(ch) - 48
        if i & 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """IBAN: known country length and ISO 7064 mod 97-10 == 1."""
    s = "".join(c for c in text if c.isalnum()).upper()
    if len(s) < 15 or _IBAN_LENGTHS.get(s[:2]) != len(s) or not s[2:4].isdigit():
        return False
    moved = s[4:] + s[:4]
    num = 0
    for c in moved:
        if c.isdigit():
            num = (num * 10 + ord(c) - 48) % 97
        elif "A" <= c <= "Z":
            num = (num * 100 + ord(c) - 55) % 97
        else:
            return False
    return num == 1


def us_ssn_ok(text: str) -> bool:
    """US SSN rules (SSA): area not 000, 666 or 900-999; group not 00; serial not 0000;
    not the advertised 078-05-1120 or 219-09-9999; separators consistent."""
    seps = {c for c in text if not c.isdigit()}
    if len(seps) > 1:
        return False
    d = digits(text)
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return d not in ("078051120", "219099999", "123456789") and len(set(d)) > 1


def nanp_ok(text: str) -> bool:
    """North American number: area and exchange codes start 2-9; not 555-01xx fiction;
    other numbers in E.164 form: 8-15 digits."""
    text = re.split(r"[ ]?(?:x|ext\.?)", text, maxsplit=1)[0]
    d = digits(text)
    stripped = text.lstrip()
    if stripped.startswith("+") and not stripped.startswith("+1"):
        return 8 <= len(d) <= 15
    if stripped.startswith("00") and not stripped.startswith("001"):
        return 10 <= len(d) <= 17
    if len(d) == 11 and d[0] == "1":
        d = d[1:]
    elif len(d) == 13 and d.startswith("001"):
        d = d[3:]
    if len(d) != 10:
        return False
    return d[0] in "23456789" and d[3] in "23456789"


def ip_ok(text: str) -> bool:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv4Address):
        return text.count(".") == 3 and not addr.is_unspecified
    return not addr.is_unspecified and text.count(":") >= 2


def date_ok(year: int, month: int, day: int) -> bool:
    if not 1900 <= year <= 2100:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def uk_nhs_ok(text: str) -> bool:
    """NHS number: 10 digits, mod 11 check digit."""
    d = digits(text)
    if len(d) != 10 or len(set(d)) == 1:
        return False
    total = sum((10 - i) * (ord(c) - 48) for i, c in enumerate(d[:9]))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == ord(d[9]) - 48


_NINO_BAD_PREFIX = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def uk_nino_ok(text: str) -> bool:
    s = "".join(c for c in text if c.isalnum()).upper()
    if len(s) != 9 or s[:2] in _NINO_BAD_PREFIX:
        return False
    if s[0] in "DFIQUV" or s[1] in "DFIOQUV" or s[8] not in "ABCD":
        return False
    return s[2:8].isdigit()


_NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_nif_ok(text: str) -> bool:
    """Spanish DNI/NIE: 8 digits (NIE: X/Y/Z and 7) and the mod 23 control letter."""
    s = "".join(c for c in text if c.isalnum()).upper()
    if len(s) != 9:
        return False
    head = s[:8]
    if head[0] in "XYZ":
        head = str("XYZ".index(head[0])) + head[1:]
    if not head.isdigit():
        return False
    return _NIF_LETTERS[int(head) % 23] == s[8]


_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]  # fmt: skip
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]  # fmt: skip


def aadhaar_ok(text: str) -> bool:
    """Indian Aadhaar: 12 digits, first not 0 or 1, Verhoeff checksum."""
    d = digits(text)
    if len(d) != 12 or d[0] in "01":
        return False
    c = 0
    for i, ch in enumerate(reversed(d)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def sg_nric_ok(text: str) -> bool:
    """Singapore NRIC/FIN: prefix S/T/F/G, 7 digits, weighted check letter."""
    s = text.strip().upper()
    if len(s) != 9 or s[0] not in "STFG" or not s[1:8].isdigit():
        return False
    weights = (2, 7, 6, 5, 4, 3, 2)
    total = sum(w * (ord(c) - 48) for w, c in zip(weights, s[1:8], strict=True))
    if s[0] in "TG":
        total += 4
    table = "JZIHGFEDCBA" if s[0] in "ST" else "XWUTRQPNMLK"
    return table[total % 11] == s[8]


def au_tfn_ok(text: str) -> bool:
    """Australian tax file number: 9 digits, weighted sum divisible by 11."""
    d = digits(text)
    if len(d) != 9 or len(set(d)) == 1:
        return False
    weights = (1, 4, 3, 7, 5, 8, 6, 9, 10)
    return sum(w * (ord(c) - 48) for w, c in zip(weights, d, strict=True)) % 11 == 0
