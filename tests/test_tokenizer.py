"""Tokenizer: Chinese-aware training settings, exact round trip, evaluation metrics, HF export, CLI."""
from __future__ import annotations

import json

import pytest
import sentencepiece as spm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sentencepiece import sentencepiece_model_pb2 as model_pb2

from common.config import ConfigError, load_config
from dataprep.cli import main
from dataprep.tokenizer.config import TokenizerConfig
from dataprep.tokenizer.eval import analyse, evaluate
from dataprep.tokenizer.lexicon import han_word_frequencies, segment_han, top_idioms
from dataprep.tokenizer.textio import split_long
from dataprep.tokenizer.train import train_tokenizer
from tests.tokenizer_corpus import sample_documents, tiny_tokenizer, write_clean_shards

LONG_MARKER = "zqxwv"   # appears only inside the over-long line below


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Our tiny model, plus a library-defaults model on the same shards, plus the shards."""
    root = tmp_path_factory.mktemp("tok")
    rows = sample_documents()
    long_line = ("这是一个很长的句子，" + LONG_MARKER + " ") * 800      # ~30 KB on one line
    rows.append({"id": "long", "text": long_line, "source": "synthetic", "lang": "zh"})
    model = tiny_tokenizer(root, rows)
    baseline = train_tokenizer(TokenizerConfig(vocab_size=4000), [str(root / "clean")], root / "baseline",
                               baseline="library")
    return {"model": str(model), "baseline": baseline["model"], "root": root, "rows": rows,
            "report": json.loads((model.parent / "train_report.json").read_text())}


def test_model_has_chinese_aware_settings_and_special_ids(trained):
    proto = model_pb2.ModelProto()
    proto.ParseFromString(open(trained["model"], "rb").read())
    spec, norm = proto.trainer_spec, proto.normalizer_spec
    assert spec.model_type == model_pb2.TrainerSpec.BPE and spec.byte_fallback and spec.split_digits
    assert norm.name == "identity" and not norm.add_dummy_prefix and not norm.remove_extra_whitespaces
    sp = spm.SentencePieceProcessor(model_file=trained["model"])
    assert sp.vocab_size() == 3000
    assert [sp.id_to_piece(i) for i in range(4)] == ["<unk>", "<s>", "</s>", "<pad>"]
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, 3)
    idioms = top_idioms(50)
    assert all(sp.encode(idiom) == [sp.piece_to_id(idiom)] for idiom in idioms)
    assert sp.encode("2026") == [sp.piece_to_id(d) for d in "2026"]


def test_long_lines_are_split_not_dropped(trained):
    assert trained["report"]["documents_with_long_lines_split"] == 1
    sp = spm.SentencePieceProcessor(model_file=trained["model"])
    vocab = {sp.id_to_piece(i) for i in range(sp.vocab_size())}
    assert any(LONG_MARKER in piece for piece in vocab)     # the trainer saw the text of the long line
    line = "第一句很长。" * 2000 + "x" * 5000
    pieces = list(split_long(line + "\n\n短句", 4192))
    assert all(len(p.encode("utf-8")) <= 4192 for p in pieces)
    assert "".join(pieces) == line + "短句"
    assert pieces[0].endswith("。")


_ALPHABET = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),          # CJK unified
    st.characters(min_codepoint=0x20000, max_codepoint=0x2A6DF),        # CJK extension B
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),        # emoji
    st.sampled_from(list("abcXYZ0123456789 \t\n，。！？、：；（）「」《》　１２ＡＢ.,!?'\"-")),
    st.characters(codec="utf-8", exclude_characters="\u2581", exclude_categories=("Cs",)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(_ALPHABET, max_size=60))
def test_decode_encode_round_trip(trained, text):
    """Exact for any text except U+2581 "▁", which sentencepiece itself uses to stand for a space."""
    sp = spm.SentencePieceProcessor(model_file=trained["model"])
    assert sp.decode(sp.encode(text)) == text


def test_eval_scores_words_idioms_and_round_trip(trained):
    idiom = top_idioms(1)[0]
    lines = analyse([f"我们{idiom}地工作，今天是２０２６年。", "The quick brown fox jumps over the lazy dog.", "12345"])
    assert [a.lang for a in lines] == ["zh", "en"]                     # digits-only line is neither
    zh = lines[0]
    assert zh.idioms == [(6, 18)] and (0, 6) in zh.words                # byte spans of 一心一意-like idiom, 我们
    assert zh.two_char[zh.words.index((0, 6))] and not zh.two_char[zh.words.index((6, 18))]
    ours = evaluate("ours", trained["model"], lines)
    base = evaluate("library", trained["baseline"], lines)
    assert ours.idioms_single == 1 and base.idioms_single == 0
    assert ours.metrics()["round_trip_exact"] == 1.0
    assert base.metrics()["round_trip_exact"] < 1.0                     # nmt_nfkc rewrites ，and ２
    assert ours.zh_chars == len(zh.text) and ours.unk_tokens == 0
    assert ours.two_char_words == sum(zh.two_char) < ours.words


def test_segment_han_delimits_multi_character_words_only():
    assert segment_han("我在北京工作，他说了一个故事。Hello world", "|") == "我在|北京|工作，他说了|一个|故事。Hello world"


PHRASE_LINES = [f"{a}{b}{c}" for a in ("我们", "他们", "今天", "昨天", "这里") for b in ("政治谈判", "经济合作", "政治谈判")
                for c in ("取得进展", "很快", "开始了", "结束了")] * 40


def _phrase_model(tmp_path, **overrides):
    """Real sample text (words to fill freed slots) plus a frequent two-word phrase."""
    path = tmp_path / "phrases.jsonl"
    texts = [r["text"] for r in sample_documents(zh=120, en=0)] + PHRASE_LINES
    path.write_text("".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in texts))
    config = TokenizerConfig(**{"vocab_size": 3000, "character_coverage": 0.98, "idiom_symbols": 0,
                                "jieba_fraction": 0.0, **overrides})
    return train_tokenizer(config, [str(path)], tmp_path / str(overrides))


def test_word_alignment_splits_phrase_pieces_into_words(tmp_path):
    """BPE learns 政治谈判 as one piece; alignment gives its slot to a word, 政治|谈判 encode as two."""
    plain = _phrase_model(tmp_path, word_align_max_breaks=0.0)
    aligned = _phrase_model(tmp_path)
    sp_plain = spm.SentencePieceProcessor(model_file=plain["model"])
    sp_aligned = spm.SentencePieceProcessor(model_file=aligned["model"])
    assert sp_plain.encode("政治谈判", out_type=str) == ["政治谈判"]
    assert sp_aligned.encode("政治谈判", out_type=str) == ["政治", "谈判"]
    assert sp_aligned.vocab_size() == sp_plain.vocab_size() == 3000
    report = aligned["word_alignment"]
    assert sp_aligned.piece_to_id("政治谈判") == sp_aligned.unk_id()          # not a piece any more
    assert report["pieces_dropped"] == report["words_added"] > 0
    assert report["words_single_after"] > report["words_single_before"]
    assert plain["word_alignment"] is None
    for text in PHRASE_LINES[:20] + ["混合 text 😀 𠀀\t  spaces"]:
        assert sp_aligned.decode(sp_aligned.encode(text)) == text


def test_word_alignment_orders_dictionary_words_first(trained):
    proto = model_pb2.ModelProto()
    proto.ParseFromString(open(trained["model"], "rb").read())
    lexicon = han_word_frequencies()
    merged = [(i, p.piece) for i, p in enumerate(proto.pieces) if p.type == p.NORMAL and len(p.piece) > 1]
    words = [i for i, piece in merged if piece in lexicon]
    assert words and max(words) < min(i for i, piece in merged if piece not in lexicon)
    scores = [p.score for p in proto.pieces if p.type == p.NORMAL]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    assert trained["report"]["word_alignment"]["words_single_after"] > trained["report"]["word_alignment"]["words_single_before"]


def test_hf_export_gives_sentencepiece_ids(trained, tmp_path):
    from transformers import AutoTokenizer

    from dataprep.tokenizer.hf_export import export_tokenizer

    out = export_tokenizer(trained["model"], tmp_path / "hf")
    tokenizer = AutoTokenizer.from_pretrained(out)
    sp = spm.SentencePieceProcessor(model_file=trained["model"])
    texts = [r["text"] for r in trained["rows"][::7]] + ["  两个空格\t制表符\n换行 ３１日 😀 𠀀", top_idioms(3)[2]]
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert ids == sp.encode(text)
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert set(tokenizer.all_special_tokens) == {"<unk>", "<s>", "</s>", "<pad>"}


def test_config_rejects_bad_values(tmp_path):
    path = tmp_path / "tok.yaml"
    path.write_text("vocab_size: 100\n")
    with pytest.raises(ConfigError, match="vocab_size must be >= 260"):
        load_config(TokenizerConfig, path)
    with pytest.raises(ConfigError, match="set word_align_max_breaks=0 for unigram"):
        load_config(TokenizerConfig, None, ["model_type=unigram"])
    with pytest.raises(ConfigError, match="jieba_fractoin"):
        load_config(TokenizerConfig, None, ["jieba_fractoin=0.5"])


def test_trainer_refusal_is_a_config_error(tmp_path):
    shards = write_clean_shards(tmp_path / "clean", sample_documents(zh=20, en=0), 1)
    with pytest.raises(ConfigError, match="Vocabulary size is smaller than required_chars"):
        train_tokenizer(TokenizerConfig(vocab_size=300, idiom_symbols=0, jieba_fraction=0),
                        [str(p) for p in shards], tmp_path / "out")


def test_cli_eval_and_help(trained, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tokenizer", "train", "--help"])
    assert exc.value.code == 0
    report = tmp_path / "eval.json"
    code = main(["tokenizer", "eval", "--model", f"ours={trained['model']}", "--model",
                 f"library={trained['baseline']}", "--input", str(trained["root"] / "clean"),
                 "--max-lines", "300", "--json", str(report)])
    assert code == 0
    table = capsys.readouterr().out
    assert "| ours |" in table and "| library |" in table
    rows = json.loads(report.read_text())
    assert rows[0]["round_trip_exact"] == 1.0 and 0 < rows[0]["lines"] <= 300
    assert main(["tokenizer", "eval", "--model", str(tmp_path / "missing.model"), "--input", "x"]) == 2
