"""`pretrain eval CHECKPOINT --tasks ...`: EleutherAI's lm-evaluation-harness on the Hugging Face export.

CHECKPOINT is a checkpoint directory holding the consolidated `model.safetensors` (with
`model_config.yaml` beside it; it is exported with `--tokenizer` to `<CHECKPOINT>/hf` first) or
an export directory already (`config.json`). The harness scores multiple-choice items by the
log-likelihood of each choice (`acc`, and `acc_norm` per character), offline: the model and the
tokenizer are local files, and so are the tasks.

Bundled tasks (`pipeline/eval_tasks/`, written for the project, 20 items each):
`zhen_mc_en` and `zhen_mc_zh`, general-knowledge questions with four choices. Other tasks are
the harness's own names (`mmlu`, `ceval-valid`, `cmmlu` ...), whose data must already be in the
local Hugging Face datasets cache, or task YAML files of yours in a directory given by
`--include-path` (see docs/EVAL.md for C-Eval / CMMLU / MMLU files downloaded by hand).

Results go to `<CHECKPOINT>/eval/results.json` (one entry per task: its metrics), written
atomically; the run is deterministic (greedy scoring, fixed seeds), so a rerun gives the same numbers.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from common.atomic import write_json
from common.config import ConfigError

TASKS_DIR = Path(__file__).resolve().parent / "eval_tasks"
BUNDLED = ("zhen_mc_en", "zhen_mc_zh")


def bundled_task(name: str) -> dict[str, Any]:
    """The harness task config of a bundled task: question, then each choice scored as its continuation."""
    return {
        "task": name, "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(TASKS_DIR / f"{name}.jsonl")}},
        "test_split": "test", "output_type": "multiple_choice",
        # the choice follows a space after the prompt, as in MMLU: the context's tokens then end where
        # the choice's begin (the harness splits one encoding of both at the context's length)
        "doc_to_text": "Question: {{question}}\nAnswer:" if name.endswith("_en") else "问题：{{question}}\n答案：",
        "doc_to_choice": "{{choices}}", "doc_to_target": "answer", "target_delimiter": " ",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                        {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }


def hf_model_dir(checkpoint: Path, tokenizer: str | None) -> Path:
    """The export to evaluate: CHECKPOINT itself when it is one, else `<CHECKPOINT>/hf`, exported now."""
    if (checkpoint / "config.json").is_file():
        return checkpoint
    weights = checkpoint / "model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"{checkpoint}: neither a Hugging Face export (config.json) nor a consolidated "
                          f"checkpoint (model.safetensors): run `pretrain consolidate` or give the export directory")
    if tokenizer is None:
        raise ConfigError(f"{checkpoint}: give --tokenizer DIR to export it for the harness (it needs the tokenizer)")
    from dataprep.tokenizer.files import hf_directory
    from pipeline.export_hf import export_hf
    return export_hf(weights, checkpoint / "hf", hf_directory(tokenizer))


def evaluate(model_dir: Path, tasks: list[str], include_path: list[str], limit: int | None = None,
             batch_size: int = 1) -> dict[str, dict[str, float]]:
    """{task: {metric: value}} from the harness, run offline on CPU (or the first GPU when there is one)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import torch
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=include_path or None)
    requested = [bundled_task(t) if t in BUNDLED else t for t in tasks]
    unknown = [t for t in tasks if t not in BUNDLED and not manager.match_tasks([t])]
    if unknown:
        raise ConfigError(f"--tasks: unknown task {unknown[0]!r}: bundled tasks are {', '.join(BUNDLED)}; others are "
                          f"the harness's names or YAML tasks in an --include-path directory")
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    out = simple_evaluate(model="hf", model_args={"pretrained": str(model_dir), "dtype": "float32"},
                          tasks=requested, task_manager=manager, batch_size=batch_size, device=device,
                          limit=limit, log_samples=False, bootstrap_iters=0)
    results = {}
    for task, metrics in out["results"].items():
        results[task] = {key.split(",")[0]: value for key, value in metrics.items()
                         if isinstance(value, (int, float)) and not key.startswith(("alias", "samples"))
                         and "_stderr" not in key}
    return results


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="score a checkpoint with lm-evaluation-harness (bundled zh/en multiple choice, MMLU-style tasks)",
        description="Run EleutherAI's lm-evaluation-harness on the Hugging Face export of a checkpoint, offline; "
                    "results are written to <CHECKPOINT>/eval/results.json.")
    parser.add_argument("checkpoint", help="checkpoint directory (consolidated model.safetensors) or an HF export")
    parser.add_argument("--tasks", default=",".join(BUNDLED),
                        help=f"comma-separated task names (default: the bundled {','.join(BUNDLED)})")
    parser.add_argument("--tokenizer", help="the tokenizer (its directory), to export a checkpoint for the harness")
    parser.add_argument("--include-path", action="append", default=[],
                        help="a directory of lm-eval task YAML files (repeatable), e.g. for local C-Eval/CMMLU/MMLU")
    parser.add_argument("--limit", type=int, help="score only the first N items of each task")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--run-dir", help="the training run directory: the results also go to its W&B run "
                                          "(summary keys eval/<task>/<metric>)")
    parser.set_defaults(func=run_eval)


def log_to_wandb(run_dir: Path, results: dict[str, dict[str, float]]) -> str:
    """Add the results to the training run's W&B run (its id in run_dir/wandb_run_id) as summary
    values; offline or online as the training run was (WANDB_MODE, else a login). Returns the id."""
    import wandb

    from common.wandb_log import wandb_mode, wandb_run_id

    if not (run_dir / "wandb_run_id").is_file():
        raise ConfigError(f"--run-dir {run_dir}: no wandb_run_id there (not a training run directory)")
    run_id = wandb_run_id(run_dir)
    run = wandb.init(id=run_id, resume="allow", dir=str(run_dir), mode=wandb_mode("auto"), reinit="finish_previous",
                     settings=wandb.Settings(quiet=True, console="off"))
    run.summary.update({f"eval/{task}/{name}": value for task, metrics in results.items()
                        for name, value in metrics.items()})
    run.finish()
    return run_id


def run_eval(args: argparse.Namespace) -> int:
    checkpoint = Path(args.checkpoint)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise ConfigError("--tasks is empty: name at least one task")
    model_dir = hf_model_dir(checkpoint, args.tokenizer)
    results = evaluate(model_dir, tasks, args.include_path, args.limit, args.batch_size)
    target = checkpoint / "eval" / "results.json"
    write_json(target, {"model": str(model_dir), "tasks": results, "limit": args.limit})
    for task, metrics in sorted(results.items()):
        print(f"{task}: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items())))
    print(f"results: {target}", file=sys.stderr)
    if args.run_dir:
        print(f"W&B run {log_to_wandb(Path(args.run_dir), results)}: summary eval/<task>/<metric>", file=sys.stderr)
    return 0
