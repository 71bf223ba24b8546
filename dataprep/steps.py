"""The data steps as a list: which stages a run applies, in which order, and where each runs.

A data config names its steps in order (`steps:` in the YAML). An entry is either the name
of a built-in stage, configured by the config section of the same family (`lines:`,
`quality:`, `safety:` ...), or a custom stage given by its class:

    steps:
      - normalize
      - lines
      - name: max_urls                        # a custom filter: one class, one entry
        use: my_filters:MaxUrlFilter          # module:Class, importable from the run's Python path
        params: {max_urls: 3}                 # keyword arguments of the class
      - quality
      - doc_score                             # the learned score, written next to each kept document
      - exact_dedup
      - minhash
      - pii                                   # after dedup: scrubs only the documents kept
      - decontam                              # documents sharing 13 words / 20 Han chars with decontam.eval_files

Every step follows one contract (`dataprep.core.Stage`: documents in, documents out, counts
beside). The runner maps the list onto its passes over the shards (see `dataprep.runner`):
`normalize` runs in the read pass (it must be first: line keys and hashes are computed on
normalised text); document stages before the dedup steps run in the filter pass; the dedup
steps (`exact_dedup`, `minhash`, adjacent in the list) run as the global dedup reduce; document
stages after them run in the write pass, on the documents dedup kept.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any, Callable, Literal

from common.config import ConfigError
from dataprep.core import Stage

if TYPE_CHECKING:
    from dataprep.config import DataConfig

Kind = Literal["read", "document", "dedup"]


@dataclasses.dataclass
class CustomStep:
    """A stage of the user's: `use` is "module:Class", a `dataprep.core.Stage` subclass."""
    name: str
    use: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        if self.name in BUILTIN:
            raise ConfigError(f"steps: custom step name {self.name!r} is a built-in step's; choose another")
        if ":" not in self.use:
            raise ConfigError(f"steps: {self.name}: use must be 'module:Class', got {self.use!r}")


@dataclasses.dataclass
class Context:
    """What a stage may need from the run beyond its own settings."""
    repeated_lines: Callable[[], set[str]] = set   # keys of lines repeated across documents (linecount)


@dataclasses.dataclass(frozen=True)
class StepType:
    """A built-in step: its kind, the config section holding its settings, and how to build it."""
    kind: Kind
    section: str
    build: Callable[["DataConfig", Context], Stage] | None = None   # None: dedup, run by the reduce


def _normalize(cfg: "DataConfig", ctx: Context) -> Stage:
    from dataprep.stages.normalize import Normalize
    return Normalize(cfg.normalize.t2s)


def _lines(cfg: "DataConfig", ctx: Context) -> Stage:
    from dataprep.stages.lines import LineCleaner
    return LineCleaner(cfg.lines, ctx.repeated_lines())


def _quality(cfg: "DataConfig", ctx: Context) -> Stage:
    from dataprep.stages.quality import QualityFilter
    return QualityFilter(cfg.quality)


def _doc_score(cfg: "DataConfig", ctx: Context) -> Stage:
    from dataprep.stages.doc_score import DocScore
    return DocScore(cfg.doc_score)


def _sensitive_words(cfg: "DataConfig", ctx: Context) -> Stage:
    from dataprep.stages.safety import SensitiveWordFilter
    return SensitiveWordFilter(cfg.safety)


def _decontam(cfg: "DataConfig", ctx: Context) -> Stage:
    from dataprep.stages.decontam import Decontaminate
    return Decontaminate(cfg.decontam)


def _pii(cfg: "DataConfig", ctx: Context) -> Stage:
    from dataprep.stages.safety import PiiScrubber
    return PiiScrubber(cfg.safety)


BUILTIN: dict[str, StepType] = {
    "normalize": StepType("read", "normalize", _normalize),
    "lines": StepType("document", "lines", _lines),
    "quality": StepType("document", "quality", _quality),
    "doc_score": StepType("document", "doc_score", _doc_score),
    "sensitive_words": StepType("document", "safety", _sensitive_words),
    "pii": StepType("document", "safety", _pii),
    "decontam": StepType("document", "decontam", _decontam),   # not a default: needs decontam.eval_files
    "exact_dedup": StepType("dedup", "exact_dedup"),
    "minhash": StepType("dedup", "minhash"),
}
DEFAULT_STEPS = ["normalize", "lines", "quality", "doc_score", "sensitive_words", "pii", "exact_dedup", "minhash"]


def step_name(entry: "str | CustomStep") -> str:
    return entry if isinstance(entry, str) else entry.name


def validate_steps(steps: list["str | CustomStep"]) -> None:
    """Names known and unique, normalize first, dedup steps adjacent: errors say what to change."""
    names = [step_name(e) for e in steps]
    for entry in steps:
        if isinstance(entry, str) and entry not in BUILTIN:
            raise ConfigError(f"steps: unknown step {entry!r}; built-in steps are {', '.join(BUILTIN)}, "
                              f"or give a custom one as {{name: ..., use: 'module:Class'}}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"steps: {duplicates[0]!r} is listed twice")
    if "normalize" in names and names[0] != "normalize":
        raise ConfigError("steps: normalize must be the first step (line keys and hashes use normalised text)")
    dedup = [i for i, n in enumerate(names) if n in BUILTIN and BUILTIN[n].kind == "dedup"]
    if dedup and dedup[-1] - dedup[0] != len(dedup) - 1:
        raise ConfigError("steps: exact_dedup and minhash must be next to each other (they run as one reduce)")
    if "minhash" in names and names.index("exact_dedup" if "exact_dedup" in names else "minhash") > names.index("minhash"):
        raise ConfigError("steps: exact_dedup must come before minhash (near dedup runs on exact dedup's survivors)")


def enabled(cfg: "DataConfig", name: str) -> bool:
    """A built-in step listed in `steps` runs unless its section says `enabled: false`."""
    section = getattr(cfg, BUILTIN[name].section)
    return getattr(section, "enabled", True)


def active(cfg: "DataConfig") -> list["str | CustomStep"]:
    """The listed steps that run, in order."""
    return [e for e in cfg.steps if not isinstance(e, str) or enabled(cfg, e)]


@dataclasses.dataclass
class Plan:
    """The active steps mapped onto the runner's passes."""
    read: list["str | CustomStep"]
    filter: list["str | CustomStep"]
    dedup: list[str]
    write: list["str | CustomStep"]

    @property
    def order(self) -> list[str]:
        """Stage names in the order documents pass them (the manifest's stage_order)."""
        return ["read", *map(step_name, self.read + self.filter), *self.dedup, *map(step_name, self.write)]


def plan(cfg: "DataConfig") -> Plan:
    steps = active(cfg)
    read = [e for e in steps if isinstance(e, str) and BUILTIN[e].kind == "read"]
    rest = [e for e in steps if e not in read]
    dedup_at = [i for i, e in enumerate(rest) if isinstance(e, str) and BUILTIN[e].kind == "dedup"]
    if not dedup_at:
        return Plan(read, rest, [], [])
    lo, hi = dedup_at[0], dedup_at[-1] + 1
    return Plan(read, rest[:lo], [str(e) for e in rest[lo:hi]], rest[hi:])


def build(entries: list["str | CustomStep"], cfg: "DataConfig", ctx: Context) -> list[Stage]:
    """Stage objects for document steps, built-in or custom."""
    stages = []
    for entry in entries:
        if isinstance(entry, str):
            builder = BUILTIN[entry].build
            assert builder is not None, f"{entry} is not a document stage"
            stages.append(builder(cfg, ctx))
        else:
            stages.append(build_custom(entry))
    return stages


def build_custom(step: CustomStep) -> Stage:
    module_name, _, class_name = step.use.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"steps: {step.name}: cannot load {step.use!r} ({exc}); is its module on PYTHONPATH?") \
            from None
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise ConfigError(f"steps: {step.name}: {step.use} is not a dataprep.core.Stage subclass")
    try:
        stage = cls(**step.params)
    except TypeError as exc:
        raise ConfigError(f"steps: {step.name}: bad params for {step.use}: {exc}") from None
    stage.name = step.name
    return stage


def uses_line_counts(cfg: "DataConfig") -> bool:
    return "lines" in map(step_name, active(cfg))
