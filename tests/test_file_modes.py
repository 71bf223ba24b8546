"""Exported files get the mode any other file gets (0666 less the umask), not safetensors' 0600."""
from __future__ import annotations

import os

import torch


def test_exported_safetensors_are_readable_like_other_files(tmp_path):
    from pipeline.export_hf import _save_safetensors

    umask = os.umask(0o022)
    try:
        _save_safetensors({"w": torch.zeros(2)}, tmp_path / "model.safetensors")
        (tmp_path / "plain").write_text("x")
        assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)
