"""Line cleaning on labelled web pages: body lines kept, spam lines dropped, pages removed whole.

Pages come from benchmarks/webpages.py (deterministic for --seed; train side and test side
share no article text and no spam vocabulary or template). Reports, per side:

* our line cleaner, rules only (today's stage before the model), rules + line model judging every
  physical line alone (before blocks) and rules + line model judging blocks (hard-wrapped
  paragraphs joined; the default): share of body lines kept and of spam lines dropped, per spam
  kind and per language; and how many page lines the block logic joins (none should mix body
  and spam);
* genuine text removed: the share of lines and characters of the sample corpus's real records
  (fortunes, the hard-wrapped Debian Reference, Botchan) the line stage removes, per origin,
  per physical line (before) and per block (now), tables and attributions apart;
* datatrove's C4 filter as the line-level peer (its line rules alone: min_num_sentences off),
  and C4 / Gopher quality / Gopher repetition / FineWeb as page-level filters, on the raw
  pages and on the pages our line cleaner left;
* pages removed whole by the full `dataprep run` chain (dedup steps off);
* CPU characters per second of the line stage with and without the model, on these pages and
  on the sample corpus, and the whole `dataprep run` on the sample corpus with the model off / on.

    python benchmarks/bench_web_pages.py [--seed 0] [--pages 60] [--out runs/bench/web_pages.jsonl]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cleaning_stages import load as load_sample  # noqa: E402
from webpages import build  # noqa: E402

from common.config import load_config  # noqa: E402
from dataprep.core import Document, StageStats  # noqa: E402
from dataprep.stages.lines import (ATTRIBUTION_RE, BOX_RE, LineCleaner, LinesConfig, classify_lines,  # noqa: E402
                                   line_blocks, line_keys)
from dataprep.stages.normalize import detect_lang  # noqa: E402

BODY = ("body", "title")


def repeated_keys(docs: list[Document], cfg: LinesConfig) -> set[str]:
    """The runner's linecount step: keys of lines in >= min_docs documents."""
    counts: Counter[str] = Counter()
    for doc in docs:
        counts.update(set(line_keys(doc, cfg)))
    return {k for k, n in counts.items() if n >= cfg.min_docs}


def judge_pages(pages: list[dict], cleaner: LineCleaner) -> list[list[bool]]:
    """Per page, per line: kept?"""
    stats = StageStats("lines")
    return [[k is None for k in cleaner.judge(p["text"].split("\n"), p["lang"], stats)] for p in pages]


def score(pages: list[dict], kept: list[list[bool]]) -> dict[str, Counter]:
    """Counters per group ("all", lang, kind): lines, kept."""
    out: dict[str, Counter] = defaultdict(Counter)
    for page, flags in zip(pages, kept):
        for label, k in zip(page["labels"], flags):
            group = "body" if label in BODY else "spam"
            for key in (group, f"{group}:{page['lang']}", f"kind:{label}", f"kind:{page['lang']}:{label}"):
                out[key]["n"] += 1
                out[key]["kept"] += k
    return out


def rate(c: Counter, kept: bool = True) -> str:
    if not c["n"]:
        return "-"
    value = c["kept"] / c["n"] if kept else 1 - c["kept"] / c["n"]
    return f"{value:.3f}"


def c4_lines(pages: list[dict]) -> tuple[list[list[bool]], list[bool]]:
    """datatrove C4: lines its line rules keep (sentence count check off), and pages it removes."""
    from datatrove.data import Document as DTDoc
    from datatrove.pipeline.filters import C4QualityFilter

    kept, removed = [], []
    for page in pages:
        lang = "cmn_Hani" if page["lang"] == "zh" else "eng"
        doc = DTDoc(text=page["text"], id=page["id"])
        C4QualityFilter(language=lang, min_num_sentences=-1).filter(doc)
        left = Counter(line.strip() for line in doc.text.split("\n"))
        flags = []
        for line in page["text"].split("\n"):
            flags.append(left[line.strip()] > 0)
            left[line.strip()] -= 1
        kept.append(flags)
        full = C4QualityFilter(language=lang).filter(DTDoc(text=page["text"], id=page["id"]))
        removed.append(full is not True and not (isinstance(full, tuple) and full[0]))
    return kept, removed


def page_filters(texts: list[str], langs: list[str]) -> dict[str, list[str | None]]:
    """Per datatrove page filter, per page: the removal reason or None (kept)."""
    from datatrove.data import Document as DTDoc
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    filters = {"C4": C4QualityFilter, "Gopher quality": GopherQualityFilter,
               "Gopher repetition": GopherRepetitionFilter, "FineWeb": FineWebQualityFilter}
    out: dict[str, list[str | None]] = {}
    for name, cls in filters.items():
        made = {lang: cls(language=lang) for lang in ("cmn_Hani", "eng")}
        reasons = []
        for text, lang in zip(texts, langs):
            result = made["cmn_Hani" if lang == "zh" else "eng"].filter(DTDoc(text=text, id="x"))
            reasons.append(None if result is True or (isinstance(result, tuple) and result[0])
                           else (result[1] if isinstance(result, tuple) else "removed"))
        out[name] = reasons
    return out


def article_chars(page: dict) -> int:
    return sum(len(line) for label, line in zip(page["labels"], page["text"].split("\n")) if label in BODY)


def full_run(pages: list[dict]) -> tuple[dict[str, str], str]:
    """Pages the whole `dataprep run` chain removes (id -> stage:reason), dedup steps off."""
    from dataprep import runner
    from dataprep.config import DataConfig

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "pages.jsonl"
        src.write_text("".join(json.dumps({"id": p["id"], "text": p["text"]}, ensure_ascii=False) + "\n"
                               for p in pages), encoding="utf-8")
        steps = [s for s in DataConfig().steps if s not in ("exact_dedup", "minhash")]
        cfg = load_config(DataConfig, data={"inputs": [str(src)], "output": f"{tmp}/run", "num_workers": 1,
                                            "steps": steps})
        runner.run_all(cfg)
        removed = {}
        for line in (Path(tmp) / "run" / "removed.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            removed[rec["id"]] = f"{rec['stage']}:{rec['reason']}"
    return removed, " -> ".join(steps)


def real_text_loss(docs: list[Document], repeated: set[str], configs: dict[str, LinesConfig]
                   ) -> dict[str, dict[str, Counter]]:
    """Genuine text the line cleaner removes: the sample's real records (no synthetic noise), per
    config, per origin: non-empty lines and their characters, all and removed; box-drawing table
    rows counted apart (an accepted loss), attributions ("-- Mark Twain") too."""
    out: dict[str, dict[str, Counter]] = {}
    real = [d for d in docs if d.meta["noise"] == "real"]
    for name, cfg in configs.items():
        cleaner, stats = LineCleaner(cfg, repeated), StageStats("lines")
        per: dict[str, Counter] = defaultdict(Counter)
        for doc in real:
            lines = doc.text.split("\n")
            for line, kind in zip(lines, cleaner.judge(lines, detect_lang(doc.text), stats)):
                text = line.strip()
                if not text:
                    continue
                part = "box" if BOX_RE.search(text) else "attribution" if ATTRIBUTION_RE.match(text) else "prose"
                for origin in (doc.meta["origin"], "all"):
                    c = per[origin]
                    c["lines"] += 1
                    c["chars"] += len(text)
                    c[f"chars:{part}"] += len(text)
                    if kind:
                        c["lines_removed"] += 1
                        c["chars_removed"] += len(text)
                        c[f"chars_removed:{part}"] += len(text)
        out[name] = per
    return out


def block_merges(pages: list[dict], cfg: LinesConfig) -> Counter:
    """Lines the block logic joins on the labelled pages, and how many sit in a block mixing
    body and spam lines (spam merged into a paragraph would share its verdict)."""
    out: Counter = Counter()
    for page in pages:
        lines = page["text"].split("\n")
        _, owner = line_blocks(lines, classify_lines(lines, cfg), cfg)
        groups: dict[int, set[str]] = defaultdict(set)
        for label, block in zip(page["labels"], owner):
            groups[block].add("body" if label in BODY else "spam")
        sizes = Counter(owner)
        for block in owner:
            if sizes[block] > 1:
                out["joined"] += 1
                out["mixed"] += len(groups[block]) > 1
    return out


def cpu_rate(cleaner: LineCleaner, docs: list[Document]) -> float:
    """Characters per CPU second of the line stage (best of 3)."""
    chars = sum(len(d.text) for d in docs)
    best = float("inf")
    for _ in range(3):
        copies = [Document(d.id, d.text, meta=dict(d.meta)) for d in docs]
        start = time.process_time()
        list(cleaner.process(copies, StageStats("lines")))
        best = min(best, time.process_time() - start)
    return chars / best


def whole_run(inputs: Path, model: bool) -> tuple[float, float, int]:
    """Wall and CPU seconds (this process + its workers) of `dataprep run` on `inputs`, docs kept."""
    import resource

    from dataprep import runner
    from dataprep.config import DataConfig

    def cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(DataConfig, data={"inputs": [str(inputs)], "output": f"{tmp}/run", "num_workers": 1},
                          overrides=[f"lines.model_enabled={str(model).lower()}"])
        start_cpu, start = cpu(), time.perf_counter()
        manifest = runner.run_all(cfg)
        return time.perf_counter() - start, cpu() - start_cpu, manifest["kept"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pages", type=int, default=60, help="pages per side")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/web_pages.jsonl"))
    parser.add_argument("--sample", type=Path, default=Path("data/sample/raw"))
    args = parser.parse_args()

    pages = build(args.seed, args.pages, args.sample)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pages), encoding="utf-8")
    sources = Counter(f"{p['side']}/{p['lang']}/{p['source']}" for p in pages)
    kinds = sorted({k for p in pages for k in p["labels"] if k not in BODY})
    docs = [Document(p["id"], p["text"], meta={"lang": p["lang"]}) for p in pages]
    cfg = LinesConfig()
    rules_cfg = LinesConfig(model_enabled=False)
    repeated = repeated_keys(docs, cfg)
    lines_cfg = LinesConfig(blocks=False)     # the model on every physical line alone (before blocks)
    cleaners = {"rules": LineCleaner(rules_cfg, repeated), "rules + model, per line": LineCleaner(lines_cfg, repeated),
                "rules + model": LineCleaner(cfg, repeated)}

    print(f"# Web pages: line cleaning\n\n`python benchmarks/bench_web_pages.py --seed {args.seed} --pages {args.pages}`"
          f" on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{datetime.date.today().isoformat()}\n")
    print(f"{len(pages)} pages ({', '.join(f'{k}: {v}' for k, v in sorted(sources.items()))}); "
          f"{sum(len(p['labels']) for p in pages)} lines; {len(kinds)} spam kinds; written to {args.out}\n")

    sides = {side: [i for i, p in enumerate(pages) if p["side"] == side] for side in ("train", "test")}
    results = {name: judge_pages(pages, c) for name, c in cleaners.items()}
    c4_kept, c4_removed = c4_lines(pages)
    results["datatrove C4 lines"] = c4_kept

    print("## Body kept / spam dropped\n")
    print("| side | cleaner | body kept | body kept zh | body kept en | titles kept | spam dropped | spam dropped zh | spam dropped en |")
    print("|---|---|---|---|---|---|---|---|---|")
    scores = {}
    for side, idx in sides.items():
        for name, kept in results.items():
            s = score([pages[i] for i in idx], [kept[i] for i in idx])
            scores[(side, name)] = s
            print(f"| {side} | {name} | {rate(s['body'])} | {rate(s['body:zh'])} | {rate(s['body:en'])} | "
                  f"{rate(s['kind:title'])} | {rate(s['spam'], False)} | {rate(s['spam:zh'], False)} | "
                  f"{rate(s['spam:en'], False)} |")

    merges = block_merges(pages, cfg)
    print(f"\nBlocks on these pages: {merges['joined']} lines joined into multi-line blocks, {merges['mixed']} of them "
          f"in a block that mixes body and spam lines.")

    print("\n## Spam dropped per kind (rules + model; datatrove C4 line rules beside)\n")
    print("| kind | lang | train lines | train dropped | test lines | test dropped | C4 test dropped |")
    print("|---|---|---|---|---|---|---|")
    for lang in ("zh", "en"):
        for kind in kinds:
            tr, te = scores[("train", "rules + model")], scores[("test", "rules + model")]
            key = f"kind:{lang}:{kind}"
            if tr[key]["n"] or te[key]["n"]:
                print(f"| {kind} | {lang} | {tr[key]['n']} | {rate(tr[key], False)} | {te[key]['n']} | "
                      f"{rate(te[key], False)} | {rate(scores[('test', 'datatrove C4 lines')][key], False)} |")

    print("\n## Body lines the model drops (first 12, both sides)\n")
    shown = 0
    for page, kept in zip(pages, results["rules + model"]):
        for label, k, line in zip(page["labels"], kept, page["text"].split("\n")):
            if label in BODY and not k and shown < 12:
                print(f"- {page['id']} ({label}): {line[:80]}")
                shown += 1

    print("\n## Pages removed whole\n")
    big = [i for i, p in enumerate(pages) if article_chars(p) >= 200]
    cleaned_texts = ["\n".join(line for line, k in zip(p["text"].split("\n"), kept) if k)
                     for p, kept in zip(pages, results["rules + model"])]
    langs = [p["lang"] for p in pages]
    raw_verdicts = page_filters([p["text"] for p in pages], langs)
    clean_verdicts = page_filters(cleaned_texts, langs)
    print(f"{len(big)} of {len(pages)} pages hold a genuine article of >= 200 characters.\n")
    print("| filter | raw pages removed | of them with article >= 200 chars | after our line cleaner: removed | with article >= 200 chars |")
    print("|---|---|---|---|---|")
    for name in raw_verdicts:
        raw, clean = raw_verdicts[name], clean_verdicts[name]
        top = Counter(r for r in raw if r).most_common(2)
        print(f"| datatrove {name} | {sum(map(bool, raw))} ({', '.join(f'{r} {n}' for r, n in top)}) | "
              f"{sum(bool(raw[i]) for i in big)} | {sum(map(bool, clean))} | {sum(bool(clean[i]) for i in big)} |")
    try:
        removed, chain = full_run(pages)
        reasons = Counter(removed.values())
        print(f"| `dataprep run` ({chain}) | {len(removed)} ({', '.join(f'{r} {n}' for r, n in reasons.most_common())}) | "
              f"{sum(pages[i]['id'] in removed for i in big)} | - | - |")
    except Exception as exc:  # the runner is being restructured; say so instead of hiding the table
        print(f"\n`dataprep run` chain failed: {type(exc).__name__}: {exc}")

    sample = load_sample(args.sample)
    sample_repeated = repeated_keys(sample, cfg)
    print("\n## Genuine text removed: the sample corpus's real records\n")
    print("Real records of data/sample/raw (no synthetic noise: fortunes incl. the hard-wrapped Chinese Debian "
          "Reference, English fortunes, Botchan), normalised, repeated-line keys counted over the whole sample. "
          "Share removed by the line stage, model per physical line (before) / per block (now); box-drawing "
          "table rows and attributions are accepted losses, shown apart.\n")
    loss = real_text_loss(sample, sample_repeated, {"before": lines_cfg, "now": cfg})
    print("| origin | lines | chars | lines removed before / now | chars removed before / now | "
          "prose chars (no tables, attributions) removed before / now | table chars removed before / now |")
    print("|---|---|---|---|---|---|---|")
    share = lambda c, k, n: f"{c[k] / c[n]:.1%}" if c[n] else "-"      # noqa: E731
    for origin in sorted(loss["now"], key=lambda o: (o == "all", o)):
        b, a = loss["before"][origin], loss["now"][origin]
        print(f"| {origin} | {a['lines']:,} | {a['chars']:,} | {share(b, 'lines_removed', 'lines')} / "
              f"{share(a, 'lines_removed', 'lines')} | {share(b, 'chars_removed', 'chars')} / "
              f"{share(a, 'chars_removed', 'chars')} | {share(b, 'chars_removed:prose', 'chars:prose')} / "
              f"{share(a, 'chars_removed:prose', 'chars:prose')} | {share(b, 'chars_removed:box', 'chars:box')} / "
              f"{share(a, 'chars_removed:box', 'chars:box')} |")
    a = loss["now"]["all"]
    print(f"\nAll real records, now: {share(a, 'chars_removed', 'chars')} of the characters removed; without "
          f"box-drawing tables {(a['chars_removed'] - a['chars_removed:box']) / (a['chars'] - a['chars:box']):.1%} "
          f"(attributions {a['chars_removed:attribution'] / (a['chars'] - a['chars:box']):.1%} of it).")

    print("\n## Line stage speed (CPU characters / second, best of 3)\n")
    print("| input | chars | rules only | rules + model per line | rules + model (blocks) | ratio to rules only |")
    print("|---|---|---|---|---|---|")
    for name, data, rep in (("these pages", docs, repeated), ("sample corpus", sample, sample_repeated)):
        before = cpu_rate(LineCleaner(rules_cfg, rep), data)
        per_line = cpu_rate(LineCleaner(lines_cfg, rep), data)
        after = cpu_rate(LineCleaner(cfg, rep), data)
        print(f"| {name} | {sum(len(d.text) for d in data):,} | {before / 1e6:.2f} M | {per_line / 1e6:.2f} M | "
              f"{after / 1e6:.2f} M | {after / before:.2f} |")
    print("\nWhole `dataprep run` on the sample corpus (all default steps, num_workers=1), line model off / on:\n")
    print("| line model | wall s | CPU s | docs kept |")
    print("|---|---|---|---|")
    for model in (False, True, False, True):
        wall, cpu, kept = whole_run(args.sample, model)
        print(f"| {'on' if model else 'off'} | {wall:.1f} | {cpu:.1f} | {kept} |")


if __name__ == "__main__":
    main()
