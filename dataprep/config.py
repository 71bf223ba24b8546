"""DataConfig: everything `dataprep run` needs, one dataclass tree loaded from YAML + overrides.

Sections for the quality engineer's stages (quality, lines, safety) use their own config
dataclasses, so each stage's knobs live beside the code that reads them.
"""
from __future__ import annotations

import dataclasses

import yaml

from common.config import ConfigError, config_hash, to_dict
from dataprep.domains import DomainConfig
from dataprep.stages.decontam import DecontamConfig
from dataprep.stages.doc_score import DocScoreConfig
from dataprep.stages.lines import LinesConfig
from dataprep.stages.normalize import ZH_MIN_HAN
from dataprep.stages.quality import QualityConfig
from dataprep.stages.safety import SafetyConfig
from dataprep.steps import DEFAULT_STEPS, CustomStep, active, step_name, validate_steps
from dataprep.tracking import DataWandbConfig


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
    # Shingles and threshold measured by benchmarks/bench_neardup.py (docs/BENCHMARKS.md,
    # "Near-duplicates: planted reposts"): reposts of real text with 2-10% of words edited plus a
    # layout change keep true Jaccard >= 0.58 under Han character 3-grams and Latin character
    # 6-grams, while different short articles in the same site chrome stay <= 0.39 and distinct real
    # documents <= 0.26. Threshold 0.5 sits between, about two standard errors of a 128-permutation
    # estimate (0.044) from each side. Before (issue 14): word 5-grams left a 10%-edited English
    # repost at J ~0.36 and Han 5-grams (data-juicer's window) a Chinese one at ~0.50, under 0.7.
    # Latin char 6 rather than 5: the same margin for reposts (>= 0.68 vs 0.69) at half the
    # similarity of unrelated English documents (0.028 vs 0.053), so ~10x fewer random LSH band
    # matches at 4 rows. latin_char_ngram 0 restores the old shingles: word_ngram-word shingles
    # for a document whose tokens are mostly Latin words.
    # false_negative_weight 0.9: datasketch's optimiser then picks 32 bands x 4 rows at t=0.5, the
    # S-curve midpoint (1/32)^(1/4) = 0.42 below the threshold (equal weights pick 25x5, midpoint
    # 0.525, above it, as 14x9 centred 0.7 at 0.75). Candidates are verified (estimated Jaccard >=
    # threshold), so a false candidate costs one comparison and a missed one a kept duplicate.
    enabled: bool = True
    threshold: float = 0.5
    num_perm: int = 128
    han_ngram: int = 3
    word_ngram: int = 5                # used only with latin_char_ngram 0
    latin_char_ngram: int = 6
    seed: int = 1
    false_positive_weight: float = 0.1
    false_negative_weight: float = 0.9
    batch_size: int = 512              # shingles permuted at once: 512 x 128 x 4 B = 256 KB stays in cache

    def validate(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError("minhash.threshold must be between 0 and 1 (exclusive)")
        if self.num_perm < 2:
            raise ConfigError("minhash.num_perm must be >= 2")
        if self.han_ngram < 1 or self.word_ngram < 1:
            raise ConfigError("minhash.han_ngram and minhash.word_ngram must be >= 1")
        if self.latin_char_ngram < 0:
            raise ConfigError("minhash.latin_char_ngram must be >= 0 (0: word n-grams for Latin text)")
        if self.batch_size < 1:
            raise ConfigError("minhash.batch_size must be >= 1")


@dataclasses.dataclass
class GlobalStepsConfig:
    """How the global steps are split into units so that no task holds the whole corpus (issue 20).

    The counts change the work layout (so they are part of the settings hash) but never the
    outputs: a run with 1 bucket and one with 64 keep the same documents.
    """
    # line keys hash to this many buckets; `linecount` task I counts buckets I, I+N, ...:
    # memory per bucket ~ distinct line keys / buckets x ~160 B
    linecount_buckets: int = 1
    # each LSH band's keys split into this many hash ranges; a `lsh` unit is one (band, range):
    # memory per unit ~ documents / lsh_parts x ~40 B. Also the passes of exact dedup in `dedup`.
    lsh_parts: int = 1
    # after finalize, remove <output>/work once the outputs are verified (`dataprep clean-work`)
    clean_work: bool = False

    def validate(self) -> None:
        if self.linecount_buckets < 1 or self.lsh_parts < 1:
            raise ConfigError("global_steps.linecount_buckets and global_steps.lsh_parts must be >= 1, got "
                              f"{self.linecount_buckets} and {self.lsh_parts}")


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
    lang_zh_min_han: float = ZH_MIN_HAN  # Han / (Han + Latin letters), code tokens left out: from it "zh", else "en"
    domain: DomainConfig = dataclasses.field(default_factory=DomainConfig)   # source glob -> domain tag
    # The run fails when quarantine or one removal reason takes more than this share of the input
    # records: a wrong text_field, format or threshold, not a corpus. 1.0 never fails
    # (`dataprep run --allow-mostly-removed`). Not a setting of the outputs: not in the settings hash.
    fail_share: float = 0.95
    read: ReadConfig = dataclasses.field(default_factory=ReadConfig)
    normalize: NormalizeConfig = dataclasses.field(default_factory=NormalizeConfig)
    lines: LinesConfig = dataclasses.field(default_factory=LinesConfig)
    quality: QualityConfig = dataclasses.field(default_factory=QualityConfig)
    doc_score: DocScoreConfig = dataclasses.field(default_factory=DocScoreConfig)
    safety: SafetyConfig = dataclasses.field(default_factory=SafetyConfig)
    exact_dedup: ExactDedupConfig = dataclasses.field(default_factory=ExactDedupConfig)
    minhash: MinHashConfig = dataclasses.field(default_factory=MinHashConfig)
    decontam: DecontamConfig = dataclasses.field(default_factory=DecontamConfig)
    global_steps: GlobalStepsConfig = dataclasses.field(default_factory=GlobalStepsConfig)
    # the run's counts to W&B when it finishes (dataprep/tracking.py): off unless enabled (`--wandb`).
    # Not a setting of the outputs: not in the settings hash or config.yaml.
    wandb: DataWandbConfig = dataclasses.field(default_factory=DataWandbConfig)

    def validate(self) -> None:
        if not self.inputs:
            raise ConfigError("inputs is empty: list at least one file, directory or glob")
        if self.num_workers < 1:
            raise ConfigError("num_workers must be >= 1")
        if self.shard_size < 1:
            raise ConfigError("shard_size must be >= 1")
        if not 0.0 < self.fail_share <= 1.0:
            raise ConfigError(f"fail_share must be in (0, 1] (1 = never fail), got {self.fail_share}")
        validate_steps(self.steps)
        names = [step_name(s) for s in active(self)]
        if "decontam" in names and not self.decontam.eval_files:
            raise ConfigError("steps lists decontam but decontam.eval_files is empty: list the evaluation files "
                              "(jsonl, parquet, txt ...) whose items must not be trained on")
        scored_after = "quality" in names and "doc_score" in names and names.index("doc_score") > names.index("quality")
        if self.quality.defer_short is None:       # auto: short documents go to the learned score when there is one
            self.quality.defer_short = scored_after
        elif self.quality.defer_short and not scored_after:
            raise ConfigError("quality.defer_short hands short documents to the learned score: list doc_score "
                              "after quality in steps (and enabled), or set quality.defer_short: false")

    def _settings(self) -> "DataConfig":
        """The settings that change outputs: not the workers, the output path, the failure share,
        work cleaning or W&B."""
        return dataclasses.replace(self, num_workers=1, output="", fail_share=1.0, wandb=DataWandbConfig(),
                                   global_steps=dataclasses.replace(self.global_steps, clean_work=False))

    def settings_hash(self) -> str:
        return config_hash(self._settings())

    def settings_yaml(self) -> str:
        """The run's settings as YAML, defaults resolved, without output, num_workers, fail_share and
        wandb (which do not change outputs): `dataprep run --config <out>/config.yaml output=...` repeats the run."""
        data = to_dict(self._settings())
        del data["output"], data["num_workers"], data["fail_share"], data["global_steps"]["clean_work"], data["wandb"]
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
