"""Held-out evaluation of the PII scrubber on a second, independently written labelled set.

Written without looking at benchmarks/bench_pii.py's generator or tests/test_pii.py, so it
measures formats the scrubber's author did not necessarily think of. Every snippet is short
web text as Chinese and English pages write it: contact blocks of company pages, classifieds
and forum posts, resumes, e-commerce order / tracking pages, tech posts and logs, news,
government notices, English contact pages with international numbers. Each snippet is written
with inline labels:

    ⟦kind|format|value⟧         a PII value that must become its placeholder
    ⟦kind|format|value‖rest⟧    same; `rest` (an extension) may be replaced or kept
    ⟦keep|look-alike|value⟧     a look-alike that must stay verbatim

kind is one of email, ip, id_card, mobile, landline. Numbers are valid-looking: mobiles of
real 13x-19x prefixes and landlines of real area codes that libphonenumber calls valid
(checked while generating, so a label is never wrong by construction), resident ID numbers
with real area codes, real birth dates and correct check characters, ISBNs and unified social
credit codes with correct check characters. Non-mobile 11-digit numbers are checked invalid.

Measured, for the text with the labels taken out, through `dataprep.stages.pii.find_pii`:

- recall per kind: a value is *found* when every letter and digit of it (but `rest`) lies in
  spans whose placeholder is the kind's (mobile and landline both give <PHONE>); *exact* when
  one span is exactly the value (with or without `rest`);
- kept per look-alike kind: no span touches it;
- surrounding text unchanged: per snippet, no span reaches outside the labelled PII values.

    python benchmarks/pii_heldout.py [--seed 7] [--examples 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import random
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import phonenumbers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataprep.stages.pii import PLACEHOLDERS, PII_TYPES, find_pii, id_check_char  # noqa: E402

# ---- labels ---------------------------------------------------------------------------------

LABEL_RE = re.compile(r"⟦(\w+)\|([^|⟧]+)\|([^⟧‖]*)(?:‖([^⟧]*))?⟧")


def P(kind: str, fmt: str, value: str, rest: str = "") -> str:
    """A labelled PII value (`rest`: an extension that may or may not be replaced)."""
    assert kind in PII_TYPES, kind
    return f"⟦{kind}|{fmt}|{value}‖{rest}⟧" if rest else f"⟦{kind}|{fmt}|{value}⟧"


def K(kind: str, value: str) -> str:
    """A labelled look-alike that must stay verbatim."""
    return f"⟦keep|{kind}|{value}⟧"


@dataclasses.dataclass
class Target:
    start: int
    core_end: int          # end of the part that must be replaced
    end: int               # end including `rest`
    kind: str              # a PII kind or "keep"
    fmt: str               # the format (PII) or the look-alike kind


@dataclasses.dataclass
class Snippet:
    lang: str
    text: str
    targets: list[Target]


def parse(lang: str, marked: str) -> Snippet:
    parts, targets, pos, last = [], [], 0, 0
    for m in LABEL_RE.finditer(marked):
        parts.append(marked[last:m.start()])
        pos += m.start() - last
        kind, fmt, value, rest = m.group(1), m.group(2), m.group(3), m.group(4) or ""
        targets.append(Target(pos, pos + len(value), pos + len(value) + len(rest), kind, fmt))
        parts.append(value + rest)
        pos += len(value) + len(rest)
        last = m.end()
    parts.append(marked[last:])
    text = "".join(parts)
    assert "⟦" not in text and "⟧" not in text, marked
    return Snippet(lang, text, targets)


# ---- valid-looking values ---------------------------------------------------------------------

MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "147", "150",
                   "151", "152", "153", "155", "156", "157", "158", "159", "166", "173", "175",
                   "176", "177", "178", "180", "181", "182", "183", "185", "186", "187", "188",
                   "189", "191", "198", "199"]
# area code -> (city, local length)
AREA_CODES = {"010": ("北京", 8), "021": ("上海", 8), "020": ("广州", 8), "022": ("天津", 8),
              "023": ("重庆", 8), "024": ("沈阳", 8), "025": ("南京", 8), "027": ("武汉", 8),
              "028": ("成都", 8), "029": ("西安", 8), "0755": ("深圳", 8), "0571": ("杭州", 8),
              "0512": ("苏州", 8), "0532": ("青岛", 8), "0731": ("长沙", 8), "0371": ("郑州", 8),
              "0591": ("福州", 8), "0551": ("合肥", 8), "0311": ("石家庄", 8), "0769": ("东莞", 8)}
SEVEN_DIGIT_AREAS = ["0912", "0913", "0919", "0349", "0358"]
ID_AREAS = ["110101", "110108", "310104", "310115", "440305", "440106", "330106", "510107",
            "420106", "320102", "370202", "500103", "610113", "210102", "350203", "430104"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
EN_NAMES = ["John Smith", "Emily Chen", "Michael Brown", "Sarah Johnson", "David Wang",
            "Laura Miller", "James Wilson", "Anna Li"]
CITIES_EN = ["San Francisco", "Seattle", "Boston", "Austin", "Chicago"]
US_AREAS = ["415", "206", "617", "512", "312", "212", "646", "408", "650", "303"]
DOMAINS = ["163.com", "126.com", "qq.com", "sina.com", "gmail.com", "outlook.com",
           "foxmail.com", "yahoo.com", "hotmail.com", "aliyun.com"]
COMPANY_DOMAINS = ["huaxin-tech.com", "acme.co.uk", "pku.edu.cn", "zju.edu.cn",
                   "mingda.com.cn", "brightpath.io", "northwind.com", "tsinghua.edu.cn",
                   "example.org", "kunlun-soft.cn"]
LOCAL_PARTS = ["zhangwei", "li.na", "wang_fang", "liuyang88", "chenjing", "yangxiu",
               "hr", "service", "contact", "info", "jobs", "sales", "zhao.lei", "sunli1990",
               "jsmith", "emily.chen", "m.brown", "sarah_j", "dwang", "press"]


class Gen:
    """Random valid-looking values; every phone is checked with libphonenumber here."""

    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def choice(self, seq):
        return self.r.choice(seq)

    def digits(self, n: int, first: str = "0123456789") -> str:
        return self.r.choice(first) + "".join(self.r.choice("0123456789") for _ in range(n - 1))

    def mobile(self) -> str:
        while True:
            number = self.r.choice(MOBILE_PREFIXES) + self.digits(8)
            parsed = phonenumbers.parse(number, "CN")
            if phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) == 1:
                return number

    def landline(self, seven: bool = False) -> tuple[str, str]:
        """(area code with trunk 0, local number)."""
        while True:
            if seven:
                area, length = self.r.choice(SEVEN_DIGIT_AREAS), 7
            else:
                area = self.r.choice(list(AREA_CODES))
                length = AREA_CODES[area][1]
            local = self.digits(length, "2345678")
            parsed = phonenumbers.parse(area + local, "CN")
            if phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) == 0:
                return area, local

    def city(self, area: str) -> str:
        return AREA_CODES.get(area, ("本市", 0))[0]

    def valid_foreign(self, make: Callable[[], str]) -> str:
        """make() until libphonenumber calls the written number (with its +CC) valid."""
        while True:
            number = make()
            if phonenumbers.is_valid_number(phonenumbers.parse(number.replace("(0)", ""), None)):
                return number

    def us(self) -> tuple[str, str, str]:
        while True:
            a, b, c = self.r.choice(US_AREAS), self.digits(3, "23456789"), self.digits(4)
            if b[1:] == "11" or b == "555":
                continue
            if phonenumbers.is_valid_number(phonenumbers.parse(a + b + c, "US")):
                return a, b, c

    def id_card(self, end: str | None = None) -> str:
        while True:
            birth = datetime.date(1960, 1, 1) + datetime.timedelta(days=self.r.randrange(16000))
            first17 = self.r.choice(ID_AREAS) + birth.strftime("%Y%m%d") + self.digits(3)
            check = id_check_char(first17)
            if end is None and check != "X" or end == check:
                return first17 + check

    def non_mobile_11(self) -> str:
        while True:
            number = "1" + self.r.choice(["0", "1", "2", "4"]) + self.digits(9)
            if not phonenumbers.is_valid_number(phonenumbers.parse(number, "CN")):
                return number

    def email(self, domain: str | None = None) -> str:
        return self.r.choice(LOCAL_PARTS) + "@" + (domain or self.r.choice(DOMAINS + COMPANY_DOMAINS))

    def surname(self) -> str:
        return self.r.choice(SURNAMES)

    def public_ip(self) -> str:
        while True:
            octets = [self.r.randrange(1, 224), self.r.randrange(256), self.r.randrange(256),
                      self.r.randrange(1, 255)]
            if octets[0] not in (10, 127, 172, 192, 169, 100, 0):
                return ".".join(map(str, octets))

    def private_ip(self) -> str:
        return self.r.choice([f"192.168.{self.r.randrange(0, 10)}.{self.r.randrange(2, 254)}",
                              f"10.{self.r.randrange(256)}.{self.r.randrange(256)}.{self.r.randrange(2, 254)}",
                              f"172.{self.r.randrange(16, 32)}.{self.r.randrange(256)}.{self.r.randrange(2, 254)}"])

    def ipv6(self) -> str:
        groups = ["2001", "db8"] + [f"{self.r.randrange(1, 0xffff):x}" for _ in range(6)]
        return ":".join(groups)

    def date(self) -> datetime.date:
        return datetime.date(2015, 1, 1) + datetime.timedelta(days=self.r.randrange(3300))

    def isbn13(self) -> tuple[str, str]:
        publisher = self.r.choice(["302", "115", "111", "5086", "121", "04", "5322"])
        title = self.digits(8 - len(publisher))
        body = "9787" + publisher + title
        check = (10 - sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body)) % 10) % 10
        return body + str(check), f"978-7-{publisher}-{title}-{check}"

    def isbn10(self) -> str:
        publisher = self.r.choice(["302", "115", "111", "5086"])
        title = self.digits(8 - len(publisher))
        body = "7" + publisher + title
        s = sum(int(d) * (10 - i) for i, d in enumerate(body))
        check = (11 - s % 11) % 11
        return f"7-{publisher}-{title}-{'X' if check == 10 else check}"

    def uscc(self) -> str:
        chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
        area = self.r.choice(ID_AREAS)
        org = "".join(self.r.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
        body = self.r.choice(["91", "92", "12", "52", "11"]) + area + org
        check = 31 - sum(chars.index(c) * w for c, w in zip(body, weights)) % 31
        return body + chars[0 if check == 31 else check]


FULLWIDTH = str.maketrans("0123456789+-()Xx.@abcdefghijklmnopqrstuvwxyz",
                          "０１２３４５６７８９＋－（）Ｘｘ．＠ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ")


def fw(s: str) -> str:
    return s.translate(FULLWIDTH)


def g344(m: str, sep: str) -> str:
    return f"{m[:3]}{sep}{m[3:7]}{sep}{m[7:]}"


def g44(local: str, sep: str = " ") -> str:
    """An 8-digit local number as 4+4 (7 digits as 3+4)."""
    cut = len(local) - 4
    return local[:cut] + sep + local[cut:]


# ---- formats: each returns (lang, marked snippet) --------------------------------------------

FORMATS: dict[str, tuple[str, int, Callable[[Gen], tuple[str, str]]]] = {}


def fmt(name: str, kind: str, n: int = 6):
    def register(fn):
        FORMATS[name] = (kind, n, fn)
        return fn
    return register


def zip_code(g: Gen) -> str:
    return K("postcode", g.choice(["100871", "200433", "518057", "310027", "610041", "430072",
                                   "210093", "266071", "710049", "350108"]))


# mobiles ------------------------------------------------------------------------------------

@fmt("mobile plain (zh label)", "mobile")
def _(g):
    v = P("mobile", "mobile plain (zh label)", g.mobile())
    return "zh", g.choice([
        f"联系人：{g.surname()}先生　手机：{v}",
        f"有意者请联系{g.surname()}女士，电话：{v}，非诚勿扰。",
        f"房东直租，拎包入住，月租2800元，手机号码 {v}（中介勿扰）",
        f"报名咨询：{v} 截止日期 {K('date', '2024年3月15日')}",
        f"手机：{v}\n地址：{g.city('0571')}市西湖区文三路{g.r.randrange(1, 400)}号 邮编：{zip_code(g)}",
    ])


@fmt("mobile next to Han characters", "mobile")
def _(g):
    v = P("mobile", "mobile next to Han characters", g.mobile())
    return "zh", g.choice([
        f"转让九成新自行车一辆，价格面议，联系{g.surname()}先生{v}随时来电",
        f"本人{v}微信同号",
        f"急招店员两名，包吃住，电话{v}找{g.surname()}姐",
        f"收二手家电，上门回收，电{v}",
    ])


@fmt("mobile 3-4-4 spaces", "mobile")
def _(g):
    v = P("mobile", "mobile 3-4-4 spaces", g344(g.mobile(), " "))
    return g.choice([("zh", f"手机：{v}（微信同号）"), ("zh", f"预约热线 {v}，工作日{K('time ranges / clock times', '9:00-18:00')}"),
                     ("en", f"Call or text {v} anytime."), ("zh", f"电话/微信：{v}")])


@fmt("mobile 3-4-4 dashes", "mobile")
def _(g):
    v = P("mobile", "mobile 3-4-4 dashes", g344(g.mobile(), "-"))
    return g.choice([("zh", f"咨询电话：{v}"), ("zh", f"{g.surname()}经理 {v}"),
                     ("en", f"Mobile: {v}"), ("zh", f"有需要的朋友联系我 {v} 谢谢")])


@fmt("mobile 3-4-4 dots", "mobile")
def _(g):
    v = P("mobile", "mobile 3-4-4 dots", g344(g.mobile(), "."))
    return g.choice([("zh", f"手机 {v}"), ("en", f"Cell: {v}"), ("zh", f"联系方式：{v}（{g.surname()}老师）")])


@fmt("mobile +86 spaced", "mobile")
def _(g):
    v = P("mobile", "mobile +86 spaced", "+86 " + g344(g.mobile(), " "))
    return g.choice([("en", f"WhatsApp / WeChat: {v}"), ("en", f"Phone: {v} (Beijing time 9am-6pm)"),
                     ("zh", f"海外用户请拨打 {v}")])


@fmt("mobile +86 compact", "mobile")
def _(g):
    v = P("mobile", "mobile +86 compact", "+86" + g.mobile())
    return g.choice([("en", f"Contact: {g.choice(EN_NAMES)}, {v}"), ("zh", f"手机：{v}"),
                     ("en", f"Reach me on WeChat or phone {v}.")])


@fmt("mobile +86 dashes", "mobile")
def _(g):
    m = g.mobile()
    v = P("mobile", "mobile +86 dashes", g.choice(["+86-" + g344(m, "-"), "+86-" + m]))
    return g.choice([("en", f"Tel: {v}"), ("zh", f"联系电话：{v}"), ("en", f"Sales manager: {g.choice(EN_NAMES)} / {v}")])


@fmt("mobile 0086", "mobile")
def _(g):
    m = g.mobile()
    v = P("mobile", "mobile 0086", g.choice(["0086-" + m, "0086 " + g344(m, " "), "0086" + m]))
    return g.choice([("en", f"Mobile: {v}"), ("zh", f"国际长途请拨 {v}"), ("en", f"Call {v} for details.")])


@fmt("mobile (+86) prefix", "mobile")
def _(g):
    m = g.mobile()
    v = P("mobile", "mobile (+86) prefix", g.choice([f"(+86) {g344(m, ' ')}", f"（+86）{m}", f"(86) {m}", f"(+86){m}"]))
    return g.choice([("en", f"Phone {v}"), ("zh", f"手机：{v}"), ("en", f"Tel: {v} | Email: {P('email', 'email plain', g.email())}")])


@fmt("mobile full-width digits", "mobile")
def _(g):
    v = P("mobile", "mobile full-width digits", fw(g.mobile()))
    return "zh", g.choice([f"手机：{v}", f"联系电话：{v}（{g.surname()}先生）", f"有意请电联{v}。"])


@fmt("mobile full-width 3-4-4 spaced", "mobile")
def _(g):
    m = fw(g.mobile())
    v = P("mobile", "mobile full-width 3-4-4 spaced", g.choice([f"{m[:3]}　{m[3:7]}　{m[7:]}", f"{m[:3]} {m[3:7]} {m[7:]}", f"{m[:3]}－{m[3:7]}－{m[7:]}"]))
    return "zh", g.choice([f"手机：{v}", f"联系电话：{v}"])


@fmt("mobile after 微信/VX label", "mobile")
def _(g):
    v = P("mobile", "mobile after 微信/VX label", g.mobile())
    return "zh", g.choice([f"手机/微信同号：{v}", f"vx：{v}", f"加微信{v}备注来意", f"V信：{v}，QQ群：736281945"])


@fmt("mobile in English prose", "mobile")
def _(g):
    m = g.mobile()
    v = P("mobile", "mobile in English prose", g.choice([m, g344(m, "-"), g344(m, " ")]))
    return "en", g.choice([f"If you have questions, my number is {v}.", f"Text me at {v} or email me.",
                           f"Driver's phone: {v} (speaks English)."])


@fmt("mobile lists", "mobile")
def _(g):
    a = P("mobile", "mobile lists", g.mobile())
    b = P("mobile", "mobile lists", g.mobile())
    return "zh", g.choice([f"联系电话：{a}/{b}", f"手机：{a}、{b}", f"电话 {a} 或 {b}", f"{a}，{b}（均可加微信）"])


@fmt("mobile in brackets after a name", "mobile")
def _(g):
    v = P("mobile", "mobile in brackets after a name", g.mobile())
    return "zh", g.choice([f"{g.surname()}先生（{v}）", f"负责人：{g.surname()}老师({v})", f"【{g.surname()}女士 {v}】"])


@fmt("mobile tel: link", "mobile")
def _(g):
    m = g.mobile()
    v = P("mobile", "mobile tel: link", g.choice(["+86" + m, m]))
    return g.choice([("zh", f"[一键拨号](tel:{v})"), ("en", f'<a href="tel:{v}">Call us</a>')])


@fmt("foreign mobile with country code", "mobile")
def _(g):
    v = P("mobile", "foreign mobile with country code", g.valid_foreign(lambda: g.choice([
        "+852 9" + g.digits(3) + " " + g.digits(4), "+886 912 " + g.digits(3) + " " + g.digits(3),
        "+44 7911 " + g.digits(6), "+65 9" + g.digits(3) + " " + g.digits(4), "+61 412 " + g.digits(3) + " " + g.digits(3)])))
    return g.choice([("en", f"Mobile: {v}"), ("en", f"WhatsApp {v}"), ("zh", f"香港手机：{v}")])


# landlines ----------------------------------------------------------------------------------

@fmt("landline dashed", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline dashed", f"{a}-{loc}")
    return "zh", g.choice([f"电话：{v}", f"联系电话：{v}", f"总机：{v}\n邮编：{zip_code(g)}", f"办公室电话{v}。"])


@fmt("landline (area) half-width", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline (area) half-width", g.choice([f"({a}){g44(loc)}", f"({a}){loc}", f"({a}) {loc}", f"({a}) {g44(loc)}", f"({a})-{loc}"]))
    return g.choice([("zh", f"电话：{v}"), ("zh", f"咨询{v}"), ("en", f"Tel: {v}")])


@fmt("landline （area） full-width", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline （area） full-width", g.choice([f"（{a}）{loc}", f"（{a}）{g44(loc)}", fw(f"({a}){loc}")]))
    return "zh", g.choice([f"电话：{v}", f"联系电话{v}", f"咨询电话：{v}（工作日）"])


@fmt("landline spaces", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline spaces", g.choice([f"{a} {g44(loc)}", f"{a} {loc}"]))
    return g.choice([("zh", f"电话：{v}"), ("zh", f"{g.city(a)}办事处 {v}"), ("en", f"Office: {v}")])


@fmt("landline no separator", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline no separator", a + loc)
    return "zh", g.choice([f"电话：{v}", f"座机{v}", f"订餐电话 {v}"])


@fmt("landline dash-split groups", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline dash-split groups", f"{a}-{g44(loc, '-')}")
    return g.choice([("zh", f"电话：{v}"), ("en", f"Phone: {v}"), ("zh", f"客服电话 {v}")])


@fmt("landline extension (dash)", "landline")
def _(g):
    a, loc = g.landline()
    ext = g.digits(g.choice([3, 4]), "12345678")
    v = P("landline", "landline extension (dash)", g.choice([f"{a} {g44(loc)}", f"{a}-{loc}"]), f"-{ext}")
    return g.choice([("zh", f"电话：{v}"), ("zh", f"人事部 {v}"), ("en", f"Tel: {v}")])


@fmt("landline extension 转/分机", "landline")
def _(g):
    a, loc = g.landline()
    ext = g.digits(g.choice([3, 4]), "12345678")
    v = P("landline", "landline extension 转/分机",
          g.choice([f"{a}-{g44(loc)}", f"{a}-{loc}", f"（{a}）{loc}"]), g.choice([f" 转 {ext}", f"转{ext}", f"-分机{ext}", f" 分机 {ext}"]))
    return "zh", g.choice([f"电话：{v}", f"招生办：{v}", f"联系电话：{v}（{g.surname()}老师）"])


@fmt("landline extension ext.", "landline")
def _(g):
    a, loc = g.landline()
    ext = g.digits(g.choice([3, 4]), "12345678")
    v = P("landline", "landline extension ext.", f"+86 {a[1:]} {g44(loc)}", g.choice([f" ext. {ext}", f" ext {ext}", f" x{ext}"]))
    return "en", g.choice([f"Tel: {v}", f"Call our Shanghai office at {v}."])


@fmt("landline +86 forms", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline +86 forms", g.choice([f"+86 {a[1:]} {g44(loc)}", f"+86-{a[1:]}-{loc}", f"+86 (0){a[1:]} {g44(loc)}",
                                                     f"+86-{a[1:]}-{g44(loc, '-')}", f"+86 {a[1:]} {loc}", f"(+86) {a[1:]}-{loc}"]))
    return g.choice([("en", f"Tel: {v}"), ("en", f"Head office: {v}"), ("zh", f"电话：{v}")])


@fmt("landline full-width", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline full-width", fw(g.choice([f"{a}-{loc}", f"{a}{loc}", f"({a}){loc}"])))
    return "zh", g.choice([f"电话：{v}", f"联系电话：{v}", f"报名电话{v}"])


@fmt("fax", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "fax", g.choice([f"{a}-{loc}", f"+86-{a[1:]}-{loc}", f"（{a}）{loc}"]))
    return g.choice([("zh", f"传真：{v}"), ("en", f"Fax: {v}"), ("zh", f"传　真：{v}")])


@fmt("landline local number after label", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline local number after label", g.choice([loc, g44(loc), g44(loc, "-")]))
    return "zh", g.choice([f"电话：{v}", f"联系电话：{v}", f"传真：{v}", f"Tel：{v}"])


@fmt("landline list, second local", "landline")
def _(g):
    a, loc = g.landline()
    loc2 = loc[:-1] + str((int(loc[-1]) + 1) % 10)
    x = P("landline", "landline list, second local", f"{a}-{loc}")
    y = P("landline", "landline list, second local", loc2)
    return "zh", g.choice([f"电话：{x}、{y}", f"联系电话：{x}/{y}", f"电话：{x}，{y}"])


@fmt("landline 7-digit local", "landline")
def _(g):
    a, loc = g.landline(seven=True)
    v = P("landline", "landline 7-digit local", g.choice([f"{a}-{loc}", f"（{a}）{loc}", f"{a} {loc}"]))
    return "zh", g.choice([f"电话：{v}", f"县人民医院急诊科 {v}"])


@fmt("US number (NXX) NXX-XXXX", "landline")
def _(g):
    a, b, c = g.us()
    v = P("landline", "US number (NXX) NXX-XXXX", f"({a}) {b}-{c}")
    return "en", g.choice([f"Phone: {v}", f"Call us at {v} Monday-Friday.", f"{g.choice(EN_NAMES)}, {g.choice(CITIES_EN)} office, {v}"])


@fmt("US number NXX-NXX-XXXX", "landline")
def _(g):
    a, b, c = g.us()
    v = P("landline", "US number NXX-NXX-XXXX", f"{a}-{b}-{c}")
    return "en", g.choice([f"Phone: {v}", f"Call us at {v}.", f"Questions? Call {v} or email {P('email', 'email plain', g.email())}.",
                           f"Tel. {v} | Fax {P('landline', 'US number NXX-NXX-XXXX', '-'.join(g.us()))}"])


@fmt("US number dots", "landline")
def _(g):
    a, b, c = g.us()
    v = P("landline", "US number dots", f"{a}.{b}.{c}")
    return "en", g.choice([f"Phone: {v}", f"P: {v}", f"Reach the front desk at {v}."])


@fmt("US number +1", "landline")
def _(g):
    a, b, c = g.us()
    v = P("landline", "US number +1", g.choice([f"+1 {a} {b} {c}", f"+1 ({a}) {b}-{c}", f"+1-{a}-{b}-{c}", f"+1.{a}.{b}.{c}"]))
    return "en", g.choice([f"Phone: {v}", f"US office: {v}", f"Call {v}"])


@fmt("US number 1-NXX", "landline")
def _(g):
    a, b, c = g.us()
    v = P("landline", "US number 1-NXX", g.choice([f"1-{a}-{b}-{c}", f"1 ({a}) {b}-{c}"]))
    return "en", g.choice([f"Phone: {v}", f"Call {v} to book."])


@fmt("UK number", "landline")
def _(g):
    v = P("landline", "UK number", g.valid_foreign(lambda: g.choice([f"+44 20 {g.digits(4, '378')} {g.digits(4)}", f"+44 (0)20 {g.digits(4, '378')} {g.digits(4)}",
                                                                   f"+44 161 {g.digits(3, '2345678')} {g.digits(4)}"])))
    return "en", g.choice([f"London office: {v}", f"Tel: {v}", f"Phone {v}"])


@fmt("other international landline", "landline")
def _(g):
    v = P("landline", "other international landline", g.valid_foreign(lambda: g.choice([
        f"+49 30 {g.digits(8, '2345678')}", f"+33 1 {g.digits(2, '45')} {g.digits(2)} {g.digits(2)} {g.digits(2)}",
        f"+81 3-{g.digits(4, '2345')}-{g.digits(4)}", f"+852 2{g.digits(3)} {g.digits(4)}",
        f"+886 2 {g.digits(4, '2345')} {g.digits(4)}", f"+61 2 9{g.digits(3)} {g.digits(4)}", f"+65 6{g.digits(3)} {g.digits(4)}"])))
    return g.choice([("en", f"Tel: {v}"), ("en", f"Regional office: {v}"), ("zh", f"海外办事处电话：{v}")])


@fmt("landline 86- without plus", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline 86- without plus", g.choice([f"86-{a[1:]}-{loc}", f"86-{a[1:]}-{g44(loc, '-')}", f"(86){a[1:]}-{loc}",
                                                            f"86 {a[1:]} {g44(loc)}", f"0086-{a[1:]}-{loc}"]))
    return g.choice([("en", f"Tel: {v}"), ("en", f"TEL:{v}  FAX:{P('landline', 'landline 86- without plus', f'86-{a[1:]}-{g.landline()[1]}') if a in AREA_CODES else ''}"),
                     ("zh", f"电话：{v}")])


@fmt("mobile 86- without plus", "mobile")
def _(g):
    m = g.mobile()
    v = P("mobile", "mobile 86- without plus", g.choice([f"86-{m}", f"86 {g344(m, ' ')}", f"86-{g344(m, '-')}"]))
    return g.choice([("en", f"Mobile: {v}"), ("en", f"Cell/WeChat: {v}"), ("zh", f"手机：{v}")])


@fmt("landline +86 (area)", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline +86 (area)", g.choice([f"+86 ({a[1:]}) {g44(loc)}", f"+86({a[1:]}){loc}", f"+86-({a[1:]})-{loc}",
                                                      f"+86 ({a}) {loc}"]))
    return g.choice([("en", f"Tel: {v}"), ("en", f"Phone: {v}"), ("zh", f"电话：{v}")])


@fmt("landline spaced or long dash", "landline")
def _(g):
    a, loc = g.landline()
    v = P("landline", "landline spaced or long dash", g.choice([f"{a} - {g44(loc)}", f"{a} - {loc}", f"{a}—{loc}", f"{a}－{g44(loc)}",
                                                               f"{a}–{loc}"]))
    return "zh", g.choice([f"电话：{v}", f"联系电话：{v}", f"咨询：{v}"])


@fmt("landline and mobile side by side", "landline")
def _(g):
    a, loc = g.landline()
    x = P("landline", "landline and mobile side by side", f"{a}-{loc}")
    y = P("mobile", "mobile lists", g.mobile())
    return "zh", g.choice([f"电话：{x} {y}", f"联系方式：{x}　{y}", f"电话：{x}（办公） {y}（手机）"])


@fmt("US number spaces", "landline")
def _(g):
    a, b, c = g.us()
    v = P("landline", "US number spaces", f"{a} {b} {c}")
    return "en", g.choice([f"Phone: {v}", f"Call us: {v}", f"Tel {v}"])


@fmt("US number with extension", "landline")
def _(g):
    a, b, c = g.us()
    v = P("landline", "US number with extension", g.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"+1 {a} {b} {c}"]),
          g.choice([f" ext. {g.digits(3, '123')}", f" x{g.digits(3, '123')}", f" ext {g.digits(4, '123')}"]))
    return "en", g.choice([f"Phone: {v}", f"Call {g.choice(EN_NAMES)} at {v}."])


@fmt("IPv4 host with prefix length", "ip")
def _(g):
    v = P("ip", "IPv4 host with prefix length", g.private_ip())
    return g.choice([("en", f"    inet {v}/24 scope global eth0"), ("zh", f"本机地址 {v}/16，网关见上"),
                     ("en", f"address {v}/24")])


@fmt("ID old 15-digit", "id_card", 4)
def _(g):
    n = g.id_card()
    v = P("id_card", "ID old 15-digit", n[:6] + n[8:17])
    return "zh", g.choice([f"身份证号：{v}（旧版15位）", f"原身份证号码 {v}", f"身份证：{v}"])


@fmt("ID in a table row", "id_card", 4)
def _(g):
    v = P("id_card", "ID in a table row", g.choice([g.id_card(), g.id_card("X")]))
    return "zh", f"| {g.surname()}某 | 男 | {v} | {K('date', g.date().isoformat())} |"


# ID numbers ---------------------------------------------------------------------------------

@fmt("ID plain", "id_card")
def _(g):
    v = P("id_card", "ID plain", g.id_card())
    return "zh", g.choice([
        f"姓名：{g.surname()}伟　性别：男　身份证号：{v}　出生日期：{K('date', '1990-03-07')}",
        f"身份证号码：{v}",
        f"乘车人{g.surname()}某，身份证{v}，已购票。",
    ])


@fmt("ID ending X", "id_card")
def _(g):
    v = P("id_card", "ID ending X", g.id_card("X"))
    return "zh", g.choice([f"身份证号：{v}", f"公民身份号码 {v}", f"证件号码：{v}（请核对）"])


@fmt("ID ending lowercase x", "id_card")
def _(g):
    v = P("id_card", "ID ending lowercase x", g.id_card("X")[:17] + "x")
    return "zh", g.choice([f"身份证：{v}", f"我的身份证号是{v}，麻烦帮忙查一下"])


@fmt("ID full-width", "id_card")
def _(g):
    v = P("id_card", "ID full-width", fw(g.choice([g.id_card(), g.id_card("X"), g.id_card("X")[:17] + "x"])))
    return "zh", g.choice([f"身份证号：{v}", f"身份证号码：{v}"])


@fmt("ID 6-8-4 spaced", "id_card")
def _(g):
    n = g.choice([g.id_card(), g.id_card("X")])
    v = P("id_card", "ID 6-8-4 spaced", f"{n[:6]} {n[6:14]} {n[14:]}")
    return "zh", g.choice([f"身份证号：{v}", f"证件号 {v}"])


@fmt("ID 6-8-4 dashed", "id_card")
def _(g):
    n = g.id_card()
    v = P("id_card", "ID 6-8-4 dashed", f"{n[:6]}-{n[6:14]}-{n[14:]}")
    return "zh", g.choice([f"身份证号：{v}", f"证件号码 {v}"])


@fmt("ID 6-4-4-4 spaced", "id_card")
def _(g):
    n = g.choice([g.id_card(), g.id_card("X")])
    v = P("id_card", "ID 6-4-4-4 spaced", f"{n[:6]} {n[6:10]} {n[10:14]} {n[14:]}")
    return "zh", g.choice([f"身份证号：{v}", f"身份证：{v}"])


@fmt("ID in English text", "id_card")
def _(g):
    v = P("id_card", "ID in English text", g.choice([g.id_card(), g.id_card("X")]))
    return "en", g.choice([f"Chinese ID card No.: {v}", f"Passenger ID: {v}, seat 12F", f"Resident ID {v}"])


# e-mails ------------------------------------------------------------------------------------

@fmt("email plain", "email")
def _(g):
    v = P("email", "email plain", g.email())
    return g.choice([("zh", f"简历请投递至：{v}"), ("en", f"Email: {v}"), ("zh", f"邮箱 {v}"),
                     ("en", f"Send your CV to {v} by {K('date', 'March 31, 2024')}")])


@fmt("email dotted/plus local part", "email")
def _(g):
    first, last = g.choice(EN_NAMES).lower().split()
    v = P("email", "email dotted/plus local part",
          g.choice([f"{first}.{last}+news@{g.choice(COMPANY_DOMAINS)}", f"{first}.{last}@mail.{g.choice(COMPANY_DOMAINS)}",
                    f"{first[0]}.{last}-2019@{g.choice(DOMAINS)}"]))
    return "en", g.choice([f"E-mail: {v}", f"Contact {v} for press inquiries", f"({v})"])


@fmt("email next to Han characters", "email")
def _(g):
    v = P("email", "email next to Han characters", g.email())
    return "zh", g.choice([f"邮箱{v}欢迎来信", f"投稿请发{v}，并注明“投稿”字样", f"联系邮箱：{v}。", f"请发送至{v}（请勿重复投递）"])


@fmt("email QQ digits", "email")
def _(g):
    v = P("email", "email QQ digits", g.digits(g.choice([8, 9, 10]), "123456789") + "@qq.com")
    return "zh", g.choice([f"QQ邮箱：{v}", f"有意者发简历到{v}", f"Email：{v}"])


@fmt("email full-width", "email")
def _(g):
    e = g.email()
    v = P("email", "email full-width", g.choice([e.replace("@", "＠"), fw(e)]))
    return "zh", g.choice([f"邮箱：{v}", f"电子邮件：{v}"])


@fmt("email in angle brackets", "email")
def _(g):
    name = g.choice(EN_NAMES)
    v = P("email", "email in angle brackets", g.email(g.choice(COMPANY_DOMAINS)))
    return "en", g.choice([f"From: {name} <{v}>", f"Signed-off-by: {name} <{v}>", f"Reply-To: <{v}>"])


@fmt("email mailto link", "email")
def _(g):
    e = g.email()
    a, b = P("email", "email mailto link", e), P("email", "email mailto link", e)
    return g.choice([("en", f'<a href="mailto:{a}">{b}</a>'), ("zh", f"[{a}](mailto:{b})")])


@fmt("email at sentence end", "email")
def _(g):
    v = P("email", "email at sentence end", g.email())
    return g.choice([("en", f"Please email me at {v}."), ("en", f"Questions go to {v}; we reply within a day."),
                     ("zh", f"有问题请联系{v}。"), ("en", f"Write to {v}!")])


@fmt("email obfuscated [at] [dot]", "email")
def _(g):
    user, dom = g.email().split("@")
    d1, d2 = dom.rsplit(".", 1)
    v = P("email", "email obfuscated [at] [dot]", g.choice([f"{user} [at] {d1} [dot] {d2}", f"{user}(at){d1}(dot){d2}",
                                                           f"{user} (at) {dom}", f"{user}[at]{dom}", f"{user} [AT] {d1} [DOT] {d2}"]))
    return g.choice([("en", f"Email: {v}"), ("en", f"contact me: {v}"), ("zh", f"邮箱：{v}")])


@fmt("email obfuscated words", "email")
def _(g):
    user, dom = g.email().split("@")
    v = P("email", "email obfuscated words", g.choice([f"{user} at {dom.replace('.', ' dot ')}", f"{user} AT {dom.replace('.', ' DOT ')}"]))
    return "en", g.choice([f"Email me: {v}", f"You can reach me at {v}."])


@fmt("email obfuscated zh (#, 艾特)", "email")
def _(g):
    user, dom = g.email(g.choice(DOMAINS)).split("@")
    sym = g.choice(["#", "＃", "(艾特)", "[at]"])
    v = P("email", "email obfuscated zh (#, 艾特)", f"{user}{sym}{dom}")
    note = "（#换成@）" if "#" in sym or "＃" in sym else "（防爬虫）"
    return "zh", g.choice([f"邮箱：{v}{note}", f"简历发送至 {v} {note}"])


@fmt("email spaced @", "email")
def _(g):
    user, dom = g.email().split("@")
    v = P("email", "email spaced @", g.choice([f"{user} @ {dom}", f"{user}@ {dom}", f"{user} @{dom}"]))
    return g.choice([("en", f"Email: {v}"), ("zh", f"邮箱：{v}")])


@fmt("email uppercase / new TLD", "email")
def _(g):
    v = P("email", "email uppercase / new TLD", g.choice([g.email().upper(), g.choice(LOCAL_PARTS) + "@" + g.choice(["startup.io", "studio.design", "lab.tech", "shop.online", "mail.club"])]))
    return g.choice([("en", f"Email: {v}"), ("zh", f"邮箱：{v}")])


# IP addresses -------------------------------------------------------------------------------

@fmt("IPv4 in a log line", "ip")
def _(g):
    v = P("ip", "IPv4 in a log line", g.public_ip())
    return "en", g.choice([
        f"Dec  1 14:30:05 web01 sshd[2231]: Failed password for root from {v} port {g.r.randrange(1024, 65535)} ssh2",
        f"{v} - - [01/Dec/2023:14:30:00 +0800] \"GET /index.html HTTP/1.1\" 200 {g.r.randrange(200, 9000)}",
        f"WARN  connection reset by peer {v}",
    ])


@fmt("IPv4 ping / dig", "ip")
def _(g):
    v = P("ip", "IPv4 ping / dig", g.choice(["8.8.8.8", "114.114.114.114", "223.5.5.5", g.public_ip()]))
    return g.choice([("en", f"$ ping {v}"), ("zh", f"先 ping {v} 看看通不通"),
                     ("en", f"dig @{v} example.com")])


@fmt("IPv4 with port", "ip")
def _(g):
    v = P("ip", "IPv4 with port", g.choice([g.private_ip(), g.public_ip()]))
    return g.choice([("en", f"curl http://{v}:{g.choice(['8080', '3000', '5000'])}/api/health"), ("zh", f"数据库地址 {v}:3306，用户名 root"),
                     ("en", f"listening on {v}:{g.choice(['443', '8443'])}")])


@fmt("IPv4 in a URL", "ip")
def _(g):
    v = P("ip", "IPv4 in a URL", g.private_ip())
    return g.choice([("zh", f"浏览器打开 http://{v}/admin 登录路由器"), ("en", f"Open https://{v}/ in your browser")])


@fmt("IPv4 in Chinese prose", "ip")
def _(g):
    v = P("ip", "IPv4 in Chinese prose", g.choice([g.public_ip(), g.private_ip()]))
    return "zh", g.choice([f"服务器IP：{v}，端口22", f"我的公网IP是{v}，为什么连不上？", f"网关地址为{v}。"])


@fmt("IPv4 full-width", "ip")
def _(g):
    v = P("ip", "IPv4 full-width", fw(g.choice([g.private_ip(), g.public_ip()])))
    return "zh", g.choice([f"IP地址：{v}", f"服务器地址为{v}，请勿外传"])


@fmt("IPv4 lists", "ip")
def _(g):
    a, b = P("ip", "IPv4 lists", g.public_ip()), P("ip", "IPv4 lists", g.public_ip())
    return g.choice([("zh", f"DNS 设置为 {a}、{b}"), ("en", f"nameserver {a}\nnameserver {b}"), ("en", f"allowed: {a}, {b}")])


@fmt("IPv4 ranges", "ip")
def _(g):
    base = f"192.168.{g.r.randrange(10)}."
    a, b = P("ip", "IPv4 ranges", base + str(g.r.randrange(2, 100))), P("ip", "IPv4 ranges", base + str(g.r.randrange(100, 254)))
    return g.choice([("zh", f"DHCP 地址池：{a}-{b}"), ("en", f"range {a} - {b}"), ("zh", f"分配 {a}~{b}")])


@fmt("email lists", "email")
def _(g):
    a, b = P("email", "email lists", g.email()), P("email", "email lists", g.email())
    return g.choice([("zh", f"邮箱：{a};{b}"), ("en", f"cc: {a}, {b}"), ("zh", f"投稿邮箱 {a}、{b}")])


@fmt("IPv6 full", "ip")
def _(g):
    v = P("ip", "IPv6 full", g.ipv6())
    return g.choice([("en", f"inet6 {v}/64 scope global"), ("zh", f"IPv6 地址：{v}")])


@fmt("IPv6 compressed", "ip")
def _(g):
    v = P("ip", "IPv6 compressed", g.choice([f"2001:db8::{g.r.randrange(1, 0xffff):x}", f"fe80::{g.r.randrange(1, 0xffff):x}:{g.r.randrange(1, 0xffff):x}:{g.r.randrange(1, 0xffff):x}:{g.r.randrange(1, 0xffff):x}",
                                              f"2408:8207:{g.r.randrange(1, 0xffff):x}::{g.r.randrange(1, 0xffff):x}"]))
    return g.choice([("en", f"ping6 {v}"), ("en", f"client {v} connected"), ("zh", f"本机 IPv6 为 {v}")])


@fmt("IPv6 with zone / brackets / mapped", "ip")
def _(g):
    v = g.choice([P("ip", "IPv6 with zone / brackets / mapped", f"fe80::{g.r.randrange(1, 0xffff):x}:{g.r.randrange(1, 0xffff):x}", "%eth0"),
                  P("ip", "IPv6 with zone / brackets / mapped", f"::ffff:{g.public_ip()}")])
    w = P("ip", "IPv6 with zone / brackets / mapped", f"2001:db8::{g.r.randrange(1, 0xffff):x}")
    return g.choice([("en", f"ping6 {v}"), ("en", f"curl -g http://[{w}]:8080/"), ("en", f"from {v} accepted")])


# look-alikes ---------------------------------------------------------------------------------

LOOKALIKES: dict[str, tuple[int, Callable[[Gen], tuple[str, str]]]] = {}


def lookalike(name: str, n: int = 10):
    def register(fn):
        LOOKALIKES[name] = (n, fn)
        return fn
    return register


@lookalike("date")
def _(g):
    d = g.date()
    v = K("date", g.choice([d.isoformat(), d.strftime("%Y.%m.%d"), d.strftime("%Y/%m/%d"), d.strftime("%Y%m%d"),
                            d.strftime("%d/%m/%Y"), d.strftime("%Y年%m月%d日")]))
    return g.choice([("zh", f"发布时间：{v}"), ("en", f"Published {v}"), ("zh", f"（{v}）本报讯"), ("zh", f"截止日期 {v}")])


@lookalike("date and time")
def _(g):
    d = g.date()
    v = K("date and time", g.choice([f"{d.isoformat()} 14:30", f"{d.isoformat()} 09:05:33", f"{d.strftime('%Y/%m/%d')} 18:00",
                                     f"{d.isoformat()}T08:15:00+08:00", f"{d.strftime('%Y.%m.%d')} 14:30"]))
    return g.choice([("zh", f"下单时间：{v}"), ("en", f"Last updated: {v}"), ("zh", f"{v} 来源：新华网")])


@lookalike("order number")
def _(g):
    d = g.date().strftime("%Y%m%d")
    v = K("order number", g.choice([d + g.digits(10), g.digits(19, "123456789"), "E" + d + g.digits(8), g.digits(16, "123456789"),
                                    g.digits(12, "123456789")]))
    return g.choice([("zh", f"订单号：{v}"), ("zh", f"订单编号 {v}，请妥善保存"), ("en", f"Order #{v}"), ("en", f"Order number: {v}")])


@lookalike("tracking number")
def _(g):
    v = K("tracking number", g.choice(["SF" + g.digits(13, "1"), "YT" + g.digits(13, "7"), "JDV" + g.digits(12, "0"),
                                       "75" + g.digits(12), "43" + g.digits(11), "EA" + g.digits(9) + "CN", "78" + g.digits(12),
                                       "1Z" + g.digits(16)]))
    return g.choice([("zh", f"运单号：{v}"), ("zh", f"快递单号 {v}，预计明天送达"), ("en", f"Tracking number: {v}"),
                     ("zh", f"中通快递 {v}")])


@lookalike("invoice code / number")
def _(g):
    code = K("invoice code / number", g.choice(["0" + g.digits(11), "1" + g.digits(9, "1") + "0", "0" + g.digits(11)]))
    num = K("invoice code / number", g.digits(8))
    return g.choice([("zh", f"发票代码：{code}　发票号码：{num}"), ("zh", f"发票代码 {code}\n发票号码 {num}"),
                     ("en", f"Invoice No. {K('invoice code / number', 'INV-' + str(g.date().year) + '-' + g.digits(6))}")])


@lookalike("ISBN")
def _(g):
    plain, dashed = g.isbn13()
    v = K("ISBN", g.choice([plain, dashed, g.isbn10(), dashed.replace("-", " ")]))
    return g.choice([("zh", f"书号：ISBN {v}"), ("en", f"ISBN: {v}"), ("zh", f"ISBN：{v}　定价：{K('amount with commas', '59.00元')}")])


@lookalike("postcode")
def _(g):
    v = K("postcode", g.choice(["100871", "200433", "518057", "310027", "610041", "430072", "210093", "94105", "94105-1234", "SW1A 1AA"]))
    return g.choice([("zh", f"邮编：{v}"), ("zh", f"邮政编码 {v}"), ("en", f"San Francisco, CA {v}") if v[0] == "9" else ("zh", f"邮编{v}")])


@lookalike("amount with commas")  # and prices
def _(g):
    v = K("amount with commas", g.choice(["¥1,299.00", "￥12,345,678.90", "$1,234,567", "13,800,138,000", "1,380,013,800.00",
                                          f"{g.r.randrange(1, 999)},{g.digits(3)},{g.digits(3)}", "€2,499.99", "HK$ 18,800"]))
    return g.choice([("zh", f"实付款：{v}"), ("zh", f"合同金额为人民币{v}元"), ("en", f"Total: {v}"), ("en", f"revenue of {v} last year")])


@lookalike("coordinates")
def _(g):
    v = K("coordinates", g.choice(["39.9042°N, 116.4074°E", "31.2304, 121.4737", "22.5431° N 114.0579° E",
                                   "北纬39°54′27″，东经116°23′17″", "N 30.5728, E 104.0668", f"(39.{g.digits(4)}, 116.{g.digits(4)})"]))
    return g.choice([("zh", f"坐标：{v}"), ("en", f"located at {v}"), ("zh", f"地理位置 {v}")])


@lookalike("version string")
def _(g):
    quad = f"{g.r.randrange(1, 10)}.{g.r.randrange(10)}.{g.r.randrange(20)}.{g.r.randrange(1, 200)}"
    return g.choice([
        ("en", f"Tested with version {K('version string', quad)} on Windows."),
        ("en", f"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               f"{K('version string', f'Chrome/120.0.6099.{g.r.randrange(10, 250)}')} Safari/537.36"),
        ("zh", f"固件版本：{K('version string', quad)}"), ("zh", f"升级到 {K('version string', 'v' + quad)} 后问题解决"),
        ("en", f"Build {K('version string', f'10.0.19045.{g.r.randrange(1000, 4000)}')} released"),
        ("zh", f"微信PC版 {K('version string', '3.9.8.25')} 更新了什么？"), ("en", f"Release {K('version string', 'V' + quad)}"),
        ("zh", f"当前版本号：{K('version string', quad)}"), ("en", f"ver. {K('version string', quad)} changelog"),
        ("en", f"$ node --version\n{K('version string', 'v20.10.0')}"),
    ])


@lookalike("unified social credit code")
def _(g):
    v = K("unified social credit code", g.uscc())
    return g.choice([("zh", f"统一社会信用代码：{v}"), ("zh", f"（统一社会信用代码 {v}）"), ("zh", f"企业信用代码{v}")])


@lookalike("11-digit non-mobile")
def _(g):
    v = K("11-digit non-mobile", g.non_mobile_11())
    return g.choice([("zh", f"会员卡号：{v}"), ("zh", f"编号 {v}"), ("en", f"Ref. No. {v}"), ("zh", f"准考证号{v}")])


@lookalike("service hotline")
def _(g):
    v = K("service hotline", g.choice(["95588", "95555", "95533", "400-820-8820", "4008208820", "400 610 1688", "800-810-8888",
                                       "+1-800-275-2273", "1-800-642-7676", "12345", "10086", "12306", "400-6789-000"]))
    return g.choice([("zh", f"客服热线：{v}"), ("zh", f"全国统一服务热线 {v}"), ("en", f"Customer service: {v}"), ("zh", f"拨打{v}咨询")])


@lookalike("IP-like non-address")
def _(g):
    v = K("IP-like non-address", g.choice(["255.255.255.0", "255.255.0.0", "192.168.1.0/24", "10.0.0.0/8", "172.16.0.0/12",
                                           "1.3.6.1.4.1.2011", "0.0.0.0/0", "255.255.255.192"]))
    return g.choice([("en", f"netmask {v}"), ("zh", f"子网掩码 {v}"), ("en", f"route add {v}"), ("zh", f"允许 {v} 访问")])


@lookalike("MAC address")
def _(g):
    octs = [f"{g.r.randrange(256):02X}" for _ in range(6)]
    v = K("MAC address", g.choice([":".join(octs), "-".join(octs), ":".join(octs).lower(),
                                   f"{''.join(octs[:2])}.{''.join(octs[2:4])}.{''.join(octs[4:])}".lower()]))
    return g.choice([("en", f"ether {v} txqueuelen 1000"), ("zh", f"MAC地址：{v}"), ("en", f"HWaddr {v}")])


@lookalike("code scope (::)")
def _(g):
    v = K("code scope (::)", g.choice(["std::vector<int>", "std::chrono::seconds", "crate::utils::parse", "Foo::bar()",
                                       "ab::cd", "Dead::Beef", "a::b::c", "face::feed"]))
    return "en", g.choice([f"use {v} here", f"call {v} before returning", f"`{v}`"])


@lookalike("unix timestamp")
def _(g):
    v = K("unix timestamp", g.choice([str(g.r.randrange(1500000000, 1730000000)), str(g.r.randrange(1500000000000, 1730000000000))]))
    return g.choice([("en", f'"created_at": {v},'), ("zh", f"时间戳 {v}"), ("en", f"ts={v}")])


@lookalike("stock code / SKU / model")
def _(g):
    v = K("stock code / SKU / model", g.choice(["600519", "000001.SZ", "00700.HK", "100012043978", "SM-G9980", "10086547821",
                                                "A2403", "RTX 4090"]))
    return g.choice([("zh", f"股票代码 {v}"), ("zh", f"商品编号：{v}"), ("en", f"Model {v}"), ("zh", f"型号：{v}")])


@lookalike("patent / standard number")
def _(g):
    v = K("patent / standard number", g.choice([f"ZL 2023 1 {g.digits(7)}.{g.r.randrange(10)}", f"CN{g.r.randrange(2018, 2024)}1{g.digits(7)}.{g.r.randrange(10)}",
                                                "GB/T 7714-2015", "GB 18030-2022", "ISO 8601", "RFC 5321"]))
    return g.choice([("zh", f"专利号：{v}"), ("zh", f"依据 {v} 执行"), ("en", f"per {v}")])


@lookalike("package@version / @mention")
def _(g):
    v = K("package@version / @mention", g.choice(["lodash@4.17.21", "vue@3.3.4", "@types/node@20.10.0", "react@18.2.0",
                                                  "@人民日报", "@elonmusk", "torch==2.1.0"]))
    return g.choice([("en", f"npm install {v}"), ("zh", f"转发 {v} 的微博"), ("en", f"pin {v}")])


@lookalike("year / page / number ranges")
def _(g):
    v = K("year / page / number ranges", g.choice([f"{g.r.randrange(1990, 2010)}-{g.r.randrange(2011, 2024)}", f"pp. {g.r.randrange(1000, 1200)}-{g.r.randrange(1200, 1300)}",
                                                   f"{g.r.randrange(1980, 2000)}—{g.r.randrange(2000, 2024)}年", "1,000-5,000", "第1385-1392页"]))
    return g.choice([("zh", f"统计区间 {v}"), ("en", f"Journal of Data, 12(3), {v}"), ("zh", f"数据来源于{v}")])


@lookalike("bare 8-digit number (no label)")
def _(g):
    v = K("bare 8-digit number (no label)", g.digits(8, "23456789"))
    return g.choice([("zh", f"累计访问量 {v} 次"), ("en", f"population of {v}"), ("zh", f"共 {v} 条记录"), ("en", f"{v} downloads")])


@lookalike("long decimals")
def _(g):
    v = K("long decimals", g.choice(["3.14159265358979", f"0.{g.digits(11)}", f"1.{g.digits(10)}", f"116.{g.digits(8)}",
                                     f"-0.{g.digits(12)}"]))
    return g.choice([("en", f"pi = {v}"), ("en", f"loss: {v}"), ("zh", f"计算结果为 {v}"), ("en", f"lng={v}")])


@lookalike("number sequences")
def _(g):
    v = K("number sequences", g.choice([" ".join(f"{x:02d}" for x in sorted(g.r.sample(range(1, 34), 6))),
                                        "2019 2020 2021 2022 2023", f"{g.digits(3)} {g.digits(3)} {g.digits(3)} {g.digits(3)}",
                                        "1 2 3 4 5 6 7 8 9 10", f"{g.r.randrange(10, 99)}.{g.r.randrange(10)} {g.r.randrange(10, 99)}.{g.r.randrange(10)} {g.r.randrange(10, 99)}.{g.r.randrange(10)} {g.r.randrange(10, 99)}.{g.r.randrange(10)}"]))
    return g.choice([("zh", f"本期开奖号码：{v}"), ("en", f"values: {v}"), ("zh", f"数据：{v}")])


@lookalike("time ranges / clock times")
def _(g):
    v = K("time ranges / clock times", g.choice(["09:00-18:00", "8:30—17:30", "9:00-12:00,14:00-17:30", "周一至周五 9:00~17:00",
                                                 "00:12:34.567", "12:30:45"]))
    return g.choice([("zh", f"营业时间：{v}"), ("en", f"Hours: {v}"), ("zh", f"工作时间 {v}")])


# a few whole documents of several fields, as real pages write them ----------------------------

def contact_page_zh(g: Gen) -> tuple[str, str]:
    a, loc = g.landline()
    _, fax = g.landline()
    return "zh", (f"联系我们\n地址：{g.city(a)}市高新区科技园南区{g.r.randrange(1, 99)}栋\n邮编：{zip_code(g)}\n"
                  f"电话：{P('landline', 'landline dashed', f'{a}-{loc}')}\n传真：{P('landline', 'fax', f'{a}-{fax}')}\n"
                  f"客服热线：{K('service hotline', '400-' + g.digits(3, '6789') + '-' + g.digits(4))}\n"
                  f"邮箱：{P('email', 'email plain', g.email(g.choice(COMPANY_DOMAINS)))}\n"
                  f"统一社会信用代码：{K('unified social credit code', g.uscc())}\n"
                  f"© {K('year / page / number ranges', '2015-2024')} 版权所有")


def contact_page_en(g: Gen) -> tuple[str, str]:
    a, b, c = g.us()
    return "en", (f"Contact Us\n{g.r.randrange(100, 999)} Market Street, Suite {g.r.randrange(100, 900)}, San Francisco, CA {K('postcode', '94105')}\n"
                  f"Phone: {P('landline', 'US number (NXX) NXX-XXXX', f'({a}) {b}-{c}')}\n"
                  f"Toll-free: {K('service hotline', '1-800-' + g.digits(3, '2345678') + '-' + g.digits(4))}\n"
                  f"China office: {P('landline', 'landline +86 forms', '+86 21 ' + g44(g.landline()[1]))}\n"
                  f"Email: {P('email', 'email plain', g.email(g.choice(COMPANY_DOMAINS)))}")


def resume_zh(g: Gen) -> tuple[str, str]:
    n = g.id_card()
    birth = f"{n[6:10]}年{n[10:12]}月{n[12:14]}日"
    return "zh", (f"个人简历\n姓名：{g.surname()}晓明　性别：男　出生日期：{K('date', birth)}\n"
                  f"身份证号：{P('id_card', 'ID plain', n)}\n手机：{P('mobile', 'mobile plain (zh label)', g.mobile())}\n"
                  f"邮箱：{P('email', 'email plain', g.email())}\n"
                  f"教育经历：{K('year / page / number ranges', '2010-2014')} 北京大学 计算机科学与技术")


def order_page_zh(g: Gen) -> tuple[str, str]:
    d = g.date()
    m = g.mobile()
    return "zh", (f"订单详情\n订单号：{K('order number', d.strftime('%Y%m%d') + g.digits(10))}\n"
                  f"下单时间：{K('date and time', d.isoformat() + ' 20:15:43')}\n"
                  f"收货人：{g.surname()}**　{P('mobile', 'mobile plain (zh label)', m)}\n"
                  f"运单号：{K('tracking number', 'SF' + g.digits(13, '1'))}\n实付款：{K('amount with commas', '¥1,299.00')}\n"
                  f"发票代码：{K('invoice code / number', '0' + g.digits(11))} 发票号码：{K('invoice code / number', g.digits(8))}")


def tech_post_en(g: Gen) -> tuple[str, str]:
    return "en", (f"My server at {P('ip', 'IPv4 in a log line', g.public_ip())} runs nginx/{K('version string', '1.24.0')} and I set "
                  f"netmask {K('IP-like non-address', '255.255.255.0')} on eth0 ({K('MAC address', '00:1a:2b:3c:4d:5e')}). "
                  f"From {P('ip', 'IPv4 in a log line', g.private_ip())} I can reach {K('IP-like non-address', '192.168.1.0/24')} but not "
                  f"{P('ip', 'IPv6 compressed', '2001:db8::' + format(g.r.randrange(1, 0xffff), 'x'))}. Chrome {K('version string', '120.0.6099.109')}.")


def news_zh(g: Gen) -> tuple[str, str]:
    return "zh", (f"本报北京{K('date', '12月1日')}电（记者{g.surname()}明）{K('date and time', '2023-12-01 14:30')}，"
                  f"国家统计局发布数据，全国粮食总产量{K('amount with commas', '69,541')}万吨。该地位于{K('coordinates', '39.9042°N, 116.4074°E')}。"
                  f"新书《数据之道》（ISBN {K('ISBN', g.isbn13()[1])}）同日发布，定价{K('amount with commas', '68.00元')}。"
                  f"咨询电话：{P('landline', 'landline dashed', '010-' + g.digits(8, '6'))}")


DOCUMENTS = [contact_page_zh, contact_page_en, resume_zh, order_page_zh, tech_post_en, news_zh]


def build_set(seed: int) -> list[Snippet]:
    g = Gen(seed)
    snippets = []
    for _, (kind, n, fn) in FORMATS.items():
        for _ in range(n):
            snippets.append(parse(*fn(g)))
    for _, (n, fn) in LOOKALIKES.items():
        for _ in range(n):
            snippets.append(parse(*fn(g)))
    for fn in DOCUMENTS:
        for _ in range(4):
            snippets.append(parse(*fn(g)))
    return snippets


# ---- evaluation ----------------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    target: Target
    snippet: Snippet
    found: bool
    exact: bool


def evaluate(snippets: list[Snippet], finder=find_pii) -> tuple[list[Result], list[tuple[Snippet, list]]]:
    results, changed = [], []
    for snip in snippets:
        spans = finder(snip.text)
        for t in snip.targets:
            if t.kind == "keep":
                ok = not any(s.start < t.end and t.start < s.end for s in spans)
                results.append(Result(t, snip, ok, ok))
                continue
            want = PLACEHOLDERS[t.kind]
            covered = set()
            for s in spans:
                if PLACEHOLDERS[s.kind] == want:
                    covered.update(range(s.start, s.end))
            core = [i for i in range(t.start, t.core_end) if snip.text[i].isalnum()]
            found = all(i in covered for i in core)
            exact = any(s.start == t.start and s.end in (t.core_end, t.end) and PLACEHOLDERS[s.kind] == want for s in spans)
            results.append(Result(t, snip, found, exact))
        gold = [(t.start, t.end) for t in snip.targets if t.kind != "keep"]
        outside = [s for s in spans if not any(a <= s.start and s.end <= b for a, b in gold)]
        if outside:
            changed.append((snip, outside))
    return results, changed


def scrubbed(snip: Snippet, finder=find_pii) -> str:
    from dataprep.stages.pii import replace_spans
    return replace_spans(snip.text, finder(snip.text))[0]


def show(s: str) -> str:
    return s.replace("\n", "⏎").replace("|", "\\|")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    return f"{cpu}, {os.cpu_count()} cores visible, {platform.system()} {platform.release()}"


def commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--", "dataprep/stages/pii.py"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "--", "dataprep/stages/pii.py"]).returncode
        return out + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(snippets: list[Snippet], results: list[Result], changed, examples: int, seconds: float) -> str:
    lines = []
    pii = [r for r in results if r.target.kind != "keep"]
    keep = [r for r in results if r.target.kind == "keep"]
    formats = sorted({r.target.fmt for r in pii})
    lk_kinds = sorted({r.target.fmt for r in keep})
    langs = defaultdict(int)
    for s in snippets:
        langs[s.lang] += 1
    lines += ["# PII scrubber on the held-out set (benchmarks/pii_heldout.py)", "",
              f"Command `{' '.join(['python benchmarks/pii_heldout.py', *sys.argv[1:]])}`, {machine()}, "
              f"python {platform.python_version()}, phonenumbers {phonenumbers.__version__}, "
              f"{datetime.date.today().isoformat()}; scrubber: dataprep/stages/pii.py at {commit()}.", "",
              f"{len(snippets)} snippets ({langs['zh']} zh, {langs['en']} en), {len(results)} labelled items: "
              f"{len(pii)} PII values in {len(formats)} formats, {len(keep)} look-alikes of {len(lk_kinds)} kinds. "
              f"find_pii took {seconds * 1000:.0f} ms for the whole set.", ""]
    lines += ["| kind | items | formats | recall (found) | exact span |", "|---|---:|---:|---:|---:|"]
    for kind in PII_TYPES:
        rs = [r for r in pii if r.target.kind == kind]
        if rs:
            lines.append(f"| {kind} | {len(rs)} | {len({r.target.fmt for r in rs})} | {sum(r.found for r in rs) / len(rs):.3f} "
                         f"| {sum(r.exact for r in rs) / len(rs):.3f} |")
    lines.append(f"| **all PII** | {len(pii)} | {len(formats)} | {sum(r.found for r in pii) / len(pii):.3f} "
                 f"| {sum(r.exact for r in pii) / len(pii):.3f} |")
    lines += ["", "| look-alike kind | items | kept verbatim |", "|---|---:|---:|"]
    for kind in lk_kinds:
        rs = [r for r in keep if r.target.fmt == kind]
        lines.append(f"| {kind} | {len(rs)} | {sum(r.found for r in rs) / len(rs):.3f} |")
    lines.append(f"| **all look-alikes** | {len(keep)} | {sum(r.found for r in keep) / len(keep):.3f} |")
    lines += ["", f"Surrounding text unchanged (no replacement reaches outside the labelled PII values): "
              f"{len(snippets) - len(changed)}/{len(snippets)} snippets = {(len(snippets) - len(changed)) / len(snippets):.3f}.", ""]

    lines += ["## Per format", "", "| format | kind | items | found | exact |", "|---|---|---:|---:|---:|"]
    for f in sorted(formats, key=lambda f: (PII_TYPES.index(next(r.target.kind for r in pii if r.target.fmt == f)), f)):
        rs = [r for r in pii if r.target.fmt == f]
        lines.append(f"| {f} | {rs[0].target.kind} | {len(rs)} | {sum(r.found for r in rs)} | {sum(r.exact for r in rs)} |")

    missed = [r for r in pii if not r.found]
    lines += ["", f"## Misses ({len(missed)})", ""]
    by_fmt = defaultdict(list)
    for r in missed:
        by_fmt[r.target.fmt].append(r)
    if not missed:
        lines.append("None.")
    for f, rs in sorted(by_fmt.items()):
        lines.append(f"- **{f}** ({len(rs)} of {sum(r.target.fmt == f for r in pii)} missed):")
        for r in rs[:examples]:
            t = r.target
            lines.append(f"  - `{show(r.snippet.text[t.start:t.end])}` in `{show(r.snippet.text)}` → `{show(scrubbed(r.snippet))}`")
    touched = [r for r in keep if not r.found]
    lines += ["", f"## Look-alikes replaced ({len(touched)})", ""]
    if not touched:
        lines.append("None.")
    by_kind = defaultdict(list)
    for r in touched:
        by_kind[r.target.fmt].append(r)
    for f, rs in sorted(by_kind.items()):
        lines.append(f"- **{f}** ({len(rs)}):")
        for r in rs[:examples]:
            lines.append(f"  - `{show(r.snippet.text)}` → `{show(scrubbed(r.snippet))}`")
    lines += ["", f"## Snippets with text changed outside the labelled values ({len(changed)})", ""]
    if not changed:
        lines.append("None.")
    for snip, _ in changed[:examples * 4]:
        lines.append(f"- `{show(snip.text)}` → `{show(scrubbed(snip))}`")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--examples", type=int, default=3, help="examples shown per missed format / look-alike kind")
    args = ap.parse_args(argv)
    snippets = build_set(args.seed)
    t0 = time.process_time()
    for s in snippets:
        find_pii(s.text)
    seconds = time.process_time() - t0
    results, changed = evaluate(snippets)
    print(report(snippets, results, changed, args.examples, seconds), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
