"""What the data commands send to W&B: the counts of a finished `dataprep run` and `dataprep pack`.

Opt-in (`wandb.enabled: true` in the data or pack config, or `--wandb`): a data run already
writes every number to manifest.json, runs as many short Slurm tasks, and a W&B run costs a
service process and seconds to start, so nothing is sent unless asked. When on, the mode follows
training's rule (common/wandb_log.py: WANDB_MODE, else `wandb.mode`; auto = online where this
machine is logged in to W&B, else offline files under <output>/wandb/ for `wandb sync`). The run
id is kept in <output>/wandb_run_id, so a rerun updates the same W&B run. Values go to the run's
summary (job type "dataprep" or "pack"), per-source counts to a table; the config logged is the
command's own settings, which hold no credentials.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.config import to_dict
from common.wandb_log import WandbConfig, open_run, wandb_mode, wandb_run_id

if TYPE_CHECKING:
    from dataprep.config import DataConfig
    from dataprep.pack import PackConfig


@dataclasses.dataclass
class DataWandbConfig(WandbConfig):
    enabled: bool = False              # send the counts to W&B (or `--wandb`); off: nothing is sent


def data_run_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """A data run's manifest as flat summary values: totals, removals per stage/reason, each stage's
    seen/kept, documents and characters per language and domain."""
    summary = {key: manifest[key] for key in ("docs_in", "kept", "removed", "quarantined", "chars_kept")}
    summary.update({f"removed/{reason}": n for reason, n in manifest["removed_by_reason"].items()})
    for name, stage in manifest["stages"].items():
        summary.update({f"stage/{name}/{key}": stage[key] for key in ("seen", "kept")})
    for key in ("lang", "domain"):
        summary.update({f"{key}/{value}/{k}": n for value, counts in manifest[f"by_{key}"].items()
                        for k, n in counts.items()})
    return summary


def pack_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """A packed manifest as flat summary values: documents, tokens and characters per split, and
    per language and domain within each split."""
    summary: dict[str, Any] = {"empty_documents_skipped": manifest.get("empty_documents_skipped", 0)}
    for split, info in manifest["splits"].items():
        summary.update({f"{split}/documents": info["num_documents"], f"{split}/tokens": info["num_tokens"],
                        f"{split}/characters": manifest.get("characters", {}).get(split, 0)})
        for key in ("lang", "domain"):
            summary.update({f"{split}/{key}/{value}/{k}": n for value, counts in info[f"by_{key}"].items()
                            for k, n in counts.items()})
    return summary


def log_data_run(cfg: "DataConfig", manifest: dict[str, Any]) -> str | None:
    """A finished data run's counts (the finalize step calls this); returns the W&B run id, None when off."""
    columns = ["read_docs", "read_chars", "kept_docs", "kept_chars"]
    rows = [[source, *(counts.get(c, 0) for c in columns)] for source, counts in manifest["by_source"].items()]
    return _log(cfg.wandb, Path(cfg.output), "dataprep", to_dict(cfg), data_run_summary(manifest), ["source", *columns], rows)


def log_pack(cfg: "PackConfig", manifest: dict[str, Any]) -> str | None:
    """A finished pack's counts; returns the W&B run id, None when off."""
    columns = ["documents", "tokens", "characters"]
    rows = [[split, source, *(counts.get(c, 0) for c in columns)] for split, info in manifest["splits"].items()
            for source, counts in info["by_source"].items()]
    return _log(cfg.wandb, Path(cfg.output), "pack", to_dict(cfg), pack_summary(manifest), ["split", "source", *columns],
                rows)


def _log(cfg: DataWandbConfig, out: Path, job_type: str, config: dict[str, Any], summary: dict[str, Any],
         columns: list[str], rows: list[list[Any]]) -> str | None:
    if not cfg.enabled:
        return None
    mode = wandb_mode(cfg.mode)
    if mode == "disabled":
        return None
    import wandb

    run_id = wandb_run_id(out)
    run = open_run(cfg, out, run_id, mode, config, job_type=job_type)
    run.summary.update(summary)
    run.log({"by_source": wandb.Table(columns=columns, data=rows)})
    run.finish()
    return run_id
