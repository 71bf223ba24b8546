"""benchmarks/gpu_check.sh works before a GPU is lent: its --cpu-smoke mode runs every
configuration (bf16, compiled, unmasked, fp32 parity) of the same code on a tiny model on CPU."""
from __future__ import annotations

import json
import subprocess

import pytest

from train_fixtures import REPO, base_env


@pytest.mark.slow
def test_gpu_check_cpu_smoke(tmp_path):
    done = subprocess.run([str(REPO / "benchmarks" / "gpu_check.sh"), "--cpu-smoke", "--out", str(tmp_path)],
                          cwd=REPO, env=base_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"] and set(summary["results"]) == {"bf16", "bf16_compile", "bf16_nomask", "fp32"}
    for name, result in summary["results"].items():
        assert result["tokens_per_s"] > 0 and result["mfu"] is None, name     # no MFU without a known GPU
    assert len(summary["results"]["fp32"]["losses"]) == 20
    assert "bf16 vs fp32 over 20 steps" in done.stdout and "compile speed-up" in done.stdout
