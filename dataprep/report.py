"""Human-readable report of a dataprep run: where every document went, and what was removed.

Reads from the run directory (written by `dataprep.runner`):
  manifest.json   {"docs_in", "kept", "quarantined", "stages": {name: {"seen", "kept",
                  "removed": {reason: n}, "counters": {key: n}}} in pipeline order, ...}
  removed.jsonl   one `Removal` per line: id, stage, reason, source, snippet, and detail
                  where the stage says what it found (decontam: the eval item matched)
  clusters.jsonl  one near-duplicate cluster per line: {"kept": id, "duplicates" (or "members"):
                  [{"id", "similarity"}]}                                    (optional)
  lengths.json    {"edges": [bin edges, characters], "before": [documents per bin after
                  reading], "after": [kept documents per bin]}              (optional)
  config.yaml     the run's settings: the report names the setting behind each removal reason
                  (dataprep/thresholds.py)                                   (optional)
  clean/          the kept documents: a few of each language are shown
and, when given, a packed directory's manifest.json (`dataprep pack`: tokens per source,
language and domain). It writes report/index.html and report/report.md with PNG plots beside
them: the removal waterfall per stage and reason, document lengths before/after (log x), the
near-duplicate cluster sizes, and the distribution of each filter metric with its cut (the
manifest's `stages.<stage>.metrics`, dataprep/histograms.py), one figure per stage and language.
index.html is one self-contained file (plots inlined as data URIs), so it can be mailed or
archived alone. Plots are labelled in English: a CJK font is usually absent.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow.parquet as pq
import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

from common.atomic import atomic_write, write_text
from common.config import ConfigError
from dataprep import histograms, thresholds
from dataprep.packed import add_counts

EXAMPLES_PER_REASON = 5
KEPT_EXAMPLES_PER_LANG = 3
SOURCES_SHOWN = 50                 # rows of the per-source table (largest first)
SNIPPET_CHARS = 300
METRIC_COLUMNS = 4                 # small plots per row of a metric figure
PIPELINE_ORDER = ["read", "normalize", "lines", "quality", "sensitive_words", "pii", "exact_dedup", "minhash"]
DEDUP_STAGES = {"exact_dedup", "minhash"}


class ReportError(ConfigError):
    """The run directory lacks what the report needs; the message names the file (the CLI prints it)."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path} not found: is this a finished dataprep run directory?") from None
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc})") from None


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records one at a time: removed.jsonl and clusters.jsonl grow with the corpus."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ReportError(f"{path}:{number}: not valid JSON ({exc})") from None


def ordered_stages(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The manifest's stages in pipeline order (its stage_order; JSON objects carry no order)."""
    stages = manifest.get("stages")
    if not isinstance(stages, dict):
        raise ReportError("manifest.json has no 'stages' mapping of stage name -> counts")
    order = manifest.get("stage_order")
    if isinstance(order, list) and set(order) == set(stages):
        return [(name, stages[name]) for name in order]
    known = [s for s in PIPELINE_ORDER if s in stages]
    others = sorted(set(stages) - set(known))
    cut = next((i for i, s in enumerate(known) if s in DEDUP_STAGES), len(known))
    return [(name, stages[name]) for name in known[:cut] + others + known[cut:]]


def removal_steps(manifest: dict[str, Any]) -> list[tuple[str, int]]:
    """("stage/reason", count) in pipeline order, quarantined records first."""
    steps = [("read/quarantined", int(manifest.get("quarantined", 0)))]
    for name, st in ordered_stages(manifest):
        for reason, n in sorted(st.get("removed", {}).items(), key=lambda kv: -kv[1]):
            steps.append((f"{name}/{reason}", int(n)))
    return [(label, n) for label, n in steps if n]


def _png(fig: Figure, path: Path, tight: bool = True) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight" if tight else None)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())


def _inline(path: Path, alt: str) -> str:
    """An <img> holding the PNG itself, so index.html needs no file beside it."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img src='data:image/png;base64,{data}' alt='{alt}'>"


def run_settings(run_dir: Path) -> dict[str, Any]:
    """The run's config.yaml (written by the plan step), or {} for a run made before it existed."""
    path = run_dir / "config.yaml"
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


def kept_examples(run_dir: Path, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The first few kept documents of each language, from the clean shards in order."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    wanted = set(manifest.get("kept_by_lang", {}))
    for name in manifest.get("outputs", {}).get("clean", []):
        for batch in pq.ParquetFile(run_dir / name).iter_batches(batch_size=256, columns=["id", "text", "source", "lang"]):
            for row in batch.to_pylist():
                if len(found[row["lang"]]) < KEPT_EXAMPLES_PER_LANG:
                    found[row["lang"]].append(row)
            if all(len(found[lang]) >= KEPT_EXAMPLES_PER_LANG for lang in wanted):
                return dict(sorted(found.items()))
    return dict(sorted(found.items()))


GROUP_COLUMNS = ["docs read", "chars read", "docs kept", "chars kept"]
PACKED_COLUMNS = ["docs packed", "tokens", "chars/token"]


def packed_groups(packed: dict[str, Any], key: str) -> dict[str, dict[str, int]]:
    """A packed manifest's documents, tokens and characters per value of `key`, summed over its splits."""
    total: dict[str, dict[str, int]] = {}
    for info in packed.get("splits", {}).values():
        for value, counts in info.get(f"by_{key}", {}).items():
            add_counts(total, value, counts)
    return total


def group_rows(manifest: dict[str, Any], key: str, packed: dict[str, Any] | None = None) -> list[tuple[str, list]]:
    """(value, [docs read, chars read, docs kept, chars kept] + with a packed manifest [docs packed,
    tokens, chars/token]) per source, language or domain, most kept first."""
    data = manifest.get(f"by_{key}", {})
    tokens = packed_groups(packed, key) if packed is not None else {}
    rows = []
    for value in sorted(set(data) | set(tokens)):
        g = data.get(value, {})
        row: list = [g.get("read_docs", 0), g.get("read_chars", 0), g.get("kept_docs", 0), g.get("kept_chars", 0)]
        if packed is not None:
            t = tokens.get(value, {})
            n = t.get("tokens", 0)
            row += [t.get("documents", 0), n, t.get("characters", 0) / n if n else 0.0]
        rows.append((value or "(not given)", row))
    rows.sort(key=lambda r: (-r[1][2], -(r[1][4] if packed is not None else 0), -r[1][0]))
    return rows[:SOURCES_SHOWN] if key == "source" else rows


def _cell(n: int | float) -> str:
    return f"{n:.2f}" if isinstance(n, float) else f"{n:,}"


@dataclasses.dataclass
class MetricFigure:
    """The metrics of one stage (and language) drawn in one figure."""
    title: str                                   # "quality zh", "read"
    file: str                                    # its PNG under report/
    items: list[tuple[str, dict[str, Any]]]      # ("stage/metric", histogram JSON)


def metric_figures(manifest: dict[str, Any]) -> list[MetricFigure]:
    """The manifest's filter metrics grouped by stage and language ("zh.chars" -> "quality zh"), in pipeline order."""
    figures: dict[str, MetricFigure] = {}
    for stage, st in ordered_stages(manifest):
        for metric, hist in sorted(st.get("metrics", {}).items()):
            if not sum(hist.get("counts", [])):
                continue
            lang = metric.rpartition(".")[0]
            title = f"{stage} {lang}".strip()
            file = "metrics-" + re.sub(r"[^\w.-]+", "_", title) + ".png"
            figures.setdefault(title, MetricFigure(title, file, [])).items.append((f"{stage}/{metric}", hist))
    return list(figures.values())


def metric_rows(figures: list[MetricFigure]) -> list[tuple[str, int, str, int]]:
    """(stage/metric, documents measured, "setting >= value" or "-", documents past that cut) per cut."""
    rows = []
    for figure in figures:
        for label, hist in figure.items:
            measured = sum(hist["counts"])
            rows += [(label, measured, f"{c['setting']} {c['keep']} {c['value']:g}", c["past"]) for c in hist["cuts"]]
            if not hist["cuts"]:
                rows.append((label, measured, "-", 0))
    return rows


def _past(past: int, measured: int) -> str:
    return f"{past:,} ({past / measured:.1%})" if measured else "0"


def plot_metrics(figure: MetricFigure, path: Path) -> None:
    """Small multiples: each metric's histogram over the documents the filter measured, a dashed
    line at each cut, the share past it in the title. Log-binned metrics get a log x axis, their
    [0, lo) bin drawn just left of lo."""
    cols = min(METRIC_COLUMNS, len(figure.items))
    rows = -(-len(figure.items) // cols)
    height = 2.5 * rows + 0.6
    fig = Figure(figsize=(3.4 * cols, height))
    # fixed spacing and few ticks: text layout is most of the time (tight_layout made 20 plots take 10 s)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.35 / height, top=1 - 0.85 / height, hspace=0.75, wspace=0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (label, hist) in zip(axes.flat, figure.items):
        edges, counts = histograms.edges_of(hist), np.asarray(hist["counts"])
        log = hist["bins"]["kind"] == "log"
        if log:
            edges[0] = edges[1] / 2
        used = np.flatnonzero(counts)
        lo, hi = int(used[0]), int(used[-1]) + 1
        ax.stairs(counts[lo:hi], edges[lo:hi + 1], fill=True, color="#4c72b0", alpha=0.8)
        left, right = edges[lo], edges[hi]
        measured = int(counts.sum())
        notes = []
        for cut in hist["cuts"]:
            x = max(float(cut["value"]), edges[0])
            ax.axvline(x, color="#c44e52", linestyle="--", linewidth=1.2)
            left, right = min(left, x), max(right, x)
            notes.append(f"{cut['keep']} {cut['value']:g}: {cut['past'] / measured:.1%} past")
        if log:                                  # margins, so a cut at the edge of the data stays visible
            ax.set_xscale("log")
            ax.set_xlim(left / 1.2, right * 1.2)
            if right / left < 30:                # a narrow span: ticks at 1-2-5 steps, not decades only
                ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            margin = 0.05 * (right - left or 1.0)
            ax.set_xlim(left - margin, right + margin)
        ax.set_title(f"{label.split('/', 1)[1]} ({measured:,} docs)\n" + "; ".join(notes), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(4, integer=True))
        if not log:
            ax.xaxis.set_major_locator(MaxNLocator(5))
    for ax in axes.flat[len(figure.items):]:
        ax.set_visible(False)
    fig.suptitle(f"{figure.title}: each metric with its cut (dashed)", fontsize=10)
    _png(fig, path, tight=False)


def plot_waterfall(docs_in: int, steps: list[tuple[str, int]], kept: int, path: Path) -> None:
    labels = ["input documents"] + [label for label, _ in steps] + ["kept"]
    fig = Figure(figsize=(9, 0.32 * len(labels) + 1.2))
    ax = fig.subplots()
    remaining = docs_in
    lefts, widths, colors = [0], [docs_in], ["#4c72b0"]
    for _, n in steps:
        remaining -= n
        lefts.append(remaining)
        widths.append(n)
        colors.append("#dd8452")
    lefts.append(0)
    widths.append(kept)
    colors.append("#55a868")
    y = np.arange(len(labels))
    ax.barh(y, widths, left=lefts, color=colors)
    for yi, left, width in zip(y, lefts, widths):
        ax.text(left + width, yi, f" {width:,}", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("documents")
    ax.set_title("Where the documents went (stage/reason)")
    ax.set_xlim(0, docs_in * 1.12 if docs_in else 1)
    _png(fig, path)


def plot_lengths(edges: list[float], before: list[int], after: list[int], path: Path) -> None:
    """Histograms written by the runner (fixed log-spaced bins); the x range ends at the longest bin used."""
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    bins = np.array(edges, dtype=float)
    bins[0] = 0.5                                   # the [0, 1) bin, drawable on a log axis
    used = np.flatnonzero(np.add(before, after))
    last = int(used[-1]) + 2 if len(used) else len(bins)
    for label, counts in (("before", before), ("after", after)):
        ax.stairs(counts[: last - 1], bins[:last], fill=True, alpha=0.55, label=f"{label} ({sum(counts):,} docs)")
    ax.set_xscale("log")
    ax.set_xlabel("document length (characters, log scale)")
    ax.set_ylabel("documents")
    ax.set_title("Document lengths before and after cleaning")
    ax.legend()
    _png(fig, path)


def plot_cluster_sizes(counts: Counter[int], path: Path) -> None:
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    xs = sorted(counts)
    ax.bar([str(x) for x in xs], [counts[x] for x in xs], color="#8172b3")
    ax.set_xlabel("cluster size (kept document + its near-duplicates)")
    ax.set_ylabel("clusters")
    ax.set_title(f"Near-duplicate clusters ({sum(counts.values()):,})")
    _png(fig, path)


def cluster_members(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return cluster.get("duplicates", cluster.get("members", []))


def _examples(removals: Iterable[dict[str, Any]], steps: list[tuple[str, int]]) -> dict[str, list[dict[str, Any]]]:
    """The first removed records of each stage/reason, in waterfall order."""
    by_reason: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in removals:
        label = f"{record.get('stage', '?')}/{record.get('reason', '?')}"
        if len(by_reason[label]) < EXAMPLES_PER_REASON:
            by_reason[label].append(record)
    order = [label for label, _ in steps if label in by_reason]
    return {label: by_reason[label] for label in order + sorted(set(by_reason) - set(order))}


def edit_examples(manifest: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """("stage: counter", examples) for edits inside kept documents: removed lines, scrubbed PII."""
    return [(f"{name}: {key}", list(examples)) for name, st in ordered_stages(manifest)
            for key, examples in sorted(st.get("examples", {}).items()) if examples]


def _stage_rows(manifest: dict[str, Any]) -> list[tuple[str, int, int, str, str]]:
    rows = []
    for name, st in ordered_stages(manifest):
        removed = ", ".join(f"{r}: {n:,}" for r, n in sorted(st.get("removed", {}).items(), key=lambda kv: -kv[1]))
        counters = ", ".join(f"{k}: {n:,}" for k, n in sorted(st.get("counters", {}).items()))
        rows.append((name, int(st.get("seen", 0)), int(st.get("kept", 0)), removed or "-", counters or "-"))
    return rows


@dataclasses.dataclass
class Contents:
    """What the report shows, read once and written twice (HTML, Markdown)."""
    manifest: dict[str, Any]
    steps: list[tuple[str, int]]
    examples: dict[str, list[dict[str, Any]]]
    has_lengths: bool
    clusters: Counter[int]
    settings: dict[str, Any]
    kept: dict[str, list[dict[str, Any]]]
    metrics: list[MetricFigure]
    packed: dict[str, Any] | None            # a packed directory's manifest, with --packed

    def group_columns(self) -> list[str]:
        return GROUP_COLUMNS + (PACKED_COLUMNS if self.packed is not None else [])

    def packed_line(self) -> str:
        splits = (self.packed or {}).get("splits", {})
        parts = ", ".join(f"{split} {info['num_tokens']:,} tokens / {info['num_documents']:,} docs"
                          for split, info in splits.items())
        return f"packed: {parts}" if self.packed is not None else ""


METRICS_NOTE = ("Each filter's metric over the documents it measured, with its cut. Quality rules run "
                "cheapest first and stop at the first failure, so a rule measures only the documents that "
                "reached it; past the cut = removed by it, except documents quality hands to the learned "
                "score (quality.defer_short, quality.defer_rules), which doc_score then decides.")


def _html(c: Contents, out: Path) -> str:
    esc, manifest = html.escape, c.manifest
    total_removed = sum(n for label, n in c.steps if label != "read/quarantined")
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>dataprep report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%}"
             "pre{white-space:pre-wrap;background:#f6f6f6;padding:6px;font-size:85%}"
             "img{max-width:100%}</style></head><body>",
             "<h1>dataprep report</h1>",
             f"<p>documents in: <b>{manifest.get('docs_in', 0):,}</b> &middot; kept: <b>{manifest.get('kept', 0):,}</b>"
             f" &middot; removed: <b>{total_removed:,}</b>"
             f" &middot; quarantined: <b>{manifest.get('quarantined', 0):,}</b></p>",
             f"<p>{esc(c.packed_line())}</p>" if c.packed is not None else "",
             "<h2>Removal waterfall</h2>", _inline(out / "waterfall.png", "removal waterfall"),
             "<table><tr><th>stage/reason</th><th>documents</th><th>setting behind it</th></tr>"]
    parts += [f"<tr><td>{esc(label)}</td><td>{n:,}</td><td><code>{esc(thresholds.describe(label, c.settings))}</code>"
              f"</td></tr>" for label, n in c.steps]
    parts.append("</table><h2>Stages</h2><table><tr><th>stage</th><th>seen</th><th>kept</th>"
                 "<th>removed by reason</th><th>counters</th></tr>")
    parts += [f"<tr><td>{esc(a)}</td><td>{b:,}</td><td>{n:,}</td><td>{esc(d)}</td><td>{esc(e)}</td></tr>"
              for a, b, n, d, e in _stage_rows(manifest)]
    parts.append("</table>")
    if c.metrics:
        parts += ["<h2>Filter metrics and their cuts</h2>", f"<p>{esc(METRICS_NOTE)}</p>",
                  "<table><tr><th>stage/metric</th><th>documents measured</th><th>cut</th><th>past the cut</th></tr>"]
        parts += [f"<tr><td>{esc(label)}</td><td>{n:,}</td><td><code>{esc(cut)}</code></td><td>{_past(past, n)}</td></tr>"
                  for label, n, cut, past in metric_rows(c.metrics)]
        parts.append("</table>")
        parts += [_inline(out / f.file, f"{f.title} metrics") for f in c.metrics]
    for key, title in (("lang", "Per language"), ("domain", "Per domain"), ("source", "Per source")):
        parts.append(f"<h2>{title}</h2><table><tr><th>{key}</th>"
                     + "".join(f"<th>{col}</th>" for col in c.group_columns()) + "</tr>")
        parts += [f"<tr><td>{esc(v)}</td>" + "".join(f"<td>{_cell(n)}</td>" for n in nums) + "</tr>"
                  for v, nums in group_rows(manifest, key, c.packed)]
        parts.append("</table>")
    parts.append("<h2>Document lengths</h2>")
    parts.append(_inline(out / "lengths.png", "length histograms") if c.has_lengths
                 else "<p>lengths.json missing: no length histogram.</p>")
    parts.append(f"<h2>Near-duplicate clusters</h2><p>{sum(c.clusters.values()):,} clusters</p>")
    if c.clusters:
        parts.append(_inline(out / "clusters.png", "cluster sizes"))
    parts.append("<h2>Kept examples</h2>")
    for lang, rows in c.kept.items():
        parts.append(f"<h3>{esc(lang)}</h3>")
        parts += [f"<p><code>{esc(str(r['id']))}</code> from <code>{esc(str(r['source']))}</code></p>"
                  f"<pre>{esc(r['text'][:SNIPPET_CHARS])}</pre>" for r in rows]
    parts.append("<h2>Edits inside kept documents: examples</h2>")
    for label, texts in edit_examples(manifest):
        parts.append(f"<h3>{esc(label)}</h3>")
        parts += [f"<pre>{esc(t[:SNIPPET_CHARS])}</pre>" for t in texts]
    parts.append("<h2>Removed examples per reason</h2>")
    for label, records in c.examples.items():
        parts.append(f"<h3>{esc(label)}</h3>")
        for r in records:
            detail = f" &middot; {esc(str(r['detail']))}" if r.get("detail") else ""
            parts.append(f"<p><code>{esc(str(r.get('id')))}</code> from "
                         f"<code>{esc(str(r.get('source', '')))}</code>{detail}</p>"
                         f"<pre>{esc(str(r.get('snippet', ''))[:SNIPPET_CHARS])}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _markdown(c: Contents) -> str:
    manifest = c.manifest
    lines = ["# dataprep report", "",
             f"documents in: **{manifest.get('docs_in', 0):,}**, kept: **{manifest.get('kept', 0):,}**, "
             f"quarantined: **{manifest.get('quarantined', 0):,}**", ""]
    if c.packed is not None:
        lines += [c.packed_line(), ""]
    lines += ["![removal waterfall](waterfall.png)", "", "| stage/reason | documents | setting behind it |",
              "|---|---|---|"]
    lines += [f"| {label} | {n:,} | {thresholds.describe(label, c.settings)} |" for label, n in c.steps]
    lines += ["", "| stage | seen | kept | removed by reason | counters |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {b:,} | {n:,} | {d} | {e} |" for a, b, n, d, e in _stage_rows(manifest)]
    if c.metrics:
        lines += ["", "## Filter metrics and their cuts", "", METRICS_NOTE, "",
                  "| stage/metric | documents measured | cut | past the cut |", "|---|---|---|---|"]
        lines += [f"| {label} | {n:,} | `{cut}` | {_past(past, n)} |" for label, n, cut, past in metric_rows(c.metrics)]
        lines += [""] + [f"![{f.title} metrics]({f.file})" for f in c.metrics]
    for key in ("lang", "domain", "source"):
        columns = c.group_columns()
        lines += ["", f"| {key} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        lines += [f"| {v} | " + " | ".join(_cell(n) for n in nums) + " |" for v, nums in group_rows(manifest, key, c.packed)]
    lines += ["", "![length histograms](lengths.png)" if c.has_lengths else "lengths.json missing: no length histogram.",
              "", f"{sum(c.clusters.values()):,} near-duplicate clusters", ""]
    if c.clusters:
        lines += ["![cluster sizes](clusters.png)", ""]
    lines.append("## Kept examples")
    for lang, rows in c.kept.items():
        lines += ["", f"### {lang}", ""]
        lines += [f"- `{r['id']}`: {html.escape(r['text'][:SNIPPET_CHARS].replace(chr(10), ' ⏎ '))}" for r in rows]
    lines += ["", "## Edits inside kept documents: examples"]
    for label, texts in edit_examples(manifest):
        lines += ["", f"### {label}", ""]
        lines += [f"- {html.escape(t[:SNIPPET_CHARS].replace(chr(10), ' ⏎ '))}" for t in texts]
    lines += ["", "## Removed examples per reason"]
    for label, records in c.examples.items():
        lines += ["", f"### {label}", ""]
        for r in records:
            snippet = str(r.get("snippet", ""))[:SNIPPET_CHARS].replace("\n", " ⏎ ")
            detail = f" ({html.escape(str(r['detail']))})" if r.get("detail") else ""
            lines.append(f"- `{r.get('id')}`{detail}: {html.escape(snippet)}")
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | Path, packed: str | Path | None = None) -> Path:
    """Write `<run_dir>/report/` (index.html, report.md, PNGs); returns the index.html path. With
    `packed` (a `dataprep pack` output directory) the per-source/language/domain tables add its tokens."""
    run_dir = Path(run_dir)
    manifest = _read_json(run_dir / "manifest.json")
    packed_manifest = None
    if packed is not None:
        from dataprep.packed import PackedFormatError, read_manifest

        try:
            packed_manifest = read_manifest(packed)
        except PackedFormatError as exc:
            raise ReportError(str(exc)) from None
    steps = removal_steps(manifest)
    removals = _read_jsonl(run_dir / "removed.jsonl")
    clusters = Counter(1 + len(cluster_members(c)) for c in _read_jsonl(run_dir / "clusters.jsonl"))
    lengths_path = run_dir / "lengths.json"
    lengths = _read_json(lengths_path) if lengths_path.exists() else None
    out = run_dir / "report"
    plot_waterfall(int(manifest.get("docs_in", 0)), steps, int(manifest.get("kept", 0)), out / "waterfall.png")
    if lengths is not None:
        if "edges" not in lengths:
            raise ReportError(f"{lengths_path}: no 'edges': written by an older version; rerun the finalize step")
        plot_lengths(lengths["edges"], lengths["before"], lengths["after"], out / "lengths.png")
    if clusters:
        plot_cluster_sizes(clusters, out / "clusters.png")
    figures = metric_figures(manifest)
    for figure in figures:
        plot_metrics(figure, out / figure.file)
    contents = Contents(manifest, steps, _examples(removals, steps), lengths is not None, clusters,
                        run_settings(run_dir), kept_examples(run_dir, manifest), figures, packed_manifest)
    write_text(out / "report.md", _markdown(contents))
    index = out / "index.html"
    write_text(index, _html(contents, out))
    return index
