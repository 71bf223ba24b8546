"""Safety stages: drop spam-dense documents by a blocklist, scrub personal data in kept ones.

`SensitiveWordFilter` follows ChineseWebText: a document whose blocklist hits per line exceed
0.5 is removed. `PiiScrubber` replaces e-mail addresses, IPv4 addresses, Chinese resident ID
numbers, Chinese mobile and landline numbers with typed placeholders. Following BigScience's
zh PII rules, the patterns are narrow and anchored on digit boundaries (generic digit rules
caused false positives there), and an ID number is only replaced when its birth date is a real
date and its ISO 7064 MOD 11-2 check character is right.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path

from common.config import ConfigError
from dataprep.core import Document, Stage, StageStats

DEFAULT_BLOCKLIST = Path(__file__).resolve().parent.parent / "resources" / "sensitive_words.txt"
PII_TYPES = ("email", "ip", "id_card", "phone")


@dataclasses.dataclass
class SafetyConfig:
    enabled: bool = True
    blocklist: str = ""                 # one term per line; "" = the small bundled example list
    max_hits_per_line: float = 0.5      # ChineseWebText: sensitive-word hits per line > 0.5 -> drop
    pii: list[str] = dataclasses.field(default_factory=lambda: list(PII_TYPES))  # types to scrub

    def validate(self) -> None:
        if self.max_hits_per_line < 0:
            raise ConfigError("safety.max_hits_per_line must be >= 0")
        unknown = sorted(set(self.pii) - set(PII_TYPES))
        if unknown:
            raise ConfigError(f"safety.pii has unknown types {unknown}; choose from {list(PII_TYPES)}")
        if self.blocklist and not Path(self.blocklist).is_file():
            raise ConfigError(f"safety.blocklist file not found: {self.blocklist}")


def load_blocklist(path: str | Path) -> list[str]:
    """Terms from a word list: one per line, blank lines and '#' comments skipped."""
    terms = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        term = line.split("#", 1)[0].strip()
        if term:
            terms.append(term)
    return terms


class SensitiveWordFilter(Stage):
    """Removes documents dense in blocklisted terms ("sensitive_words")."""

    name = "sensitive_words"

    def __init__(self, cfg: SafetyConfig):
        terms = load_blocklist(cfg.blocklist or DEFAULT_BLOCKLIST)
        self.max_hits_per_line = cfg.max_hits_per_line
        # longest first so that 代开增值税发票 wins over 代开发票-like prefixes
        alternation = "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))
        self.pattern = re.compile(alternation, re.IGNORECASE) if terms else None

    def hits_per_line(self, text: str) -> float:
        if self.pattern is None:
            return 0.0
        lines = sum(1 for line in text.split("\n") if line.strip()) or 1
        return len(self.pattern.findall(text)) / lines

    def apply(self, doc: Document, stats: StageStats) -> Document | None:
        rate = self.hits_per_line(doc.text)
        if rate > self.max_hits_per_line:
            stats.remove(doc, "sensitive_words")
            return None
        if rate:
            stats.count("sensitive.docs_with_hits")
        return doc


# ---- PII -------------------------------------------------------------------------------

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
# province-level prefixes of GB/T 2260 region codes (plus 71/81/82/83 used on resident permits)
ID_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}

# ASCII-only boundaries: in Python's re a Han character is \w, and e-mails often touch Chinese text
EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                      r"\.[A-Za-z]{2,}(?![A-Za-z0-9-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4_RE = re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\d|\.\d)")
ID_CARD_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<![\d+])(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)")
LANDLINE_RE = re.compile(r"(?<![\d-])0\d{2,3}-\d{7,8}(?![\d-])")


def valid_id_card(number: str) -> bool:
    """18-character Chinese resident ID: known province, real birth date, MOD 11-2 check char."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if int(number[:2]) not in ID_PROVINCES:
        return False
    try:
        birth = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not datetime.date(1900, 1, 1) <= birth <= datetime.date.today():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS))
    return ID_CHECK_CHARS[total % 11] == number[17].upper()


def id_check_char(first17: str) -> str:
    """The check character for 17 digits (used to make valid test numbers)."""
    return ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


# Order matters: e-mails first (they may contain digit runs), ID numbers before phones.
PII_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("email", EMAIL_RE, "<EMAIL>"),
    ("id_card", ID_CARD_RE, "<ID_CARD>"),
    ("ip", IPV4_RE, "<IP>"),
    ("phone", MOBILE_RE, "<PHONE>"),
    ("phone", LANDLINE_RE, "<PHONE>"),
)


def scrub_pii(text: str, types: tuple[str, ...] | list[str] = PII_TYPES) -> tuple[str, dict[str, int]]:
    """Text with PII replaced by placeholders, and how many of each type were replaced."""
    counts: dict[str, int] = {}
    for kind, pattern, placeholder in PII_RULES:
        if kind not in types:
            continue
        replaced = 0

        def substitute(match: re.Match[str]) -> str:
            nonlocal replaced
            if kind == "id_card" and not valid_id_card(match.group()):
                return match.group()
            replaced += 1
            return placeholder

        text = pattern.sub(substitute, text)
        if replaced:
            counts[kind] = counts.get(kind, 0) + replaced
    return text, counts


class PiiScrubber(Stage):
    """Replaces personal data with <EMAIL>, <IP>, <ID_CARD>, <PHONE>; never removes a document."""

    name = "pii"

    def __init__(self, cfg: SafetyConfig):
        self.types = tuple(cfg.pii)

    def apply(self, doc: Document, stats: StageStats) -> Document | None:
        text, counts = scrub_pii(doc.text, self.types)
        for kind, n in counts.items():
            stats.count(f"pii.{kind}", n)
        if counts:
            stats.count("pii.docs_changed")
            doc.text = text
        return doc
