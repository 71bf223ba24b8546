"""PII scrubbing on a generated, labelled set: recall per kind and format, look-alikes kept, speed.

The set is generated from a seed: documents of 1-3 items (a PII value in one of 38 formats
over the five kinds, or one of 14 kinds of look-alike) in Chinese and English contexts
(contact blocks, resumes, forum posts, prose) with filler text between them. An item is
*replaced* when the scrubbed document reads exactly as the original with the item's span
swapped for its placeholder, and *kept* when the look-alike is still there verbatim; a
document's *surrounding text is unchanged* when everything outside its items is identical.

Compared, on the same documents:
  before   the regex scrubber of commit 2825de8 (copied below, unchanged)
  matcher  libphonenumber's PhoneNumberMatcher(region CN, Leniency.VALID) over the whole text,
           every match replaced (the library as is, phones only)
  ours     dataprep.stages.pii: NFKC view, regex pre-filter, libphonenumber validation, filters
Speed is CPU seconds (time.process_time) in one process over the generated set and over the
bundled sample corpus (real text, few numbers: the common case in a dataprep run).

    python benchmarks/bench_pii.py [--seed 14] [--docs 3000] [--inputs data/sample/raw]
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import string
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

import phonenumbers

from dataprep.stages.normalize import normalize_text
from dataprep.stages.pii import PLACEHOLDERS, id_check_char, scrub_pii, valid_id_card
from sample_corpus import sample_documents

FW = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in string.digits + string.ascii_letters + "()-+@."})


def full_width(text: str) -> str:
    return text.translate(FW)


# ---- "before": the regex scrubber of commit 2825de8, kept verbatim for the comparison ----

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_BEFORE_RULES = (
    ("email", re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
                         r"\.[A-Za-z]{2,}(?![A-Za-z0-9-])"), "<EMAIL>"),
    ("id_card", re.compile(r"(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])"), "<ID_CARD>"),
    ("ip", re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\d|\.\d)"), "<IP>"),
    ("phone", re.compile(r"(?<![\d+])(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)"), "<PHONE>"),
    ("phone", re.compile(r"(?<![\d-])0\d{2,3}-\d{7,8}(?![\d-])"), "<PHONE>"),
)


def scrub_before(text: str, kinds: set[str]) -> str:
    for kind, pattern, placeholder in _BEFORE_RULES:
        if kind in kinds or (kind == "phone" and kinds & {"mobile", "landline"}):
            text = pattern.sub(lambda m, k=kind, p=placeholder: m.group()
                               if k == "id_card" and not valid_id_card(m.group()) else p, text)
    return text


def scrub_matcher(text: str, kinds: set[str]) -> str:
    """PhoneNumberMatcher over the whole text, every match replaced (phones only)."""
    spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, "CN", phonenumbers.Leniency.VALID)]
    for start, end in reversed(spans):
        text = text[:start] + "<PHONE>" + text[end:]
    return text


def scrub_ours(text: str, kinds: set[str]) -> str:
    return scrub_pii(text, sorted(kinds))[0]


# ---- generator ---------------------------------------------------------------------------

MOBILE_PREFIXES = [*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, 166, 176, 177, 178,
                   *range(180, 190), 191, 198, 199]
AREA_8 = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029", "0755", "0571", "0512", "0532"]


def mobile(r: random.Random) -> str:
    return f"{r.choice(MOBILE_PREFIXES)}{r.randrange(10**8):08d}"


def landline(r: random.Random) -> tuple[str, str]:
    return r.choice(AREA_8), f"{r.randint(2, 8)}{r.randrange(10**7):07d}"


def id_number(r: random.Random) -> str:
    region = r.choice(["110105", "310104", "440305", "510107", "330106", "420111", "610113", "654301"])
    birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=r.randrange(365 * 55))
    first17 = region + birth.strftime("%Y%m%d") + f"{r.randrange(1000):03d}"
    return first17 + id_check_char(first17)


def email(r: random.Random) -> tuple[str, str]:
    user = r.choice(["zhang.san", "li_na", "wangwei88", "chen.jie+news", "liu-yang", "j.smith", "mary.jones", "admin2024"])
    domain = r.choice(["example.com", "163.com", "qq.com", "mail.tsinghua.edu.cn", "example.co.uk", "corp.example.org"])
    return user, domain


def _mob_split(m: str, sep: str) -> str:
    return f"{m[:3]}{sep}{m[3:7]}{sep}{m[7:]}"


def _id_groups(n: str, sizes: tuple[int, ...], sep: str) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(n[pos:pos + size])
        pos += size
    return sep.join(out)


def _ip(r: random.Random) -> str:
    first = r.choice([10, 172, 192, 58, 61, 114, 202, 221, 101])
    return f"{first}.{r.randrange(256)}.{r.randrange(256)}.{r.randint(1, 254)}"


def _ipv6(r: random.Random, compressed: bool) -> str:
    groups = [f"{r.randrange(1, 65536):x}" for _ in range(8)]
    groups[0] = r.choice(["2001", "240e", "2408", "fe80"])
    if compressed:
        return f"{groups[0]}:db8::{groups[6]}:{groups[7]}" if groups[0] != "fe80" else f"fe80::{':'.join(groups[4:])}"
    return ":".join(groups)


def _ll(r: random.Random, fmt: Callable[[str, str], str]) -> str:
    area, local = landline(r)
    return fmt(area, local)


# format name -> (kind, value maker). Every value is a whole span the scrubber must replace.
FORMATS: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "email.plain": ("email", lambda r: "{}@{}".format(*email(r))),
    "email.upper": ("email", lambda r: "{}@{}".format(*email(r)).upper()),
    "email.full_width_at": ("email", lambda r: "{}＠{}".format(*email(r))),
    "email.bracket_at_dot": ("email", lambda r: "{} [at] {}".format(email(r)[0], email(r)[1].replace(".", " [dot] "))),
    "email.paren_at": ("email", lambda r: "{}(at){}".format(*email(r))),
    "email.hash_for_at": ("email", lambda r: f"{email(r)[0]}#{r.choice(['163.com', 'qq.com', '126.com'])}"),
    "ip.v4": ("ip", _ip),
    "ip.v4_port": ("ip", lambda r: _ip(r)),              # context adds :8080 after it
    "ip.v4_full_width": ("ip", lambda r: full_width(_ip(r))),
    "ip.v6_full": ("ip", lambda r: _ipv6(r, False)),
    "ip.v6_compressed": ("ip", lambda r: _ipv6(r, True)),
    "id.plain": ("id_card", id_number),
    "id.lower_x": ("id_card", lambda r: id_number(r).lower()),
    "id.full_width": ("id_card", lambda r: full_width(id_number(r))),
    "id.spaces_6_8_4": ("id_card", lambda r: _id_groups(id_number(r), (6, 8, 4), " ")),
    "id.spaces_6_4_4_4": ("id_card", lambda r: _id_groups(id_number(r), (6, 4, 4, 4), " ")),
    "id.dashes_6_8_4": ("id_card", lambda r: _id_groups(id_number(r), (6, 8, 4), "-")),
    "mobile.plain": ("mobile", mobile),
    "mobile.dash_3_4_4": ("mobile", lambda r: _mob_split(mobile(r), "-")),
    "mobile.space_3_4_4": ("mobile", lambda r: _mob_split(mobile(r), " ")),
    "mobile.full_width": ("mobile", lambda r: full_width(mobile(r))),
    "mobile.full_width_dash": ("mobile", lambda r: full_width(_mob_split(mobile(r), "-"))),
    "mobile.plus86": ("mobile", lambda r: "+86" + mobile(r)),
    "mobile.plus86_dash": ("mobile", lambda r: "+86-" + _mob_split(mobile(r), "-")),
    "mobile.plus86_space": ("mobile", lambda r: "+86 " + _mob_split(mobile(r), " ")),
    "mobile.paren_plus86": ("mobile", lambda r: "(+86) " + mobile(r)),
    "mobile.0086": ("mobile", lambda r: "0086 " + mobile(r)),
    "mobile.86_dash": ("mobile", lambda r: "86-" + mobile(r)),
    "mobile.hk_plus852": ("mobile", lambda r: f"+852 {r.choice(['512', '612', '631', '912', '923', '951'])}"
                                              f"{r.randrange(10)} {r.randrange(10000):04d}"),
    "landline.dash": ("landline", lambda r: _ll(r, lambda a, n: f"{a}-{n}")),
    "landline.paren": ("landline", lambda r: _ll(r, lambda a, n: f"({a}){n}")),
    "landline.paren_space": ("landline", lambda r: _ll(r, lambda a, n: f"({a}) {n[:4]} {n[4:]}")),
    "landline.full_width_paren": ("landline", lambda r: _ll(r, lambda a, n: full_width(f"({a}){n}"))),
    "landline.space": ("landline", lambda r: _ll(r, lambda a, n: f"{a} {n[:4]} {n[4:]}")),
    "landline.no_separator": ("landline", lambda r: _ll(r, lambda a, n: a + n)),
    "landline.dash_groups": ("landline", lambda r: _ll(r, lambda a, n: f"{a}-{n[:4]}-{n[4:]}")),
    "landline.dash_extension": ("landline", lambda r: _ll(r, lambda a, n: f"{a}-{n}-{r.randint(100, 9999)}")),
    "landline.plus86": ("landline", lambda r: _ll(r, lambda a, n: f"+86 {a[1:]} {n[:4]} {n[4:]}")),
    "landline.plus86_dash": ("landline", lambda r: _ll(r, lambda a, n: f"+86-{a[1:]}-{n}")),
    "landline.plus86_trunk": ("landline", lambda r: _ll(r, lambda a, n: f"+86 (0){a[1:]} {n[:4]} {n[4:]}")),
    "landline.full_width_dash": ("landline", lambda r: _ll(r, lambda a, n: full_width(f"{a}-{n}"))),
    "landline.uk_plus44": ("landline", lambda r: f"+44 20 7{r.randrange(1000):03d} {r.randrange(10000):04d}"),
    "landline.us_paren": ("landline", lambda r: f"({r.choice(['415', '212', '617', '206'])}) {r.randint(200, 999)}-{r.randrange(10000):04d}"),
}


def _uscc(r: random.Random) -> str:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return "91" + r.choice(["110000", "310000", "440300", "350100"]) + "".join(r.choice(chars) for _ in range(10))


# look-alike kind -> makers of values that must stay verbatim
LOOKALIKES: dict[str, list[Callable[[random.Random], str]]] = {
    "date_time": [lambda r: f"2023-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}",
                  lambda r: f"{r.randint(1990, 2024)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}",
                  lambda r: f"{r.randint(1990, 2024)}/{r.randint(1, 12):02d}/{r.randint(1, 28):02d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}"],
    "order_number": [lambda r: f"订单号：{r.randint(2019, 2024)}{r.randrange(10**14):014d}",
                     lambda r: f"Order #{r.randrange(10**10):010d}"],
    "tracking_number": [lambda r: f"SF{r.randrange(10**13):013d}", lambda r: f"运单号 YT{r.randrange(10**13):013d}",
                        lambda r: f"tracking no. {r.randrange(10**12):012d}"],
    "invoice_number": [lambda r: f"发票号码：{r.randrange(10**8):08d}", lambda r: f"发票代码 0{r.randrange(10**11):011d}",
                       lambda r: f"Invoice No. INV-{r.randint(2019, 2024)}-{r.randrange(10**6):06d}"],
    "isbn": [lambda r: f"ISBN 978-7-{r.randint(100, 999)}-{r.randrange(10**5):05d}-{r.randrange(10)}",
             lambda r: f"ISBN 978{r.randrange(10**10):010d}"],
    "postcode": [lambda r: f"邮编 {r.randint(100000, 850000)}", lambda r: f"ZIP {r.randint(10000, 99999)}"],
    "amount_commas": [lambda r: f"¥{r.randint(1, 999)},{r.randrange(1000):03d},{r.randrange(1000):03d}",
                      lambda r: f"${r.randint(1, 99)},{r.randrange(1000):03d},{r.randrange(1000):03d}.{r.randrange(100):02d}"],
    "coordinates": [lambda r: f"{r.uniform(18, 53):.4f}, {r.uniform(73, 135):.4f}",
                    lambda r: f"N{r.uniform(18, 53):.6f} E{r.uniform(73, 135):.6f}"],
    "version_string": [lambda r: f"v{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 30)}.{r.randint(0, 255)}",
                       lambda r: f"version {r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 30)}.{r.randint(0, 255)}",
                       lambda r: f"版本 {r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 30)}.{r.randint(0, 255)}"],
    "social_credit_code": [lambda r: f"统一社会信用代码：{_uscc(r)}"],
    "non_mobile_11_digits": [lambda r: f"{r.choice(['10', '11', '12'])}{r.randrange(10**9):09d}",
                             lambda r: f"{r.choice(['140', '141', '143', '154', '160', '169', '174'])}{r.randrange(10**8):08d}"],
    "service_hotline": [lambda r: f"95{r.randrange(1000):03d}", lambda r: f"400-{r.randint(100, 999)}-{r.randrange(10000):04d}",
                        lambda r: f"800-{r.randint(100, 999)}-{r.randrange(10000):04d}", lambda r: f"400{r.randrange(10**7):07d}",
                        lambda r: r.choice(["10086", "10010", "12315", "12345"])],
    "ip_like_non_address": [lambda r: r.choice(["255.255.255.0", "255.255.0.0", "0.0.0.0"]),
                            lambda r: f"1.3.6.1.4.1.{r.randint(1, 50000)}",
                            lambda r: f"{r.randint(256, 999)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(256)}",
                            lambda r: f"第{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}.{r.randint(1, 9)}节",
                            lambda r: f"{r.choice([10, 172, 192])}.{r.randrange(256)}.0.0/16",
                            lambda r: f"Chrome/{r.randint(90, 130)}.0.{r.randint(0, 255)}.{r.randint(0, 255)}"],
    "masked_mobile": [lambda r: f"{mobile(r)[:3]}****{mobile(r)[7:]}"],
}

FILLER = {
    "zh": ["欢迎访问我们的网站。", "本公司成立多年，服务周到，价格公道。", "如有疑问，欢迎随时咨询。", "以下为详细信息：",
           "感谢您的支持！", "楼主说得对，我也遇到过这个问题。", "工作经历丰富，熟悉数据分析。", "更多内容请见官网。"],
    "en": ["Welcome to our website.", "We have served customers for many years.", "Feel free to reach out with questions.",
           "Details are listed below:", "Thanks for your support!", "I had the same problem last week.",
           "Experienced in data analysis and reporting.", "See the official site for more."],
}
# context around an item: {} is the item; labels are what pages write before such a value
CONTEXTS = {
    "zh": {"email": ["邮箱：{}", "电子邮件 {} 欢迎来信", "简历请发送至{}，注明应聘岗位"],
           "ip": ["服务器地址 {}", "来自IP：{} 的访问", "请在浏览器打开 http://{}/admin"],
           "id_card": ["身份证号：{}", "证件号码 {}。", "姓名：张三 身份证{}"],
           "mobile": ["手机：{}", "联系电话：{}（微信同号）", "有意者请致电{}，非诚勿扰", "联系人：王先生 {}"],
           "landline": ["座机：{}", "电话：{}", "联系电话 {} 传真 同号", "地址：北京市海淀区 电话{}"],
           "lookalike": ["{}", "备注：{}。", "信息 {} 如下"]},
    "en": {"email": ["Email: {}", "Contact me at {} anytime.", "Send your CV to {}."],
           "ip": ["Server IP: {}", "Request from {} was blocked.", "Open http://{}/admin in a browser."],
           "id_card": ["ID number: {}", "Chinese ID {} on file."],
           "mobile": ["Mobile: {}", "Call me at {}.", "Phone: {} (WeChat)"],
           "landline": ["Tel: {}", "Office phone {}.", "Contact: {}"],
           "lookalike": ["{}", "Note: {}.", "Reference {} below"]},
}


def generate(seed: int, n_docs: int) -> list[dict]:
    """Documents as segments and items: text = seg0 + item1 + seg1 + ... ; deterministic in seed."""
    r = random.Random(seed)
    names = sorted(FORMATS) + [f"lookalike.{k}" for k in sorted(LOOKALIKES)]
    docs = []
    for i in range(n_docs):
        lang = "zh" if i % 2 == 0 else "en"
        segments, items = [r.choice(FILLER[lang]) + ("\n" if r.random() < 0.5 else " ")], []
        for _ in range(r.randint(1, 3)):
            name = names[(i * 3 + len(items) + r.randrange(len(names))) % len(names)]
            if name.startswith("lookalike."):
                kind, value = name, r.choice(LOOKALIKES[name.split(".", 1)[1]])(r)
                template = r.choice(CONTEXTS[lang]["lookalike"])
            else:
                kind, make = FORMATS[name]
                value = make(r)
                template = r.choice(CONTEXTS[lang][kind])
            before, after = template.split("{}")
            if name == "ip.v4_port":
                after = ":8080" + after
            if name.startswith("ip.v6") and before.endswith("//"):
                before, after = before + "[", "]" + after          # http://[2001:db8::1]/
            if name.startswith("landline.") and r.random() < 0.15 and lang == "zh" and name != "landline.dash_extension":
                after = "转" + str(r.randint(100, 9999)) + after         # worded extension stays outside the span
            segments[-1] += before
            items.append({"format": name, "kind": kind, "value": value})
            segments.append(after + ("\n" if r.random() < 0.5 else " ") + r.choice(FILLER[lang]))
        docs.append({"lang": lang, "segments": segments, "items": items,
                     "text": "".join(s + (items[k]["value"] if k < len(items) else "") for k, s in enumerate(segments))})
    return docs


# ---- evaluation --------------------------------------------------------------------------

def evaluate(docs: list[dict], scrub: Callable[[str, set[str]], str], kinds: set[str]) -> dict:
    """Per item replaced/kept and per document surrounding-unchanged, plus CPU time."""
    start = time.process_time()
    outputs = [scrub(d["text"], kinds) for d in docs]
    cpu = time.process_time() - start
    per_format: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    surrounding = [0, 0]
    for doc, out in zip(docs, outputs):
        pattern = "(.*?)".join(re.escape(s) for s in doc["segments"])
        match = re.fullmatch(pattern, out, re.DOTALL)
        surrounding[0] += bool(match)
        surrounding[1] += 1
        for k, item in enumerate(doc["items"]):
            if item["kind"] not in kinds and not item["kind"].startswith("lookalike."):
                continue
            got = match.group(k + 1) if match else None
            ok = got == item["value"] if item["kind"].startswith("lookalike.") else got == PLACEHOLDERS[item["kind"]]
            for table, key in ((per_format, item["format"]), (per_kind, item["kind"])):
                table[key][0] += ok
                table[key][1] += 1
    return {"cpu": cpu, "chars": sum(len(d["text"]) for d in docs), "per_format": per_format,
            "per_kind": per_kind, "surrounding": surrounding[0] / surrounding[1]}


def load_sample(inputs: Path) -> list[tuple[str, bool]]:
    """Texts of the bundled sample corpus, normalised as the runner does, and whether the
    sample generator planted PII in them (`noise: pii`)."""
    return [(normalize_text(doc.text)[0], str(doc.meta.get("noise")).startswith("pii"))
            for doc in sample_documents(inputs) if doc.text.strip()]


LEFTOVER_RE = re.compile(r"[0-9](?:[ .()-]?[0-9]){6}")


def cpu_rate(texts: list[str], scrub: Callable[[str, set[str]], str], kinds: set[str]) -> float:
    """Characters per CPU second."""
    start = time.process_time()
    for text in texts:
        scrub(text, kinds)
    return sum(map(len, texts)) / (time.process_time() - start)


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def number_tables(seed: int) -> dict[str, str]:
    """Worst cases for the phone search: long runs of space-separated numbers (data tables)."""
    r = random.Random(seed)
    return {"decimals 0.dddd": " ".join(f"0.{r.randrange(10**4):04d}" for _ in range(20000)),
            "integers 0-9999": " ".join(str(r.randrange(10**4)) for _ in range(20000)),
            "11-digit mobiles": " ".join(mobile(r) for _ in range(5000))}


def rate(pair: list[int]) -> str:
    return f"{pair[0] / pair[1]:.3f} ({pair[0]}/{pair[1]})" if pair[1] else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--inputs", type=Path, default=Path("data/sample/raw"))
    args = parser.parse_args()
    docs = generate(args.seed, args.docs)
    all_kinds = {"email", "ip", "id_card", "mobile", "landline"}
    phones = {"mobile", "landline"}
    n_items = sum(len(d["items"]) for d in docs)
    print(f"# PII scrubbing benchmark\n\ncommand: `python {' '.join(sys.argv)}`  \n"
          f"machine: {cpu_model()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"phonenumbers {phonenumbers.__version__}  \ndate: {datetime.date.today()}\n\n"
          f"{len(docs)} documents ({sum(d['lang'] == 'zh' for d in docs)} zh, {sum(d['lang'] == 'en' for d in docs)} en), "
          f"{n_items} items, {len(FORMATS)} PII formats, {len(LOOKALIKES)} look-alike kinds, seed {args.seed}\n")

    results = {name: evaluate(docs, fn, all_kinds) for name, fn in (("before", scrub_before), ("ours", scrub_ours))}
    print("## All five kinds\n\n| kind | before | ours |\n|---|---|---|")
    for kind in sorted(results["ours"]["per_kind"], key=lambda k: (k.startswith("lookalike."), k)):
        print(f"| {kind} | {rate(results['before']['per_kind'][kind])} | {rate(results['ours']['per_kind'][kind])} |")
    for name in ("before", "ours"):
        res = results[name]
        kept = [sum(v[i] for k, v in res["per_kind"].items() if k.startswith("lookalike.")) for i in (0, 1)]
        print(f"\n{name}: look-alikes kept {rate(kept)}, documents with surrounding text unchanged "
              f"{res['surrounding']:.3f}, {res['chars'] / res['cpu'] / 1e6:.3f} M chars / CPU s on this set")

    print("\n## Per format (recall; look-alikes: kept verbatim)\n\n| format | before | ours |\n|---|---|---|")
    for fmt in sorted(results["ours"]["per_format"]):
        print(f"| {fmt} | {rate(results['before']['per_format'][fmt])} | {rate(results['ours']['per_format'][fmt])} |")

    phone_results = {name: evaluate(docs, fn, phones) for name, fn in
                     (("before", scrub_before), ("matcher", scrub_matcher), ("ours", scrub_ours))}
    print("\n## Phones: regex vs PhoneNumberMatcher vs ours (phones only scrubbed)\n\n"
          "| method | mobile recall | landline recall | look-alikes kept | surrounding unchanged | M chars / CPU s |\n"
          "|---|---|---|---|---|---|")
    for name, res in phone_results.items():
        kept = [sum(v[i] for k, v in res["per_kind"].items() if k.startswith("lookalike.")) for i in (0, 1)]
        print(f"| {name} | {rate(res['per_kind']['mobile'])} | {rate(res['per_kind']['landline'])} | {rate(kept)} | "
              f"{res['surrounding']:.3f} | {res['chars'] / res['cpu'] / 1e6:.3f} |")
    print("\nFormats the matcher missed: " + ", ".join(
        f"{k} {v[1] - v[0]}/{v[1]}" for k, v in sorted(phone_results["matcher"]["per_format"].items())
        if not k.startswith("lookalike.") and k.split(".")[0] in ("mobile", "landline") and v[0] < v[1]))
    print("\nLook-alikes the matcher replaced, by kind: " + ", ".join(
        f"{k.split('.', 1)[1]} {v[1] - v[0]}" for k, v in sorted(phone_results["matcher"]["per_kind"].items())
        if k.startswith("lookalike.") and v[0] < v[1]))

    if args.inputs.is_dir():
        sample = load_sample(args.inputs)
        texts = [text for text, _ in sample]
        print(f"\n## Speed on the sample corpus ({len(texts)} documents, {sum(map(len, texts)) / 1e6:.2f} M chars, all kinds)\n\n"
              "| scrubber | M chars / CPU s | changed docs |\n|---|---|---|")
        for name, fn in (("before", scrub_before), ("ours", scrub_ours), ("matcher (phones only)", scrub_matcher)):
            kinds = phones if name.startswith("matcher") else all_kinds
            changed = sum(fn(t, kinds) != t for t in texts)
            print(f"| {name} | {cpu_rate(texts, fn, kinds) / 1e6:.2f} | {changed} |")
        planted = [scrub_ours(text, all_kinds) for text, pii in sample if pii]
        print(f"\nPlanted-PII documents with a 7+ digit run left after ours: "
              f"{sum(bool(LEFTOVER_RE.search(t)) for t in planted)} of {len(planted)}")
        for text in texts:
            before, ours = scrub_before(text, all_kinds), scrub_ours(text, all_kinds)
            if (before != text) != (ours != text):
                changed = before if before != text else ours
                print(f"\nchanged by {'before' if before != text else 'ours'} only: "
                      + " / ".join(repr(m) for m in re.findall(r".{0,25}<[A-Z_]+>.{0,10}", changed)[:3]))

    print("\n## Worst case: tables of numbers (one document each, all kinds)\n\n"
          "| table | chars | before M chars / CPU s | ours M chars / CPU s | ours replaced |\n|---|---|---|---|---|")
    for name, table in number_tables(args.seed).items():
        replaced = len(re.findall("<PHONE>", scrub_ours(table, all_kinds)))
        print(f"| {name} | {len(table):,} | {cpu_rate([table], scrub_before, all_kinds) / 1e6:.2f} | "
              f"{cpu_rate([table], scrub_ours, all_kinds) / 1e6:.2f} | {replaced} |")


if __name__ == "__main__":
    main()
