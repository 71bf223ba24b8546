"""Text normalisation before any filter or hash: one canonical form per document.

Repairs what the reader could not decode (lone surrogates from JSON escapes become U+FFFD,
like invalid UTF-8 bytes did in the reader), applies NFC (not NFKC: NFKC would rewrite
full-width Chinese punctuation such as ，。！ to ASCII), strips control and invisible format
characters, collapses horizontal whitespace while keeping newlines as paragraph structure,
and optionally converts Traditional to Simplified Chinese with OpenCC. Also tags the
language from the share of Han characters among the letters outside code tokens.
"""
from __future__ import annotations

import re
import unicodedata

from dataprep.core import Document, Stage, StageStats

# What counts as Chinese, for the whole project (language tag, quality rules, near-dup shingles,
# tokenizer segmentation and evaluation): Han characters (unified ideographs, extension A,
# compatibility ideographs, and plane 2: extensions B-F) and a Han / (Han + Latin letters) ratio
# of at least ZH_MIN_HAN.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
HAN_RE = re.compile(f"[{HAN}]")
LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
ZH_MIN_HAN = 0.3        # ChineseWebText's cut-off
SURROGATE_RE = re.compile("[\ud800-\udfff]")
# C0/C1 controls except \t and \n, plus invisible format characters that carry no text
# (zero-width space, directional marks, BOM, soft hyphen, word joiner). ZWJ/ZWNJ stay: emoji need them.
CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b\u200e\u200f\u202a-\u202e\u2060\ufeff]")
HSPACE_RE = re.compile(r"[^\S\n]+")          # any whitespace but newline (incl. \u3000, \xa0)
BLANK_LINES_RE = re.compile(r"\n{3,}")


def normalize_text(text: str, converter=None) -> tuple[str, dict[str, int]]:
    """The normalised text and counts of what was changed."""
    counts: dict[str, int] = {}
    repaired = len(SURROGATE_RE.findall(text))
    if repaired:
        text = SURROGATE_RE.sub("\ufffd", text)
        counts["surrogates_repaired"] = repaired
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    text, n_control = CONTROL_RE.subn("", text)
    if n_control:
        counts["control_chars_removed"] = n_control
    text = "\n".join(HSPACE_RE.sub(" ", line).strip() for line in text.split("\n"))
    text = BLANK_LINES_RE.sub("\n\n", text).strip()
    if converter is not None:
        converted = converter.convert(text)
        if converted != text:
            counts["t2s_converted"] = 1
        text = converted
    return unicodedata.normalize("NFC", text), counts   # last: removals above can expose new pairs


# Paths, options, variables and shell syntax ("/etc/apt", "--armor", "$HOME", "a=b"): Latin letters
# that say nothing of the language the text around them is written in.
# (A token starts where a run of non-space, non-CJK characters starts: each run is tried once.)
CODE_TOKEN_RE = re.compile(r"(?<![^\s\u2e80-\u9fff\uff00-\uffef])[^\s\u2e80-\u9fff\uff00-\uffef]*[/\\$_=<>{}|~]+"
                           r"[^\s\u2e80-\u9fff\uff00-\uffef]*|(?<!\w)--?[a-z][\w-]*")
CODE_HINTS = "/\\$_=<>{}|~-"    # a text without any of these has no code token: skip the substitution


def without_code(text: str) -> str:
    """The text with its code tokens (CODE_TOKEN_RE) blanked."""
    return CODE_TOKEN_RE.sub(" ", text) if any(c in text for c in CODE_HINTS) else text


def han_ratio(text: str) -> float:
    """Han characters / (Han characters + Latin letters); 0 for text with neither.

    Counting letters only (not digits, punctuation or box drawing) keeps a Chinese page full
    of tables or numbers Chinese.
    """
    han = len(HAN_RE.findall(text))
    letters = han + len(LATIN_RE.findall(text))
    return han / letters if letters else 0.0


def detect_lang(text: str, zh_min_han: float = ZH_MIN_HAN) -> str:
    """"zh" from a Han ratio of `zh_min_han`, "en" below it, "other" without letters. The ratio is
    taken without code tokens: a Chinese manual's commands and paths are not English text."""
    if HAN_RE.search(text) is None and LATIN_RE.search(text) is None:
        return "other"
    if HAN_RE.search(text) is None:
        return "en"
    return "zh" if han_ratio(without_code(text)) >= zh_min_han else "en"


class Normalize(Stage):
    """Normalises text in place; removes documents left empty (e.g. only control characters)."""

    name = "normalize"

    def __init__(self, t2s: bool = False):
        if t2s:
            from opencc import OpenCC   # loading its dictionaries takes ~0.3 s: only when asked
            self.converter = OpenCC("t2s")
        else:
            self.converter = None

    def apply(self, doc: Document, stats: StageStats) -> Document | None:
        if doc.meta.pop("utf8_repaired", False):
            stats.count("utf8_repaired")
        text, counts = normalize_text(doc.text, self.converter)
        for key, n in counts.items():
            stats.count(key, n)
        if not text:
            stats.remove(doc, "empty_after_normalize")
            return None
        doc.text = text
        return doc
