"""Export a sentencepiece model so `transformers.AutoTokenizer.from_pretrained(dir)` loads it offline.

transformers converts the .model into a fast tokenizer (tokenizer.json) once, here; the export
then reloads the written directory and checks that it gives the same ids as sentencepiece on
probe texts, so a silent conversion difference fails the export instead of the training run.
Three settings matter (docs/ANCHORS.md): `add_prefix_space: false`, or transformers puts a "▁"
in front of every text although the model was trained without a dummy prefix; user-defined
symbols (idioms) must stay non-special, or `skip_special_tokens=True` deletes them; and
`split_special_tokens: true`. The rule everywhere is sentencepiece's: the literal strings
"<s>", "</s>" and "<unk>" in raw text are plain text (`pack` encodes them so, and the model
never saw them as control ids); without it transformers would turn them into the special ids.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

import sentencepiece as spm

from common.atomic import write_json

PROBES = (
    "你好，世界！今天是２０２６年１１月２３日。",
    "一心一意地学习 machine learning, 效果事半功倍。",
    "  two leading spaces\tand a tab\n第二行：数字 12345 与 emoji 😀🚀",
    "CJK extension B: 𠀀𠀁 and rare 龘 characters.",
    "def f(x):\n    return x  # indented code",
    "HTML-ish text: <s>strike</s>, <unk> and <pad> are only characters here.",
)


class TokenizerExportError(RuntimeError):
    """The exported tokenizer disagrees with sentencepiece; the message shows the first difference."""


def _config(sp: spm.SentencePieceProcessor) -> dict:
    def piece(i: int) -> str | None:
        return sp.id_to_piece(i) if i >= 0 else None
    return {
        "tokenizer_class": "LlamaTokenizer",
        "add_prefix_space": False,        # trained with add_dummy_prefix=False
        "legacy": False,
        "add_bos_token": False,           # packed data has no <s>; </s> separates documents
        "add_eos_token": False,
        "unk_token": piece(sp.unk_id()), "bos_token": piece(sp.bos_id()),
        "eos_token": piece(sp.eos_id()), "pad_token": piece(sp.pad_id()),
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": True,     # "<s>" in raw text is text, as in sentencepiece (and pack)
        "model_max_length": 1_000_000_000,
    }


def export_tokenizer(model_file: str | Path, out_dir: str | Path, check_texts: Iterable[str] = ()) -> Path:
    """Write an AutoTokenizer directory for `model_file` into `out_dir` and verify it; returns out_dir."""
    from transformers import AutoTokenizer

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as staging:
        shutil.copyfile(model_file, Path(staging) / "tokenizer.model")
        write_json(Path(staging) / "tokenizer_config.json", _config(sp))
        tokenizer = AutoTokenizer.from_pretrained(staging)
        out_dir.mkdir(parents=True, exist_ok=True)
        tokenizer.save_pretrained(out_dir)
        shutil.copyfile(model_file, out_dir / "tokenizer.model")
    # transformers 5 saves user-defined symbols under extra_special_tokens: keep only real specials
    config_path = out_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    specials = _specials(sp)
    config["extra_special_tokens"] = [t for t in config.get("extra_special_tokens", []) if t in specials]
    for load_time_key in ("is_local", "local_files_only"):    # staging-load artefacts, not settings
        config.pop(load_time_key, None)
    write_json(config_path, config)
    verify_export(sp, out_dir, [*PROBES, *check_texts])
    return out_dir


def _specials(sp: spm.SentencePieceProcessor) -> set[str]:
    return {sp.id_to_piece(i) for i in (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) if i >= 0}


def verify_export(sp: spm.SentencePieceProcessor, out_dir: Path, texts: list[str]) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    extra = set(tokenizer.all_special_tokens) - _specials(sp)
    if extra:
        raise TokenizerExportError(f"{out_dir}: user-defined symbols exported as special tokens: {sorted(extra)[:5]}")
    for text in texts:
        expected = sp.encode(text)
        got = tokenizer.encode(text, add_special_tokens=False)
        if got != expected:
            first = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(got), len(expected)))
            raise TokenizerExportError(f"{out_dir}: transformers ids differ from sentencepiece on {text[:40]!r} "
                                       f"at token {first}: {got[first:first + 5]} vs {expected[first:first + 5]}")
        if tokenizer.decode(got, skip_special_tokens=True) != sp.decode(expected):
            raise TokenizerExportError(f"{out_dir}: transformers decodes {text[:40]!r} differently from sentencepiece")
