"""W&B after a crash requeue: the resumed run does not log again the steps the crashed run's
offline files already hold, so the W&B run has each step once (metrics.jsonl is trimmed apart)."""
from __future__ import annotations

from pipeline.config import TrainConfig
from pipeline.metrics import MetricsLogger, offline_logged_through, read_metrics
from train_fixtures import wandb_runs


def _logger(run_dir, resume_step):
    cfg = TrainConfig()
    cfg.run.dir, cfg.wandb.mode = str(run_dir), "offline"
    return MetricsLogger(cfg, resume_step=resume_step, enabled=True)


def test_resumed_run_logs_each_step_once(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    crashed = _logger(tmp_path, resume_step=0)
    for step in range(1, 11):                       # logged through step 10, then "crashed"
        crashed.log({"step": step, "loss": 10.0 - step})
    crashed.finish()
    assert offline_logged_through(tmp_path, crashed.run_id) == 10

    resumed = _logger(tmp_path, resume_step=5)      # the last checkpoint was at step 5
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5]
    for step in range(6, 13):                       # recomputed 6..10, new 11..12
        resumed.log({"step": step, "loss": 10.0 - step})
    resumed.finish()

    runs = wandb_runs(tmp_path)
    assert [run_id for run_id, _, _ in runs] == [crashed.run_id] * 2
    logged = [row["_step"] for _, _, history in runs for row in history]
    assert logged == list(range(1, 13))             # each step once, in order
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == list(range(1, 13))


def test_eval_results_reach_the_training_runs_wandb_summary(tmp_path, monkeypatch):
    """`pretrain eval --run-dir`: the accuracies land in the training run's W&B run (same id) as
    summary values eval/<task>/<metric>."""
    from common.wandb_log import offline_summary
    from pipeline.evaluate import log_to_wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    run_id = _logger(tmp_path, resume_step=0).run_id
    assert log_to_wandb(tmp_path, {"zhen_mc_en": {"acc": 0.35}, "zhen_mc_zh": {"acc": 0.3}}) == run_id
    summary = offline_summary(tmp_path, run_id)
    assert summary.get("eval/zhen_mc_en/acc") == 0.35 and summary.get("eval/zhen_mc_zh/acc") == 0.3, summary


def test_a_run_id_still_held_by_the_previous_runs_wandb_process_is_waited_for(tmp_path, monkeypatch):
    """After an abrupt exit the W&B service can hold the run id for a while ("run ID ... is in use");
    the requeued run retries instead of crashing. Other errors are raised at once."""
    import wandb

    calls = []

    def busy_twice(**kwargs):
        calls.append(kwargs["id"])
        if len(calls) <= 2:
            raise RuntimeError(f"run ID {kwargs['id']} is in use")
        return "the run"

    monkeypatch.setenv("WANDB_MODE", "disabled")
    logger = _logger(tmp_path, resume_step=0)       # W&B opened by hand below
    monkeypatch.setattr(wandb, "init", busy_twice)
    cfg = TrainConfig()
    assert logger._open_wandb(cfg, "offline", wait_s=0) == "the run" and len(calls) == 3
    monkeypatch.setattr(wandb, "init", lambda **kwargs: (_ for _ in ()).throw(RuntimeError("bad key")))
    try:
        logger._open_wandb(cfg, "offline", wait_s=0)
    except RuntimeError as exc:
        assert "bad key" in str(exc)
    else:
        raise AssertionError("a non-retryable error must be raised")
