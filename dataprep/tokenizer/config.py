"""TokenizerConfig: sentencepiece settings for mixed Chinese + English text, each with its reason.

Defaults follow the Chinese-capable sentencepiece models surveyed in docs/ANCHORS.md
(LLaMA 2, Baichuan 2, InternLM, Yi) and the measurements recorded there.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

from common.config import ConfigError


@dataclasses.dataclass
class TokenizerConfig:
    # BPE: trains a 64k vocab on ~15 MB in seconds (unigram takes ~15x longer) and is what
    # LLaMA 2, Baichuan 2, InternLM and Yi ship; unigram stays available for comparison.
    model_type: Literal["bpe", "unigram"] = "bpe"
    # 64k: Yi's size; the in-domain BPE study in ANCHORS reached 1.72 zh chars/token at 64k vs 1.58 at 32k.
    vocab_size: int = 64000
    # Rare characters fall back to UTF-8 bytes instead of <unk>, so no text is ever lost.
    byte_fallback: bool = True
    # Each digit its own token: numbers tokenize consistently (arithmetic) - every model surveyed does it.
    split_digits: bool = True
    # Covers the long tail of Han characters (a character outside it costs 3 byte tokens, so 0.9999
    # beat 0.9995 by +0.2% zh chars/token at 64k) without giving slots to one-off glyphs;
    # everything outside coverage is still encoded exactly via byte fallback.
    character_coverage: float = 0.9999
    # nmt_nfkc (the library default) rewrites full-width punctuation ，！（） to ASCII, so
    # decode(encode(x)) != x on Chinese text; identity keeps text byte-exact at +-0.1% compression.
    normalization_rule_name: str = "identity"
    # A dummy "▁" prefix would turn "中文" at line start into "▁中文", a different piece than mid-text;
    # Chinese has no word spaces, so no prefix (Baichuan 2, InternLM, Yi).
    add_dummy_prefix: bool = False
    # Collapsing runs of spaces / leading tabs breaks the round trip of code and aligned text.
    remove_extra_whitespaces: bool = False
    # Lets runs of spaces (code indentation) become single pieces instead of many "▁" tokens.
    allow_whitespace_only_pieces: bool = True
    # 16 as in LLaMA 2: Chinese pieces are 3 bytes per char, and longer pieces (Baichuan 2's 32)
    # swallow word boundaries, lowering the share of words that are exactly one token (ANCHORS).
    max_sentencepiece_length: int = 16
    unk_id: int = 0
    bos_id: int = 1                    # <s>
    eos_id: int = 2                    # </s>, the document separator in packed data
    pad_id: int = 3                    # <pad>
    # Extra whole-string pieces (always one token at encode time), e.g. chat markers.
    user_defined_symbols: list[str] = dataclasses.field(default_factory=list)
    # Top-K four-character jieba idioms (dict tag `i`, by frequency) added as user-defined symbols:
    # lifted idiom single-token share 0.39 -> 0.67 at no measurable compression cost (ANCHORS). 0 = off.
    idiom_symbols: int = 2000
    # Share of training lines whose Han runs are pre-segmented with jieba (the delimiter goes around
    # words of >= 2 characters) so BPE favours merges inside words. 0.3 is the measured sweet spot in
    # front of word alignment (docs/BENCHMARKS.md); 1.0 alone costs ~9% compression. jieba runs at
    # ~1 MB/s: for big corpora, train on a sample.
    jieba_fraction: float = 0.3
    pretokenization_delimiter: str = "\u2402"   # "␂": never in real text, removed by the trainer
    # Word-aligned vocabulary (dataprep/tokenizer/align.py, BPE only): after training, pieces that
    # break at least this many jieba words per use (phrases such as 新华社记者) give their slot to a
    # frequent word, and words merge first. Measured at 64k (docs/BENCHMARKS.md): two-character
    # words as one token 0.65 -> 0.77 at -1.7% zh compression vs plain BPE. 0 turns it off.
    word_align_max_breaks: float = 1.2
    # Training lines (a seeded reservoir sample of the stream) that alignment segments with jieba.
    word_align_sample_lines: int = 100_000
    # Sentencepiece skips longer lines with a single warning; documents are split below this many
    # UTF-8 bytes at line, then sentence, then character boundaries instead (4192 = library default).
    max_sentence_length: int = 4192
    # Lines sampled (reservoir) for training: the trainer holds them all in memory (~30x their size).
    input_sentence_size: int = 2_000_000
    shuffle_input_sentence: bool = True
    num_threads: int = 2
    text_field: str = "text"

    def validate(self) -> None:
        if self.vocab_size < 260:
            raise ConfigError("vocab_size must be >= 260 (256 byte-fallback pieces + 4 specials)")
        if not 0.9 <= self.character_coverage <= 1.0:
            raise ConfigError("character_coverage must be between 0.9 and 1.0")
        if not 0.0 <= self.jieba_fraction <= 1.0:
            raise ConfigError("jieba_fraction must be between 0 and 1")
        if self.word_align_max_breaks < 0 or self.word_align_sample_lines < 1:
            raise ConfigError("word_align_max_breaks must be >= 0 (0 = off) and word_align_sample_lines >= 1")
        if self.word_align_max_breaks and self.model_type != "bpe":
            raise ConfigError("word alignment reorders BPE merges; set word_align_max_breaks=0 for unigram")
        if self.idiom_symbols < 0:
            raise ConfigError("idiom_symbols must be >= 0")
        if len({self.unk_id, self.bos_id, self.eos_id, self.pad_id}) != 4:
            raise ConfigError("unk_id, bos_id, eos_id and pad_id must be four different ids")
        if self.max_sentence_length < 64:
            raise ConfigError("max_sentence_length must be >= 64 bytes")
        if len(self.pretokenization_delimiter) != 1:
            raise ConfigError("pretokenization_delimiter must be a single character")

    def trainer_args(self) -> dict:
        """Keyword arguments for `sentencepiece.SentencePieceTrainer.train` (minus input and symbols)."""
        args = {name: getattr(self, name) for name in (
            "model_type", "vocab_size", "byte_fallback", "split_digits", "character_coverage",
            "normalization_rule_name", "add_dummy_prefix", "remove_extra_whitespaces",
            "allow_whitespace_only_pieces", "max_sentencepiece_length", "unk_id", "bos_id", "eos_id",
            "pad_id", "max_sentence_length", "input_sentence_size", "shuffle_input_sentence", "num_threads")}
        if self.jieba_fraction > 0:
            args["pretokenization_delimiter"] = self.pretokenization_delimiter
        return args
