"""What `--tokenizer` names, in every command: a trained tokenizer, given as the directory
`dataprep tokenizer train` wrote (or its `tokenizer.model`). Each command takes from it the
files it needs: the sentencepiece model, or the Hugging Face files `dataprep tokenizer export-hf`
writes into `<directory>/hf` by default.
"""
from __future__ import annotations

from pathlib import Path

from common.config import ConfigError

MODEL_FILE = "tokenizer.model"
HF_SUBDIR = "hf"
HF_MARKER = "tokenizer_config.json"


def sentencepiece_model(path: str | Path) -> str:
    """The sentencepiece model file of a tokenizer directory, or the file itself."""
    p = Path(path)
    if p.is_dir() and (p / MODEL_FILE).is_file():
        return str(p / MODEL_FILE)
    if p.is_file():
        return str(p)
    raise ConfigError(f"--tokenizer {path}: no {MODEL_FILE} there (give the directory `dataprep tokenizer "
                      f"train` wrote, or its {MODEL_FILE}; train one with `dataprep tokenizer train`)")


def hf_directory(path: str | Path) -> str:
    """The Hugging Face tokenizer directory of a tokenizer: itself, or its `hf/` export."""
    p = Path(path)
    base = p.parent if p.is_file() else p
    for candidate in (base, base / HF_SUBDIR):
        if (candidate / HF_MARKER).is_file():
            return str(candidate)
    raise ConfigError(f"--tokenizer {path}: no Hugging Face tokenizer files in {base} or {base / HF_SUBDIR} "
                      f"(write them with `dataprep tokenizer export-hf --tokenizer {base}`)")
