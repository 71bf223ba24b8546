"""Data preparation as Slurm job arrays gives exactly the output of the local run."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from common.config import load_config
from dataprep.config import DataConfig
from dataprep.runner import run_all

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[1]


def _corpus(path: Path) -> None:
    """22 documents over 5 shards of 5 records, with exact and near duplicates across shards."""
    base = ["今天北京的天气很好，我们一起去公园散步，看到了很多盛开的花朵和在湖边钓鱼的老人。",
            "The quick brown fox jumps over the lazy dog while the farmer watches from the old barn door.",
            "机器学习是人工智能的一个分支，它研究计算机怎样模拟或实现人类的学习行为，以获取新的知识。"]
    docs = [f"第{i}篇文章：这是一段用于测试的中文文本，内容编号为{i}，其中包含一些不同的词语和句子{i * 7}。"
            for i in range(16)]
    docs += base + [base[0], base[1] + " Indeed.", base[2]]
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=False) + "\n"
                            for i, t in enumerate(docs)), encoding="utf-8")


def _outputs(out: Path) -> dict[str, object]:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    clean = {p.name: pq.read_table(p).to_pylist() for p in sorted((out / "clean").glob("*.parquet"))}
    removed = (out / "removed.jsonl").read_text(encoding="utf-8")
    return {"manifest": manifest, "clean": clean, "removed": removed,
            "clusters": (out / "clusters.jsonl").read_text(encoding="utf-8")}


def test_array_jobs_match_the_local_run(slurm_cluster, tmp_path):
    _corpus(tmp_path / "corpus.jsonl")
    data_yaml = tmp_path / "data.yaml"
    data_yaml.write_text(yaml.safe_dump({"inputs": [str(tmp_path / "corpus.jsonl")], "shard_size": 5,
                                         "num_workers": 1, "output": str(tmp_path / "local")}))
    local = run_all(load_config(DataConfig, data_yaml))
    assert local["shards"] == 5 and local["removed"] >= 2

    job_yaml = tmp_path / "job.yaml"
    job_yaml.write_text(yaml.safe_dump({"data_config": str(data_yaml), "ntasks": 3, "max_parallel": 4,
                                        "cpus_per_task": 1, "time": "5", "python": sys.executable,
                                        "workdir": str(REPO)}))
    submitted = subprocess.run([sys.executable, "-m", "pipeline.cli", "submit-dataprep", "--config", str(job_yaml),
                                "-d", f"output={tmp_path}/slurm"],
                               cwd=REPO, env=slurm_cluster.env, capture_output=True, text=True, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    job_ids = [line.split()[-1] for line in submitted.stdout.splitlines() if line.startswith("submitted")]
    assert len(job_ids) == 8                  # one job per step, linecount and lsh as arrays
    logs = tmp_path / "slurm" / "slurm" / "logs"
    deadline = time.monotonic() + 120
    while slurm_cluster.job_state(job_ids[-1]) not in ("", "COMPLETED", "FAILED", "CANCELLED"):
        assert time.monotonic() < deadline, slurm_cluster.logs()
        time.sleep(1)
    # each per-shard step ran as 3 array tasks, spread over both nodes
    assert len(list(logs.glob("read-*_*.out"))) == 3
    hosts = {m for p in logs.glob("*.out") for m in re.findall(r" on (n\d)\] data-prep step", p.read_text())}
    assert hosts == {"n1", "n2"}
    assert (tmp_path / "slurm" / "manifest.json").exists(), \
        "\n".join(p.read_text() for p in sorted(logs.glob("*.out")))[-3000:]
    assert _outputs(tmp_path / "slurm") == _outputs(tmp_path / "local")
