"""Build data/reference/*.jsonl.gz: modern prose for the document quality model's LMs.

The bundled sample (data/sample) is fortunes, classical poems and a 1906 novel; its LMs find
modern prose unfamiliar. These files add the prose paragraphs of the Debian Reference (Osamu
Aoki et al., GPL-2+), English original and Simplified Chinese translation, as shipped by the
Debian packages `debian-reference-en` and `debian-reference-zh-cn` (2.100 in bookworm), and
the Simplified Chinese Debian FAQ (`debian-faq-zh-cn` 11.1, SPI, verbatim-copy licence) and
New Maintainers' Guide (`maint-guide-zh-cn` 1.2.53, GPL-2+):

    apt-get install -y debian-reference-en debian-reference-zh-cn debian-faq-zh-cn maint-guide-zh-cn
    python data/reference/build_reference.py          # deterministic for a package version

Only prose is kept: indented blocks of the plain-text edition whose lines are not tables,
command listings or list bullets, re-joined across line wraps, with sentence punctuation, at
least 40 characters, and (zh) mostly Han characters. Consecutive paragraphs of one section are
joined into documents of up to ~1,000 characters. Each record: {"id", "text", "origin"}.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

SOURCES = {   # name -> (lang, plain-text edition installed by the Debian package)
    "debian-reference-zh": ("zh", Path("/usr/share/debian-reference/debian-reference.zh-cn.txt.gz")),
    "debian-faq-zh": ("zh", Path("/usr/share/doc/debian/FAQ/debian-faq.zh-cn.txt.gz")),
    "maint-guide-zh": ("zh", Path("/usr/share/doc/maint-guide-zh-cn/maint-guide.zh-cn.txt.gz")),
    "debian-reference-en": ("en", Path("/usr/share/debian-reference/debian-reference.en.txt.gz")),
}
HAN = re.compile(r"[\u4e00-\u9fff]")
SECTION = re.compile(r"^\d+(\.\d+)*\.\s")
SENTENCE_END = {"zh": ("。", "！", "？", "：", "；"), "en": (".", "!", "?", ":")}


def join_lines(lines: list[str]) -> str:
    out = ""
    for line in (ln.strip() for ln in lines):
        if out and (out[-1].isascii() or line[:1].isascii()):
            out += " "
        out += line
    return out


def paragraphs(text: str, lang: str):
    """(section, paragraph) of the prose blocks."""
    section, block = "", []
    for raw in text.replace("\u00a0", " ").splitlines() + [""]:
        if SECTION.match(raw):
            section = raw.strip()
        if raw.strip() and raw.startswith("    ") and not raw.startswith("      "):
            block.append(raw)
            continue
        if block:
            para = join_lines(block)
            block = []
            if prose(para, lang):
                yield section, para


def prose(para: str, lang: str) -> bool:
    if len(para) < 40 or not para.endswith(SENTENCE_END[lang]) or para.lstrip()[:1] in "|+$#*-":
        return False
    if lang == "zh":
        han = len(HAN.findall(para))     # Han share against Han + Latin words (commands, names)
        return han / (han + len(re.findall(r"[A-Za-z]+", para)) or 1) >= 0.6
    return sum(c.isalpha() or c.isspace() for c in para) / len(para) >= 0.85


def documents(name: str, max_chars: int = 1000):
    lang, source = SOURCES[name]
    text = gzip.open(source, "rt", encoding="utf-8").read()
    current, doc = None, []
    for section, para in paragraphs(text, lang):
        if doc and (section != current or sum(map(len, doc)) + len(para) > max_chars):
            yield "\n".join(doc)
            doc = []
        current = section
        doc.append(para)
    if doc:
        yield "\n".join(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    for name in SOURCES:
        docs = list(documents(name))
        path = args.out / f"{name}.jsonl.gz"
        with gzip.GzipFile(path, "wb", mtime=0) as raw:
            for n, text in enumerate(docs):
                record = {"id": f"{name}-{n:04d}", "text": text, "origin": name}
                raw.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        print(f"{path}: {len(docs)} documents, {sum(map(len, docs)):,} characters, {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
