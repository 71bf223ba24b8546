"""A run killed with SIGKILL at any point resumes to outputs byte-identical to an uninterrupted run."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dataprep_corpus import config, edit, real_texts, write_jsonl

from dataprep import runner

REPO = Path(__file__).resolve().parents[1]


def outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and "work" not in p.relative_to(out).parts}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The corpus (8 shards, with exact and near duplicates) and its uninterrupted run."""
    root = tmp_path_factory.mktemp("resume")
    rng = random.Random(5)
    texts = real_texts("fortunes-zh/chinese", 16) + real_texts("fortunes/", 14)
    texts += [texts[3], edit(texts[20], rng, "insert"), edit(texts[5], rng, "reorder"), texts[25]]
    rng.shuffle(texts)
    write_jsonl(root / "in.jsonl", [{"text": t} for t in texts] + ["{broken", {"text": ""}])
    args = [f"inputs=[{root / 'in.jsonl'}]", "shard_size=5", "num_workers=2"]
    runner.run_all(config([root / "in.jsonl"], root / "reference", shard_size=5, num_workers=2))
    return root, args, outputs(root / "reference")


def start(args: list[str], out: Path, kill_at: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(runner.KILL_ENV, None)
    if kill_at:
        env[runner.KILL_ENV] = kill_at
    return subprocess.Popen([sys.executable, "-m", "dataprep.cli", "run", *args, f"output={out}"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode()


@pytest.mark.slow
def test_killed_at_each_step_then_resumed_is_byte_identical(reference):
    root, args, expected = reference
    out = root / "killed"
    for point in ("read:2", "filter:5", "dedup", "write:0", "finalize"):
        code, err = finish(start(args, out, point))
        assert code == -signal.SIGKILL, f"kill at {point} did not happen: {err}"
        assert (out / "manifest.json").exists() == (point == "finalize")   # finalize dies before its marker
    code, err = finish(start(args, out))
    assert code == 0, err
    assert outputs(out) == expected
    assert not list(out.rglob(".*.tmp-*")), "temp files of the killed runs were left behind"


@pytest.mark.slow
def test_killed_at_random_times_then_resumed_is_byte_identical(reference):
    root, args, expected = reference
    out = root / "random"
    rng = random.Random(11)
    kills = 0
    for _ in range(3):
        proc = start(args, out)
        time.sleep(rng.uniform(0.3, 2.5))
        if proc.poll() is not None:
            break
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    code, err = finish(start(args, out))
    assert code == 0, err
    assert kills >= 1
    assert outputs(out) == expected
