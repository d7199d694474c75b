"""A labelled synthetic PII corpus made with Faker (issue 9 benchmark input).

Each record is a short sentence from a template with 1-3 entity slots, plus distractors
that look like entities but are not (order numbers, Luhn-invalid card-like numbers,
invalid SSNs, version strings). Labels are character spans with Presidio entity names.
``python benchmarks/pii_corpus.py N OUT.jsonl`` writes N records.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from faker import Faker

TEMPLATES = [
    "Please contact {EMAIL_ADDRESS} about order #{ORDER}.",
    "Customer phone: {PHONE_NUMBER}, alt email {EMAIL_ADDRESS}",
    "Card on file {CREDIT_CARD} exp {EXP}; invoice {ORDER}",
    "Wire the refund to IBAN {IBAN_CODE} by Friday.",
    "SSN {US_SSN} was verified for the applicant.",
    "Login from {IP_ADDRESS} at 10:42, session {ORDER}",
    "Call me at {PHONE_NUMBER} or write to {EMAIL_ADDRESS}.",
    "Paid with {CREDIT_CARD}; reference {BADCARD}",
    "Tax id on the form was {BADSSN}, rejected; the real one is {US_SSN}.",
    "Server {IP_ADDRESS} runs build {VERSION}, contact {EMAIL_ADDRESS}",
    "Account holder moved; new IBAN {IBAN_CODE}, phone {PHONE_NUMBER}",
    "Ticket {ORDER}: nothing sensitive here, version {VERSION}.",
]


def _fill(fake: Faker, rng: random.Random, slot: str) -> str:
    if slot == "EMAIL_ADDRESS":
        return fake.email()
    if slot == "PHONE_NUMBER":
        return fake.phone_number()
    if slot == "CREDIT_CARD":
        return fake.credit_card_number()
    if slot == "IBAN_CODE":
        return fake.iban()
    if slot == "US_SSN":
        return fake.ssn()
    if slot == "IP_ADDRESS":
        return fake.ipv4() if rng.random() < 0.8 else fake.ipv6()
    if slot == "ORDER":
        return str(rng.randrange(10**5, 10**8))
    if slot == "EXP":
        return f"{rng.randrange(1, 13):02d}/{rng.randrange(25, 32)}"
    if slot == "BADCARD":
        d = [rng.randrange(10) for _ in range(16)]
        s = "".join(map(str, d))
        from bastion.privacy.pii._validators import luhn_ok

        while luhn_ok(s):
            s = s[:-1] + str((int(s[-1]) + 1) % 10)
        return s
    if slot == "BADSSN":
        return fake.ssn(taxpayer_identification_number_type="INVALID_SSN")
    if slot == "VERSION":
        return f"{rng.randrange(1, 9)}.{rng.randrange(0, 20)}.{rng.randrange(0, 99)}"
    raise AssertionError(slot)


LABELLED = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS"}


def make_corpus(n: int, seed: int = 20240901) -> list[dict[str, Any]]:
    fake = Faker("en_US")
    Faker.seed(seed)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tpl = rng.choice(TEMPLATES)
        text = ""
        spans = []
        i = 0
        while i < len(tpl):
            j = tpl.find("{", i)
            if j < 0:
                text += tpl[i:]
                break
            text += tpl[i:j]
            k = tpl.index("}", j)
            slot = tpl[j + 1 : k]
            value = _fill(fake, rng, slot)
            if slot in LABELLED:
                spans.append({"entity": slot, "start": len(text), "end": len(text) + len(value)})
            text += value
            i = k + 1
        out.append({"text": text, "spans": spans})
    return out


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    dest = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("pii_corpus.jsonl")
    with dest.open("w", encoding="utf-8") as f:
        for rec in make_corpus(n):
            f.write(json.dumps(rec) + "\n")
    print(f"wrote {n} records to {dest}")
