"""Which setting removes what: the config keys (and their values in a run) behind each removal reason.

The report and the run's loud failures name them, so a user who sees "quality/too_short: 40%"
also sees `quality.zh.min_chars = 201` and knows what to change. Reasons are "<stage>/<reason>"
as in the manifest's `removed_by_reason`. A reason no rule here matches (a custom step's) shows
no setting; tests/test_report.py checks that every reason of the sample run is matched.
"""
from __future__ import annotations

import re
from typing import Any

QUALITY_BOTH = {   # rules of both languages: the zh and en settings of the same name
    "few_stop_words": "min_stop_words", "symbol_ratio": "max_symbol_ratio", "digit_ratio": "max_digit_ratio",
    "short_lines": "min_mean_line_chars", "few_terminal_punct": "min_terminal_punct_frac",
    "dup_line_frac": "max_dup_line_frac", "dup_line_char_frac": "max_dup_line_char_frac",
    "dup_para_frac": "max_dup_para_frac", "dup_para_char_frac": "max_dup_para_char_frac",
}
RULES: list[tuple[str, list[str]]] = [
    (r"read/too_large", ["read.max_doc_chars"]),
    (r"read/empty|normalize/empty_after_normalize", []),          # nothing to tune: there was no text
    (r"lines/empty_after_line_clean", ["lines.min_docs", "lines.max_repeated_frac", "lines.model_threshold",
                                       "lines.block_threshold"]),
    (r"quality/too_short", ["quality.zh.min_chars"]),
    (r"quality/too_few_words", ["quality.en.min_words"]),
    (r"quality/too_many_words", ["quality.en.max_words"]),
    (r"quality/mean_word_length", ["quality.en.min_mean_word_len", "quality.en.max_mean_word_len"]),
    (r"quality/low_alpha_words", ["quality.en.min_alpha_word_frac"]),
    (r"quality/low_han_ratio", ["quality.zh.min_han_ratio"]),
    (r"quality/other_language", ["quality.drop_other_languages", "lang_zh_min_han"]),
    *((f"quality/{reason}", [f"quality.zh.{key}", f"quality.en.{key}"]) for reason, key in QUALITY_BOTH.items()),
    (r"quality/top_(\d+)char_frac", [r"quality.zh.top_ngram_max.\1"]),
    (r"quality/top_(\d+)gram_frac", [r"quality.en.top_ngram_max.\1"]),
    (r"quality/dup_(\d+)char_frac", [r"quality.zh.dup_ngram_max.\1"]),
    (r"quality/dup_(\d+)gram_frac", [r"quality.en.dup_ngram_max.\1"]),
    (r"doc_score/low_quality_score", ["doc_score.zh.min_score", "doc_score.en.min_score"]),
    (r"doc_score/low_quality_score_short", ["doc_score.zh.min_score_short", "doc_score.en.min_score_short"]),
    (r"sensitive_words/sensitive_words", ["safety.max_hits_per_line", "safety.blocklist"]),
    (r"exact_dedup/exact_duplicate", ["exact_dedup.enabled"]),
    (r"minhash/near_duplicate", ["minhash.threshold", "minhash.num_perm"]),
    (r"decontam/decontam", ["decontam.word_ngram", "decontam.han_ngram", "decontam.eval_files"]),
]


def _lookup(config: dict[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if isinstance(node, dict) and part not in node and part.isdigit():
            part = int(part)                     # n-gram tables are keyed by int
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# a quality rule deferred to the learned score (quality.defer_rules), whose verdict then stood
DEFERRED = re.compile(r"doc_score/(?!low_quality_score)(.+)")


def known(reason: str) -> bool:
    deferred = DEFERRED.fullmatch(reason)
    if deferred:
        return known(f"quality/{deferred.group(1)}")
    return any(re.fullmatch(pattern, reason) for pattern, _ in RULES)


def settings_for(reason: str, config: dict[str, Any]) -> dict[str, Any]:
    """{dotted key: value in this run} of the settings behind a "<stage>/<reason>" key ({} if none)."""
    deferred = DEFERRED.fullmatch(reason)
    if deferred:
        rule = settings_for(f"quality/{deferred.group(1)}", config)
        langs = sorted({key.split(".")[1] for key in rule if key.count(".") >= 2})
        cuts = [f"doc_score.{lang}.min_score_deferred" for lang in langs]
        return {**rule, **{key: _lookup(config, key) for key in cuts}}
    for pattern, keys in RULES:
        match = re.fullmatch(pattern, reason)
        if match:
            names = [match.expand(k) for k in keys]
            return {name: _lookup(config, name) for name in names}
    return {}


def describe(reason: str, config: dict[str, Any]) -> str:
    """"quality.zh.min_chars = 201" (comma-separated), or "" when no setting is behind the reason."""
    return ", ".join(f"{k} = {v}" for k, v in settings_for(reason, config).items())
