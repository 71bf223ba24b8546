"""Blocklist filter and PII scrubbing: what must be replaced, and the look-alikes that must not."""
from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.config import ConfigError, load_config
from dataprep.core import Document, StageStats
from dataprep.stages.safety import (PiiScrubber, SafetyConfig, SensitiveWordFilter, id_check_char,
                                    scrub_pii, valid_id_card)


def make_id(region: str = "110105", birth: str = "19491001", seq: str = "123") -> str:
    first17 = region + birth + seq
    return first17 + id_check_char(first17)


def run_stage(stage, texts):
    stats = StageStats(stage.name)
    kept = list(stage.process([Document(str(i), t) for i, t in enumerate(texts)], stats))
    return kept, stats


def test_id_check_char_matches_published_example():
    # GB 11643-1999's worked example: 11010519491231002 -> check character X
    assert id_check_char("11010519491231002") == "X"
    assert valid_id_card("11010519491231002X")
    assert valid_id_card("11010519491231002x")


@pytest.mark.parametrize("number", [
    make_id()[:-1] + ("0" if make_id()[-1] != "0" else "1"),   # wrong check character
    make_id(birth="19490231"),                                  # 31 February
    make_id(birth="18800101"),                                  # before 1900
    make_id(region="990105"),                                   # no such province
])
def test_invalid_id_numbers_are_rejected(number):
    assert not valid_id_card(number)
    text, counts = scrub_pii(f"身份证号：{number}。")
    assert number in text and "id_card" not in counts


def test_pii_replaced_with_typed_placeholders():
    card = make_id(region="440305", birth="19880512", seq="047")
    text = (f"联系人张三，身份证{card}，手机13812345678，座机010-62751234，"
            f"邮箱 zhang.san+news@example.com.cn，服务器 192.168.10.254。")
    out, counts = scrub_pii(text)
    assert out == ("联系人张三，身份证<ID_CARD>，手机<PHONE>，座机<PHONE>，"
                   "邮箱 <EMAIL>，服务器 <IP>。")
    assert counts == {"id_card": 1, "mobile": 1, "landline": 1, "email": 1, "ip": 1}


@pytest.mark.parametrize("text", [
    "订单号 2023138123456789012 已发货",          # mobile-looking run inside a longer number
    "编号 9913812345678",                          # 11-digit mobile preceded by more digits
    "批次 138123456789",                           # 12 digits: no phone
    "版本号 1.2.3.4.5 发布",                        # dotted version, not an IP
    "温度 300.1.1.1 不是地址",                      # octet out of range
    "代码 0755-123456 太短",                        # landline with too few digits
])
def test_lookalike_numbers_untouched(text):
    out, counts = scrub_pii(text)
    assert out == text and counts == {}


def test_pii_touching_chinese_characters():
    out, counts = scrub_pii("电子邮箱li.na@example.com的主人，手机13912345678请回电，IP为10.0.0.1。")
    assert out == "电子邮箱<EMAIL>的主人，手机<PHONE>请回电，IP为<IP>。"
    assert counts == {"email": 1, "mobile": 1, "ip": 1}


def test_mobile_with_country_code_and_id_ending_in_x():
    card = "11010519491231002X"
    out, counts = scrub_pii(f"请拨+8613912345678或86-15012345678，证件{card}")
    assert out == "请拨<PHONE>或<PHONE>，证件<ID_CARD>"
    assert counts == {"mobile": 2, "id_card": 1}


def test_pii_scrubber_counts_and_type_selection():
    stage = PiiScrubber(SafetyConfig(pii=["email"]))
    kept, stats = run_stage(stage, ["mail a@b.org or call 13812345678", "nothing here"])
    assert [d.text for d in kept] == ["mail <EMAIL> or call 13812345678", "nothing here"]
    assert stats.counters["pii.email"] == 1 and stats.counters["pii.docs_changed"] == 1
    assert stats.kept == 2 and not stats.removed


def test_sensitive_words_filter_uses_hits_per_line(tmp_path):
    spam = "\n".join(["网上赌场 百家乐 首存送彩金", "六合彩 开奖结果 博彩 网赌", "联系我们"])
    mention = "\n".join(["警方破获一起网赌案件。", "案件涉及金额巨大。", "相关人员已被依法处理。"])
    kept, stats = run_stage(SensitiveWordFilter(SafetyConfig()), [spam, mention])
    assert [d.text for d in kept] == [mention]
    assert stats.removed == {"sensitive_words": 1}
    assert stats.counters["sensitive.docs_with_hits"] == 1

    words = tmp_path / "words.txt"
    words.write_text("# my list\n案件\n", encoding="utf-8")
    kept, stats = run_stage(SensitiveWordFilter(SafetyConfig(blocklist=str(words), max_hits_per_line=0.3)),
                            [spam, mention])
    assert [d.text for d in kept] == [spam]


def test_config_errors_are_actionable(tmp_path):
    with pytest.raises(ConfigError, match="safety.pii has unknown types"):
        load_config(SafetyConfig, data={"pii": ["email", "passport"]})
    with pytest.raises(ConfigError, match="blocklist file not found"):
        load_config(SafetyConfig, data={"blocklist": str(tmp_path / "missing.txt")})


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=4), st.dates(min_value=datetime.date(1900, 1, 1),
                                                      max_value=datetime.date(2020, 12, 31)),
       st.integers(min_value=0, max_value=999), st.text(alphabet="天地人你我他，。的了", max_size=12))
def test_any_valid_id_in_chinese_text_is_replaced(region, birth, seq, filler):
    number = make_id(["110105", "310104", "440305", "510107", "654301"][region], birth.strftime("%Y%m%d"), f"{seq:03d}")
    out, counts = scrub_pii(f"{filler}证件{number}{filler}")
    assert out == f"{filler}证件<ID_CARD>{filler}" and counts == {"id_card": 1}


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789", min_size=19, max_size=40))
def test_long_digit_runs_are_never_pii(digits):
    out, counts = scrub_pii(f"编号{digits}结束")
    assert out == f"编号{digits}结束" and counts == {}


def test_default_blocklist_removes_ad_spam_and_keeps_news_about_it():
    stage = SensitiveWordFilter(SafetyConfig())
    spam = ["澳门赌场真人娱乐，注册送彩金，首存送100%。\n北京赛车、幸运飞艇，日赚千元不是梦！",
            "Cheap cialis and levitra, no prescription needed!\nHot singles near you. Free spins, no deposit bonus."]
    news = ["警方破获一起网络赌博案，涉案平台以“娱乐城”为名招揽会员。\n此案涉案金额巨大。\n目前案件正在进一步审理中。",
            "Regulators fined three online pharmacy chains last year.\nThey sold drugs without prescription checks.\n"
            "Officials promised more inspections."]
    stats = StageStats("sensitive_words")
    kept = list(stage.process([Document(str(i), t) for i, t in enumerate(spam + news)], stats))
    assert [d.text for d in kept] == news and stats.removed == {"sensitive_words": 2}
