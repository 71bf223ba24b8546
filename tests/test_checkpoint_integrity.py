"""Checkpoint integrity without training: checksums, every damage kind, fallback, the listing
command, data fingerprints, torn metrics lines and the loss guard's bookkeeping."""
from __future__ import annotations

import json

import pytest

from common.config import ConfigError
from pipeline import checkpoint, cli
from pipeline.config import GuardConfig, TrainConfig
from pipeline.guard import LossGuard
from pipeline.metrics import MetricsLogger, read_metrics

FILES = {"mp_rank_00_model_states.pt": b"m" * 4000, "zero_pp_rank_1_mp_rank_00_optim_states.pt": b"o" * 9000,
         "rng_rank00000.pt": b"r0" * 100, "rng_rank00001.pt": b"r1" * 100, "trainer_state.json": b'{"step": 0}'}


def write_checkpoint(run_dir, step: int):
    """A checkpoint as the trainer leaves it: every rank's files, then `seal` (one process here)."""
    ckpt = checkpoint.checkpoints_dir(run_dir) / checkpoint.tag_for(step)
    ckpt.mkdir(parents=True)
    for name, data in FILES.items():
        (ckpt / name).write_bytes(data)
    checkpoint.seal(run_dir, ckpt, keep_last=10)
    return ckpt


def flip(path, offset: int = 100, span: int = 64) -> None:
    data = bytearray(path.read_bytes())
    data[offset:offset + span] = bytes(b ^ 0xFF for b in data[offset:offset + span])
    path.write_bytes(bytes(data))


DAMAGE = {
    "missing": (lambda c: (c / "zero_pp_rank_1_mp_rank_00_optim_states.pt").unlink(), "is missing"),
    "missing_rng": (lambda c: (c / "rng_rank00001.pt").unlink(), "rng_rank00001.pt is missing"),
    "truncated": (lambda c: (c / "mp_rank_00_model_states.pt").write_bytes(FILES["mp_rank_00_model_states.pt"][:999]),
                  "has 999 bytes, 4000 were written"),
    "bit_flipped": (lambda c: flip(c / "zero_pp_rank_1_mp_rank_00_optim_states.pt"), "does not match its sha256"),
}


def test_seal_records_every_file_and_an_intact_checkpoint_verifies(tmp_path):
    ckpt = write_checkpoint(tmp_path, 10)
    manifest = json.loads((ckpt / checkpoint.COMPLETE).read_text())
    assert sorted(manifest["files"]) == sorted(FILES)
    assert manifest["files"]["rng_rank00001.pt"]["bytes"] == 200
    assert checkpoint.inspect(ckpt).state == "ok"
    assert (checkpoint.checkpoints_dir(tmp_path) / "latest").read_text().strip() == ckpt.name


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_each_damage_kind_is_found_and_the_resume_falls_back(tmp_path, kind):
    older = write_checkpoint(tmp_path, 10)
    newest = write_checkpoint(tmp_path, 20)
    damage, message = DAMAGE[kind]
    damage(newest)
    health = checkpoint.inspect(newest)
    assert health.state == "damaged" and message in health.detail
    said = []
    assert checkpoint.newest_intact(tmp_path, said.append) == older
    assert len(said) == 1 and "step_00000020 is damaged" in said[0] and message in said[0]
    assert not newest.exists() and newest.with_name(newest.name + ".damaged").is_dir()   # kept for a look
    assert checkpoint.newest_intact(tmp_path, said.append) == older and len(said) == 1


def test_every_checkpoint_damaged_is_an_error_not_a_fresh_start(tmp_path):
    ckpt = write_checkpoint(tmp_path, 10)
    flip(ckpt / "mp_rank_00_model_states.pt")
    with pytest.raises(ConfigError, match="every checkpoint is damaged"):
        checkpoint.newest_intact(tmp_path, lambda line: None)


def test_incomplete_and_pre_checksum_checkpoints(tmp_path):
    legacy = write_checkpoint(tmp_path, 10)
    (legacy / checkpoint.COMPLETE).write_text(legacy.name + "\n")        # the marker before checksums
    assert checkpoint.inspect(legacy).state == "unverified"
    assert checkpoint.newest_intact(tmp_path, lambda line: None) == legacy
    half = checkpoint.checkpoints_dir(tmp_path) / checkpoint.tag_for(20)
    half.mkdir()
    assert checkpoint.inspect(half).state == "incomplete"


def test_checkpoints_command_lists_states(tmp_path, capsys):
    write_checkpoint(tmp_path, 10)
    newest = write_checkpoint(tmp_path, 20)
    assert cli.main(["checkpoints", str(tmp_path), "--verify"]) == 0
    flip(newest / "rng_rank00000.pt", offset=10, span=8)
    capsys.readouterr()
    assert cli.main(["checkpoints", str(tmp_path)]) == 0            # same size: only hashing sees it
    assert cli.main(["checkpoints", str(tmp_path), "--verify"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3].startswith("step_00000010") and "ok: 5 files match their sha256" in lines[-3]
    assert lines[-2].startswith("step_00000020") and "damaged: rng_rank00000.pt does not match" in lines[-2]
    assert lines[-1] == "a resume starts from step_00000010"
    assert cli.main(["checkpoints", str(tmp_path / "nothing")]) == 2


def manifest(tokenizer: str = "a" * 64, shard_sha: str = "b" * 64) -> dict:
    return {"dtype": "uint16", "vocab_size": 256, "eos_id": 2, "tokenizer_sha256": tokenizer, "tokenizer": "/x",
            "splits": {"train": {"shards": [{"name": "train/part-00000", "bin_sha256": shard_sha}]}}}


def test_data_fingerprint_refuses_other_data_unless_allowed():
    cfg = TrainConfig()
    saved = checkpoint.data_fingerprint(cfg, manifest())
    moved = {**manifest(), "tokenizer": "/elsewhere", "inputs": ["/y"]}       # paths are not the data
    assert checkpoint.data_fingerprint(cfg, moved) == saved
    other = checkpoint.data_fingerprint(cfg, manifest(tokenizer="c" * 64, shard_sha="d" * 64))
    with pytest.raises(ConfigError) as refused:
        checkpoint.check_data({"data_fingerprint": saved}, other, cfg, checkpoint.checkpoints_dir("r"))
    message = str(refused.value)
    assert "packed_sha256, tokenizer_sha256 differ" in message and "\n" not in message
    assert f"saved [packed_sha256={saved['packed_sha256'][:12]}, tokenizer_sha256=aaaaaaaaaaaa" in message
    assert f"now [packed_sha256={other['packed_sha256'][:12]}, tokenizer_sha256=cccccccccccc" in message
    cfg.data.seq_len = 64
    legacy = {"data_identity": {"seq_len": 256, "data_seed": 1234, "global_batch": 8}}   # before fingerprints
    with pytest.raises(ConfigError, match=r"\(seq_len differ\)"):
        checkpoint.check_data(legacy, checkpoint.data_fingerprint(cfg, manifest()), cfg, checkpoint.checkpoints_dir("r"))
    cfg.run.allow_data_change = True
    assert checkpoint.check_data({"data_fingerprint": saved}, other, cfg, checkpoint.checkpoints_dir("r")) is True
    assert checkpoint.check_data({"data_fingerprint": saved}, saved, cfg, checkpoint.checkpoints_dir("r")) is False


def test_torn_last_metrics_line_is_dropped_and_trimmed_on_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = [{"step": s, "loss": 5.0 - s / 10} for s in (1, 2, 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"step": 4, "lo')
    assert read_metrics(path) == records
    cfg = TrainConfig()
    cfg.run.dir, cfg.wandb.mode = str(tmp_path), "disabled"
    MetricsLogger(cfg, resume_step=3, enabled=True)
    assert path.read_text() == "".join(json.dumps(r) + "\n" for r in records)
    path.write_text('{"step": 1}\n{"step": 2, "lo\n{"step": 3}\n')           # not the last line: an error
    with pytest.raises(ConfigError, match=r"metrics.jsonl:2: not a JSON record"):
        read_metrics(path)


def test_loss_guard_skips_counts_and_stops():
    guard = LossGuard(GuardConfig(max_skipped_in_row=2, spike_factor=2.0, spike_window=3))
    assert [guard.after_step(loss, True) for loss in (4.0, 3.0, 2.0)] == [None, None, None]
    assert guard.mean == pytest.approx(3.0) and not guard.exhausted
    assert guard.reason(6.5) == "loss spike 6.5 > 2 x running mean 3"
    assert not guard.accepts(float("nan")) and guard.accepts(5.9)
    assert guard.after_step(float("nan"), False) == "non-finite loss nan"
    assert guard.after_step(2.5, True) is None and guard.in_row == 0
    assert guard.after_step(2.5, False) == "non-finite gradient norm"     # DeepSpeed dropped it
    assert guard.after_step(7.0, True) is not None and guard.exhausted
    assert guard.skipped == 3
    again = LossGuard(guard.cfg, json.loads(json.dumps(guard.state())))      # through trainer_state.json
    assert again.state() == guard.state() and again.exhausted
    with pytest.raises(ConfigError, match="guard.spike_factor needs parallel.pp = 1"):
        TrainConfig(guard=GuardConfig(spike_factor=3.0), parallel=TrainConfig().parallel.__class__(pp=2)).validate()
