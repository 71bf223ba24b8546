"""Regenerate the bundled sample corpus `data/sample/raw/part-*.jsonl.gz` from Debian packages.

Real text: Debian `fortunes-zh` (Chinese sayings, essays, Tang and Song poems; GPL-3+),
Debian `fortunes` (English; BSD) and `botchan.txt` from the sentencepiece 0.2.3 source tarball
(Project Gutenberg eBook #8868, public domain). On top of it the script adds SYNTHETIC noise
so that every cleaning stage has something to do, and tags each record with what was done
(`noise`), which doubles as ground truth for dedup and filter checks:

  exact_dup / near_dup     verbatim and lightly edited copies of real documents
  web_page                 real paragraphs wrapped in navigation, related-article, tag, share
                           and copyright/ICP lines from a few made-up site templates
  pii                      a made-up contact line: valid-checksum ID number, phone, e-mail, IP
  spam / seo / repeated / digits / short   low-quality documents the quality filter should drop
  broken_json / invalid_utf8 / empty       records the reader must quarantine or repair

Usage (needs `apt-get install fortunes fortunes-zh` and the sentencepiece sdist unpacked):
    python data/sample/build_sample.py --botchan sentencepiece-0.2.3/test/botchan.txt
The output is deterministic for a given seed and input files (gzip mtime is fixed at 0).
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from pathlib import Path

ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
ATTRIBUTION_RE = re.compile(r"^\s*(--|——)")
FORTUNES_DIR = Path("/usr/share/games/fortunes")
ZH_FILES = ("chinese", "tang300", "song100")
EN_FILES = ("science", "literature", "wisdom", "work", "computers", "people")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

SITES = [  # made-up site templates: the same chrome repeats across every page of a site
    {"name": "清风文摘网", "domain": "qingfeng-wenzhai.example.cn", "icp": "京ICP备12345678号-1",
     "police": "京公网安备 11010502030405号",
     "nav": "首页 | 文章 | 诗词 | 名言 | 专题 | 登录 | 注册"},
    {"name": "书香阅读", "domain": "shuxiang-read.example.com", "icp": "沪ICP备20231234号",
     "police": "沪公网安备 31010402001234号",
     "nav": "网站首页 > 美文欣赏 > 正文"},
    {"name": "开源技术社区", "domain": "oss-tech.example.org", "icp": "粤ICP备19087654号-3",
     "police": "粤公网安备 44030502004567号",
     "nav": "首页 · 资讯 · 教程 · 问答 · 下载 · 关于我们"},
]
EN_SITE = {"name": "Daily Quotes Hub", "nav": "Home | Quotes | Authors | Topics | About | Contact | Login"}
SPAM_TERMS = ["网上赌场", "百家乐", "六合彩", "时时彩", "网赌", "博彩", "代开发票", "代开增值税发票", "刷单兼职",
              "刷单返利", "信用卡套现", "无抵押贷款", "高利贷", "私服外挂", "办理假证", "点击领取红包", "加微信领取"]
SPAM_PITCHES = ["首存送彩金", "稳赚不赔", "当天到账", "全国均可办理", "日结工资", "内部资料免费送", "诚信经营",
                "注册即送大礼包", "名额有限", "专人一对一指导"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
PII_TEMPLATES = [
    "联系人：{name}，身份证号 {id}，手机 {mobile}，办公电话 {landline}，邮箱 {email}，登录地址 {ip}。",
    "如有疑问请致电{landline}或{mobile}找{name}，来信请寄 {email}（服务器 {ip}，经办人身份证 {id}）。",
    "{name}（公民身份号码{id}）于昨日报名，预留手机{mobile}，电子邮箱{email}，单位座机{landline}，访问IP为{ip}。",
    "报名成功！姓名：{name} 证件号：{id} 电话：{mobile} 邮箱：{email} 备用电话：{landline} 来源IP：{ip}",
]
SEO_WORDS = ["减肥茶", "减肥方法", "快速减肥", "减肥药", "瘦身", "减肥食谱", "最有效的减肥方法", "减肥产品"]


def read_fortunes(directory: Path, name: str) -> list[str]:
    """Entries of one fortune file, ANSI colour codes removed (prefers the UTF-8 `.u8` copy)."""
    path = directory / f"{name}.u8"
    if not path.exists():
        path = directory / name
    text = ANSI_RE.sub("", path.read_text(encoding="utf-8", errors="replace"))
    entries = [e.strip("\n") for e in text.split("\n%\n")]
    return [e for e in entries if e.strip()]


def attribution(entry: str) -> str:
    """The entry's last line when it is a `-- Author` / `——《Book》` attribution, else ""."""
    last = entry.rstrip().rsplit("\n", 1)[-1]
    return last if ATTRIBUTION_RE.match(last) else ""


def join_entries(entries: list[str]) -> str:
    """Entries separated by blank lines; a run of entries by one author keeps its attribution once."""
    parts = []
    for entry, following in zip(entries, entries[1:] + [""]):
        source = attribution(entry)
        if source and source == attribution(following):
            entry = entry.rstrip()[: -len(source)].rstrip()
        parts.append(entry)
    return "\n\n".join(parts)


def group(entries: list[str], rng: random.Random, low: int, high: int) -> list[str]:
    """Join consecutive entries into documents of `low`..`high` characters (a random target each)."""
    docs, current, target = [], [], rng.randint(low, high)
    for entry in entries:
        current.append(entry)
        if sum(len(e) for e in current) >= target:
            docs.append(join_entries(current))
            current, target = [], rng.randint(low, high)
    if current:
        docs.append(join_entries(current))
    return docs


def botchan_docs(path: Path, rng: random.Random) -> list[str]:
    """The novel without the Gutenberg header/footer, re-flowed into paragraphs and documents."""
    text = path.read_text(encoding="utf-8-sig")
    body = text.split("*** START OF", 1)[1].split("\n", 1)[1].split("*** END OF", 1)[0]
    sentences = re.split(r'(?<=[.!?])\s+|(?<=[.!?]["\'])\s+', " ".join(body.split()))
    paragraphs, i = [], 0
    while i < len(sentences):
        n = rng.randint(3, 6)
        paragraphs.append(" ".join(sentences[i:i + n]))
        i += n
    docs, i = [], 0
    while i < len(paragraphs):
        n = rng.randint(4, 8)
        docs.append("\n\n".join(paragraphs[i:i + n]))
        i += n
    return docs


def fake_id_card(rng: random.Random) -> str:
    region = rng.choice(["110105", "310104", "440305", "510107", "330106"])
    birth = f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first17 = region + birth + f"{rng.randint(0, 999):03d}"
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def near_dup(text: str, rng: random.Random) -> str:
    """A lightly edited copy: a few characters changed, or a line dropped, or a line added."""
    lines = text.split("\n")
    edit = rng.choice(["chars", "drop_line", "add_line"])
    if edit == "drop_line" and len(lines) > 4:
        del lines[rng.randrange(1, len(lines))]
        return "\n".join(lines)
    if edit == "add_line":
        lines.insert(rng.randrange(1, len(lines) + 1), rng.choice(["（本文有删节）", "(abridged)", "转载请注明出处。"]))
        return "\n".join(lines)
    chars = list(text)
    for _ in range(max(1, len(chars) // 100)):
        pos = rng.randrange(len(chars))
        if not chars[pos].isspace():
            chars[pos] = rng.choice("的了是在有和也就都而，。")
    return "".join(chars)


def web_page(text: str, title: str, others: list[str], rng: random.Random) -> str:
    """Real paragraphs inside one site's chrome: nav, breadcrumb, tags, related list, share, footer."""
    site = rng.choice(SITES)
    related = [o.split("\n", 1)[0][:24] for o in rng.sample(others, 5)]
    lines = [site["nav"], f"当前位置：首页 > 文章 > {title}", title,
             f"发布时间：2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 来源：{site['name']} 阅读：{rng.randint(100, 9999)}",
             "", text, "",
             f"关键词：{title}，美文，经典语录，人生感悟", "分享到：微信 微博 QQ空间 豆瓣",
             "上一篇：" + related[0], "下一篇：" + related[1], "相关文章", *related[2:],
             "热门文章", *[o.split("\n", 1)[0][:20] for o in rng.sample(others, 3)], "返回顶部",
             f"版权所有 © 2009-2024 {site['name']} {site['domain']} All Rights Reserved",
             f"{site['icp']} {site['police']}"]
    return "\n".join(lines)


def en_web_page(text: str, others: list[str], rng: random.Random) -> str:
    related = [o.split("\n", 1)[0][:40] for o in rng.sample(others, 3)]
    return "\n".join([EN_SITE["nav"], "", text, "", "Tags: quotes, wisdom, funny, life",
                      "Share: Facebook Twitter Email", "Related posts:", *related,
                      f"Copyright © 2024 {EN_SITE['name']}. All rights reserved. | Privacy Policy | Terms of Use"])


def pii_doc(text: str, rng: random.Random) -> str:
    """The text plus one made-up contact line; names and wording vary so no two lines match."""
    contact = rng.choice(PII_TEMPLATES).format(
        name=rng.choice(SURNAMES) + rng.choice(["先生", "女士", "经理", "老师", "同学"]), id=fake_id_card(rng),
        mobile=f"1{rng.choice('3589')}{rng.randint(0, 999999999):09d}",
        landline=f"0{rng.choice(['10', '21', '755', '571'])}-{rng.randint(2000000, 8999999)}",
        email=f"{rng.choice(['wang', 'li.na', 'zhang_wei', 'chen'])}{rng.randint(1, 999)}@example.com",
        ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}")
    return f"{text}\n\n{contact}"


def low_quality_docs(zh: list[str], rng: random.Random) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for _ in range(15):
        spam = [f"{'、'.join(rng.sample(SPAM_TERMS, 3))}，{rng.choice(SPAM_PITCHES)}，联系QQ {rng.randint(10**7, 10**9)}！"
                for _ in range(5)]
        lines = spam + [rng.choice(zh).replace("\n", "")[:60].rsplit("。", 1)[0] + "。" for _ in range(4)]
        rng.shuffle(lines)
        out.append(("spam", "\n".join(lines)))
    for _ in range(15):
        words = [rng.choice(SEO_WORDS) for _ in range(80)]
        out.append(("seo", "，".join(words) + "。"))
    for _ in range(15):
        line = rng.choice(zh).split("\n", 1)[0]
        out.append(("repeated", "\n".join([line] * rng.randint(12, 30))))
    for _ in range(10):
        rows = [" ".join(f"{rng.randint(0, 99999):05d}" for _ in range(8)) for _ in range(30)]
        out.append(("digits", "数据表\n" + "\n".join(rows)))
    for _ in range(15):
        out.append(("short", rng.choice(["点击进入", "暂无内容", "页面加载中……", "Page not found", "404"])))
    return out


def build(args: argparse.Namespace) -> list[bytes]:
    rng = random.Random(args.seed)
    records: list[dict] = []

    def add(rid: str, text: str, origin: str, noise: str | None = None) -> dict:
        record = {"id": rid, "text": text, "origin": origin, "noise": noise}
        records.append(record)
        return record

    zh_docs = [(d, "fortunes-zh/chinese") for d in group(read_fortunes(args.fortunes_dir, "chinese"), rng, 250, 900)]
    for name in ZH_FILES[1:]:
        zh_docs += [(d, f"fortunes-zh/{name}") for d in group(read_fortunes(args.fortunes_dir, name), rng, 400, 1200)]
    en_docs = [(d, "botchan") for d in botchan_docs(args.botchan, rng)]
    for name in EN_FILES:
        en_docs += [(d, f"fortunes/{name}") for d in group(read_fortunes(args.fortunes_dir, name), rng, 700, 2000)]

    zh_texts = [d for d, _ in zh_docs]
    en_texts = [d for d, _ in en_docs]
    originals = []
    for i, (text, origin) in enumerate(zh_docs):
        kind = rng.random()
        if kind < 0.08:
            originals.append(add(f"zh-{i:05d}", web_page(text, text.split("\n", 1)[0][:30], zh_texts, rng),
                                 origin, "web_page"))
        elif kind < 0.10:
            originals.append(add(f"zh-{i:05d}", pii_doc(text, rng), origin, "pii"))
        else:
            originals.append(add(f"zh-{i:05d}", text, origin))
    for i, (text, origin) in enumerate(en_docs):
        web = rng.random() < 0.08
        originals.append(add(f"en-{i:05d}", en_web_page(text, en_texts, rng) if web else text, origin,
                             "web_page" if web else None))

    for j, source in enumerate(rng.sample(originals, len(originals) // 25)):
        add(f"dup-{j:04d}", source["text"], source["origin"], f"exact_dup:{source['id']}")
    for j, source in enumerate(rng.sample(originals, len(originals) // 25)):
        add(f"near-{j:04d}", near_dup(source["text"], rng), source["origin"], f"near_dup:{source['id']}")
    for j, (noise, text) in enumerate(low_quality_docs(zh_texts, rng)):
        add(f"lq-{j:04d}", text, "synthetic", noise)
    add("empty-0000", "", "synthetic", "empty")
    rng.shuffle(records)

    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in records]
    broken = [b'{"id": "broken-0000", "text": "\xe6\x88\x91\xe4\xbb\xac\xe7\x9a\x84', b'{"id": "broken-0001" "text": "x"}',
              b'not json at all', b'{"id": "broken-0003", "text": 42}', b'{"id": "broken-0004"}']
    invalid = [b'{"id": "badutf8-0000", "text": "\xe8\xbf\x99\xe6\x98\xaf\xff\xfe\xe4\xb8\x80\xe6\xae\xb5'
               + "含有非法字节的文本。".encode() * 30 + b'", "origin": "synthetic", "noise": "invalid_utf8"}']
    for bad in broken + invalid:
        lines.insert(rng.randrange(len(lines)), bad)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fortunes-dir", type=Path, default=FORTUNES_DIR)
    parser.add_argument("--botchan", type=Path, required=True, help="sentencepiece-0.2.3/test/botchan.txt")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "raw")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lines = build(args)
    args.out.mkdir(parents=True, exist_ok=True)
    per_shard = -(-len(lines) // args.shards)
    for shard in range(args.shards):
        chunk = lines[shard * per_shard:(shard + 1) * per_shard]
        path = args.out / f"part-{shard:04d}.jsonl.gz"
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
            out.write(b"\n".join(chunk) + b"\n")
        print(f"{path}: {len(chunk)} lines, {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
