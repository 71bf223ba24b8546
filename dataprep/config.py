"""DataConfig: everything `dataprep run` needs, one dataclass tree loaded from YAML + overrides.

Sections for the quality engineer's stages (quality, lines, safety) use their own config
dataclasses, so each stage's knobs live beside the code that reads them.
"""
from __future__ import annotations

import dataclasses

from common.config import ConfigError, config_hash
from dataprep.stages.lines import LinesConfig
from dataprep.stages.quality import QualityConfig
from dataprep.stages.safety import SafetyConfig
from dataprep.steps import DEFAULT_STEPS, CustomStep, validate_steps


@dataclasses.dataclass
class ReadConfig:
    max_doc_chars: int = 1_000_000     # longer documents are removed as "too_large" (reader memory bound)

    def validate(self) -> None:
        if self.max_doc_chars < 1:
            raise ConfigError("read.max_doc_chars must be >= 1")


@dataclasses.dataclass
class NormalizeConfig:
    t2s: bool = False                  # convert Traditional to Simplified Chinese with OpenCC


@dataclasses.dataclass
class ExactDedupConfig:
    enabled: bool = True


@dataclasses.dataclass
class MinHashConfig:
    # threshold 0.7 / 128 permutations: data-juicer's Chinese setting and the operating point at
    # which datasketch's optimiser picks 14 bands x 9 rows (ANCHORS.md); datatrove's 14x8 sits at
    # ~0.72. 5-character shingles for Han text follow data-juicer (window 5); NeMo's 24-char
    # shingles target web boilerplate and miss edited paragraphs. Word 5-grams for Latin text
    # match datatrove.
    enabled: bool = True
    threshold: float = 0.7
    num_perm: int = 128
    han_ngram: int = 5
    word_ngram: int = 5
    seed: int = 1
    false_positive_weight: float = 0.5
    false_negative_weight: float = 0.5
    batch_size: int = 1000             # documents per MinHash.bulk call

    def validate(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError("minhash.threshold must be between 0 and 1 (exclusive)")
        if self.num_perm < 2:
            raise ConfigError("minhash.num_perm must be >= 2")
        if self.han_ngram < 1 or self.word_ngram < 1:
            raise ConfigError("minhash.han_ngram and minhash.word_ngram must be >= 1")


@dataclasses.dataclass
class DataConfig:
    inputs: list[str] = dataclasses.field(default_factory=list)  # files, directories or globs
    # the stages in order (dataprep/steps.py): built-in names, or {name, use: module:Class, params}
    steps: list[CustomStep | str] = dataclasses.field(default_factory=lambda: list(DEFAULT_STEPS))
    output: str = "runs/dataprep"
    text_field: str = "text"
    id_field: str = "id"
    num_workers: int = 2               # processes per task for per-shard steps
    shard_size: int = 20_000           # input records per shard (jsonl lines, parquet rows, txt files)
    lang_zh_min_han: float = 0.3       # Han / (Han + Latin letters) from which a doc is "zh", else "en"
    read: ReadConfig = dataclasses.field(default_factory=ReadConfig)
    normalize: NormalizeConfig = dataclasses.field(default_factory=NormalizeConfig)
    lines: LinesConfig = dataclasses.field(default_factory=LinesConfig)
    quality: QualityConfig = dataclasses.field(default_factory=QualityConfig)
    safety: SafetyConfig = dataclasses.field(default_factory=SafetyConfig)
    exact_dedup: ExactDedupConfig = dataclasses.field(default_factory=ExactDedupConfig)
    minhash: MinHashConfig = dataclasses.field(default_factory=MinHashConfig)

    def validate(self) -> None:
        if not self.inputs:
            raise ConfigError("inputs is empty: list at least one file, directory or glob")
        if self.num_workers < 1:
            raise ConfigError("num_workers must be >= 1")
        if self.shard_size < 1:
            raise ConfigError("shard_size must be >= 1")
        validate_steps(self.steps)

    def settings_hash(self) -> str:
        """Hash of the settings that change outputs (not workers or the output path)."""
        return config_hash(dataclasses.replace(self, num_workers=1, output=""))
