"""Line-level boilerplate removal inside kept documents: the page chrome around an article.

Scraped pages wrap the article in lines no model should learn from: navigation bars and
breadcrumbs, "related articles" link lists, SEO keyword lines, share buttons, copyright and
ICP licence footers, and lines a site repeats on every page. Two kinds of evidence are used:

* patterns (this module's rules; each rule is small and keyed to short lines, so sentences that
  merely mention 首页, 版权 or "Home" stay), and
* corpus counts: `line_keys` hashes each line (whitespace-collapsed, lowercased, digits folded
  to 0 so view counters and dates do not hide a repeat); the runner counts how many documents
  hold each key and hands the keys seen in >= `min_docs` documents to `LineCleaner`.

What no rule names is judged by the line model (`dataprep.stages.line_model`): per line,
p(boilerplate) from punctuation, length, stop-word density, coherence with the page's own
sentences, keyword-list shapes and runs of short unpunctuated lines; lines at or above
`model_threshold` go, counted as `lines.model` (the report shows examples of each reason).

The model judges blocks, not physical lines, where text is hard-wrapped (books, mail, manuals,
plain-text exports): each physical line of a wrapped paragraph is a fragment with no sentence
end and looks like a link title on its own. `line_blocks` joins such a paragraph (and a table
drawn with box characters) into one block, computes the features on it and gives every line
of it the block's verdict; an attribution ("-- Mark Twain") takes the verdict of the quotation
above it. Web pages hold a paragraph per line, far wider than any wrap width, with spam lines
standing alone: there every line is its own block, as before.

A document whose repeated lines would make up most of its non-chrome text is a duplicate of
another document, not a page with chrome: its repeated lines are left for the dedup stages, so
line cleaning never empties all copies of a duplicated document.
"""
from __future__ import annotations

import bisect
import dataclasses
import functools
import re

import xxhash

from common.config import ConfigError
from dataprep.core import Document, Stage, StageStats
from dataprep.stages.line_model import LineModel, line_features
from dataprep.stages.normalize import detect_lang
from dataprep.stages.tables import render_box_tables

SEPARATORS_RE = re.compile(r"\s*(?:[|｜·•»>/]|\s{2,}|\u3000)\s*")
NAV_WORDS = {
    "首页", "网站首页", "返回首页", "主页", "上一页", "下一页", "上一篇", "下一篇", "返回顶部", "返回", "回到顶部",
    "登录", "注册", "退出", "免费注册", "帮助", "帮助中心", "关于我们", "联系我们", "网站地图", "设为首页",
    "加入收藏", "收藏本站", "更多", "正文", "新闻", "资讯", "财经", "科技", "体育", "娱乐", "文章", "教程",
    "下载", "问答", "专题", "社区", "论坛", "博客", "视频", "图片", "搜索", "广告服务", "隐私政策", "投稿",
    "订阅", "会员中心", "客户端",
    "home", "news", "about", "about us", "contact", "contact us", "login", "log in", "logout", "sign in",
    "sign up", "register", "subscribe", "search", "menu", "blog", "sitemap", "privacy", "privacy policy",
    "terms", "terms of use", "terms of service", "back to top", "next", "previous", "help", "faq",
}
BREADCRUMB_RE = re.compile(r"^(当前位置|您的位置|你的位置|您现在的位置|现在位置|位置)\s*[:：]|^(首页|网站首页|主页|home)\s*[>»/]",
                           re.IGNORECASE)
PREV_NEXT_RE = re.compile(r"^(上一篇|下一篇|上一章|下一章|上一页|下一页|previous( post| article)?|next( post| article)?)"
                          r"\s*[:：]", re.IGNORECASE)
RELATED_HEADER_RE = re.compile(
    r"^[【\[]?(相关文章|相关阅读|相关推荐|推荐阅读|热门文章|热门推荐|猜你喜欢|延伸阅读|最新文章|精彩推荐|热门阅读|"
    r"related (posts|articles|stories)|you may also like|recommended( for you)?|read more)[】\]]?\s*[:：]?$",
    re.IGNORECASE)
SEO_RE = re.compile(r"^[【\[]?(关键词|关键字|热门标签|标签|tags?|keywords?)[】\]]?\s*[:：]", re.IGNORECASE)
SHARE_RE = re.compile(r"^(分享到|分享至|分享给|一键分享|分享|share( this( article| post| page)?)?( on)?)\s*[:：]",
                      re.IGNORECASE)
SOCIAL_WORDS = {"微信", "微博", "新浪微博", "qq", "qq空间", "qq好友", "豆瓣", "朋友圈", "人人网", "知乎",
                "facebook", "twitter", "x", "email", "linkedin", "reddit", "whatsapp", "pinterest"}
COPYRIGHT_RE = re.compile(
    r"版权所有|版权归.{0,12}所有|©|\(c\)\s*\d{4}|copyright\s*(©|\(c\)|\d{4})|all rights reserved|"
    r"icp备\s*\d+号|icp证|公网安备|网络文化经营许可证|如有侵权|转载请注明|未经(许可|授权).{0,8}转载",
    re.IGNORECASE)
# Site notices in the site's own voice (cookie and JavaScript banners, newsletter prompts, "content
# from the internet" disclaimers, follow-our-account prompts): C4 drops whole pages for the English
# ones; here only the line goes. First-person site phrasing, so articles that discuss cookies or
# privacy are not hit.
NOTICE_RE = re.compile(
    r"\b(we|this (web)?site|our (web)?site)( also)? uses? cookies\b|\baccept (all )?cookies\b|"
    r"\bcookie (policy|settings|preferences|consent)\b|\bby (continuing|using this (web)?site)\b.{0,40}\b(agree|accept|consent)|"
    r"\b(enable|turn on) javascript\b|\bjavascript (is )?(disabled|required)\b|"
    r"\b(subscribe|sign up|signup) (to|for) (our|the) (free |weekly |daily )?(newsletter|mailing list|email updates)\b|"
    r"\bjoin our (newsletter|mailing list)\b|"
    r"^免责声明|本站(部分)?(内容|文章|图片|资源).{0,12}(来源于|来自|转载自)(网络|互联网)|"
    r"(扫码|扫描二维码|长按(识别)?二维码).{0,12}关注|关注.{0,8}公众号",
    re.IGNORECASE)
# a piece every COPYRIGHT_RE alternative contains (same use as NOTICE_HINTS below)
COPYRIGHT_HINTS = ("版权", "©", "(c)", "copyright", "rights reserved", "icp", "公网安备", "许可证", "侵权", "转载")
# a word every NOTICE_RE alternative contains: the regex runs only on lines holding one (it tries
# every position, and was half of the rules' time)
NOTICE_HINTS = ("cookie", "javascript", "by continuing", "by using this", "newsletter", "mailing list",
                "email updates", "免责声明", "网", "关注")
META_FIELD_RE = re.compile(r"(发布时间|发表时间|更新时间|时间|来源|作者|编辑|阅读|浏览|点击|评论)\s*[:：]")
META_LINE_RE = re.compile(r"^(责任编辑|本文来源|文章来源|原标题|发布时间|发表时间|更新时间)\s*[:：]")
DIGIT_RE = re.compile(r"\d")
BOX_RE = re.compile(r"[\u2500-\u257f]")      # box-drawing: table rows, never a wrapped paragraph's width
ATTRIBUTION_RE = re.compile(r"(--|——|—|―)(?!-)\s*\S")   # "-- Mark Twain", "——《谚语》": who said the lines above
ATTRIBUTION_LINE_RE = re.compile(r"^(--|——|—|―)(?!-)[^\S\n]*\S", re.MULTILINE)
HARD_END = set("。！？!?.…")                   # a line ending so (closers aside) ends its sentence; a comma,
                                               # colon or semicolon at the wrap does not
CLOSERS = "”’\"')）」』】]"
BLANK_RUN_RE = re.compile(r"\n{3,}")


@dataclasses.dataclass
class LinesConfig:
    enabled: bool = True
    max_chrome_chars: int = 80          # nav, share, SEO, meta and footer lines are at most this long
    max_notice_chars: int = 240         # cookie / newsletter banners (NOTICE_RE) run longer than menus
    max_related_title_chars: int = 40   # lines after a 相关文章 header up to this length are link titles
    max_related_lines: int = 20         # a related-articles list ends after this many lines at most
    min_key_chars: int = 10             # shorter lines get no key (作者：王维 repeats, yet is content)
    min_docs: int = 5                   # a line in >= this many documents is site boilerplate
    max_repeated_frac: float = 0.5      # repeats above this share of the non-chrome text: a duplicate doc
    model_enabled: bool = True          # the learned line classifier; off = the rules above only
    model: str = ""                     # line model JSON; "" = dataprep/resources/line_model.json
    model_threshold: float = 0.55       # p(boilerplate) from which a line goes: the lowest value at which the
                                        # benchmark's train side (bench_web_pages.py) keeps >= 0.95 of body lines in
                                        # both languages; its test side was only measured, never tuned on
    blocks: bool = True                 # the model judges hard-wrapped paragraphs as one block (see line_blocks);
                                        # off = every physical line alone (a wrapped line is a fragment, no sentence)
    wrap_percentile: float = 0.9        # a document's wrap width: this percentile of its line widths (columns,
                                        # CJK = 2): in wrapped text most lines run up to it; table rows not counted
    wrap_near: float = 0.75             # a line at least this share of the wrap width, not ending a sentence,
                                        # was broken by the wrap and continues on the next line
    min_wrap_width: int = 40            # wrap widths outside [min, max] columns are no wrap: poems and lists of
    max_wrap_width: int = 100           # short lines, or web pages (a paragraph per line, far wider than any
                                        # terminal or mail wrap of 60-80 columns)
    block_threshold: float = 0.85       # p(boilerplate) from which a block of >= 2 lines goes: spam is one line, a
                                        # wrapped paragraph or table is not; the line model, trained on single lines,
                                        # gives the sample's wrapped prose (Debian manual) 0.55-0.8 and its command
                                        # listings above 0.85 (measured on the sample; web pages have no such blocks)
    wrap_slack: float = 1.1             # a line up to this factor of the wrap width still fits it (CJK vs ASCII
                                        # column counts, a long word kept whole); wider lines run past the wrap
    min_wrapped_lines: int = 3          # a document is hard-wrapped when at least this many lines were broken by
                                        # the wrap (near its width, no sentence end) and they outnumber the lines
                                        # wider than the wrap width: on web pages with short lines a title or a
                                        # spam line may come near the width once or twice, paragraphs run past it
    box_tables: bool = True             # rewrite tables drawn with box characters as rows of " | "-joined cells
                                        # (dataprep/stages/tables.py) in the kept text; off = kept as drawn

    def validate(self) -> None:
        if self.min_docs < 2:
            raise ConfigError("lines.min_docs must be >= 2 (a line in one document is not repeated)")
        if not 0.0 < self.max_repeated_frac <= 1.0:
            raise ConfigError("lines.max_repeated_frac must be in (0, 1]")
        if not 0.0 < self.model_threshold <= 1.0 or not 0.0 < self.block_threshold <= 1.0:
            raise ConfigError("lines.model_threshold and lines.block_threshold must be in (0, 1]")
        if not 0.0 < self.wrap_percentile <= 1.0 or not 0.0 < self.wrap_near <= 1.0:
            raise ConfigError("lines.wrap_percentile and lines.wrap_near must be in (0, 1]")
        if self.min_wrap_width > self.max_wrap_width:
            raise ConfigError("lines.min_wrap_width must be <= lines.max_wrap_width")
        if self.wrap_slack < 1.0:
            raise ConfigError("lines.wrap_slack must be >= 1")


def line_key(line: str) -> str:
    """Hash of a line with whitespace collapsed, letters lowercased and digits folded to 0."""
    folded = DIGIT_RE.sub("0", " ".join(line.split()).lower())
    return xxhash.xxh3_64_hexdigest(folded.encode("utf-8"))


def line_keys(doc: Document, cfg: LinesConfig | None = None) -> list[str]:
    """Keys of the document's lines long enough to count (the runner counts each key once per doc)."""
    min_chars = (cfg or LinesConfig()).min_key_chars
    return [line_key(line) for line in doc.text.split("\n") if len(line.strip()) >= min_chars]


def line_width(line: str) -> int:
    """Display columns of a line: ASCII 1, CJK (3 UTF-8 bytes) 2."""
    return (len(line) + len(line.encode("utf-8"))) // 2


def _ends_hard(line: str) -> bool:
    stripped = line.rstrip(CLOSERS)
    return not stripped or stripped[-1] in HARD_END


def line_blocks(lines: list[str], breaks: list, cfg: LinesConfig) -> tuple[list[str], list[int]]:
    """Paragraphs joined into blocks, as jusText judges blocks: (block texts, the block of each line).

    In a hard-wrapped document (`_wrap_width`) a line joins the next one when it does not end a
    sentence (a comma, colon or semicolon does not end one) and reaches `wrap_near` of the wrap
    width. Joining a short line to a next one that starts in lower case was tried and dropped:
    it merges adjacent keyword lines ("best plumber in Austin" + "cheap roofing company Denver
    near me") into one block. In any document an attribution ("-- Mark Twain", "——《谚语》")
    takes the verdict of the block above it, the quotation it belongs to (its text is not added:
    the block's features, its sentence end first, are the quotation's). Web pages hold a
    paragraph per line, far wider than a wrap, and their spam lines are short and stand alone:
    they stay one block per line. A table drawn with box characters is one block (its rows are
    cells, not sentences). Blank lines and lines with a truthy `breaks` entry (rule and corpus
    verdicts) are blocks of their own. Joined Han text gets no space, other text one."""
    stripped = [line.strip() for line in lines]
    owner = list(range(len(lines)))
    whole = "\n".join(stripped)
    box = [BOX_RE.search(s) is not None for s in stripped] if BOX_RE.search(whole) else [False] * len(lines)
    widths = [line_width(line.rstrip()) if s else 0 for line, s in zip(lines, stripped)]
    wrap = _wrap_width(widths, stripped, box, cfg)
    if not wrap and not any(box) and not ATTRIBUTION_LINE_RE.search(whole):
        return stripped, owner
    near = cfg.wrap_near * wrap if wrap else float("inf")
    units: list[str] = []
    joining = table = False
    for i, text in enumerate(stripped):
        if text and not breaks[i] and (table if box[i] else joining):
            prev = units[-1]
            units[-1] = prev + (text if ord(prev[-1]) > 0x2e7f and ord(text[0]) > 0x2e7f else " " + text)
        elif not (text and not breaks[i] and units and units[-1] and not breaks[i - 1] and ATTRIBUTION_RE.match(text)):
            units.append(text)
        owner[i] = len(units) - 1       # an attribution shares the verdict of its quotation, not its text
        joining = (wrap > 0 and bool(text) and not breaks[i] and not box[i] and i + 1 < len(lines)
                   and not _ends_hard(text) and widths[i] >= near)
        table = box[i] and not breaks[i]
    return units, owner


def _wrap_width(widths: list[int], stripped: list[str], box: list[bool], cfg: LinesConfig) -> int:
    """The document's wrap width in columns, or 0 if it is not hard-wrapped: the `wrap_percentile`
    of its line widths (table rows aside) within `min_wrap_width`..`max_wrap_width`, with at least
    `min_wrapped_lines` lines broken by it (near it, no sentence end), more than run past it."""
    rows = sorted(w for w, s, b in zip(widths, stripped, box) if s and not b)
    if not rows:
        return 0
    wrap = rows[int(cfg.wrap_percentile * (len(rows) - 1))]
    if not cfg.min_wrap_width <= wrap <= cfg.max_wrap_width:
        return 0
    near = cfg.wrap_near * wrap
    broken = sum(1 for w, s, b in zip(widths, stripped, box) if near <= w <= wrap and not b and not _ends_hard(s))
    wide = len(rows) - bisect.bisect_right(rows, wrap * cfg.wrap_slack)
    return wrap if broken >= max(cfg.min_wrapped_lines, wide + 1) else 0


@functools.lru_cache(maxsize=1024)       # is_nav and is_share both ask for the same line's tokens
def _tokens(line: str) -> tuple[tuple[str, ...], bool]:
    """The line's items split on menu separators (| · » > /), else on spaces; and which it was."""
    parts = tuple(p.lower().strip("[]【】") for p in SEPARATORS_RE.split(line) if p)
    if len(parts) > 1:
        return parts, True
    return tuple(line.lower().split()), False


def is_nav(line: str) -> bool:
    """A breadcrumb or prev/next link, a menu bar (half its separated items are navigation words),
    or a line made only of navigation words ("返回顶部", "Home News Sport")."""
    if BREADCRUMB_RE.match(line) or PREV_NEXT_RE.match(line):
        return True
    tokens, separated = _tokens(line)
    nav = sum(t in NAV_WORDS for t in tokens)
    return nav == len(tokens) or (separated and nav / len(tokens) >= 0.5)


def is_share(line: str) -> bool:
    """"分享到：…" / "Share this:" lines, or a row of social network names."""
    if SHARE_RE.match(line):
        return True
    tokens, _ = _tokens(line)
    return len(tokens) >= 2 and all(t in SOCIAL_WORDS for t in tokens)


def is_meta(line: str) -> bool:
    """Byline/publish-info lines: 发布时间：… 来源：… 阅读：…, or a 责任编辑 line."""
    if ":" not in line and "：" not in line:         # every meta field ends with a colon
        return False
    return bool(META_LINE_RE.match(line)) or len(META_FIELD_RE.findall(line)) >= 2


def chrome_kind(line: str) -> str | None:
    """The boilerplate kind of one short line, or None for content."""
    if SEO_RE.match(line):
        return "seo"
    if is_copyright(line):
        return "copyright"
    if is_share(line):
        return "share"
    if is_nav(line):
        return "nav"
    if is_meta(line):
        return "meta"
    return None


def is_copyright(line: str) -> bool:
    lowered = line.lower()
    return any(hint in lowered for hint in COPYRIGHT_HINTS) and COPYRIGHT_RE.search(line) is not None


def is_notice(line: str) -> bool:
    lowered = line.lower()
    return any(hint in lowered for hint in NOTICE_HINTS) and NOTICE_RE.search(line) is not None


def classify_lines(lines: list[str], cfg: LinesConfig) -> list[str | None]:
    """Per line: "nav", "related", "seo", "copyright", "share", "meta", "notice" or None (content)."""
    kinds: list[str | None] = []
    related_left = 0
    for raw in lines:
        line = raw.strip()
        if not line:
            kinds.append(None)
            continue
        if RELATED_HEADER_RE.match(line):
            kinds.append("related")
            related_left = cfg.max_related_lines
            continue
        if related_left and len(line) <= cfg.max_related_title_chars and chrome_kind(line) is None:
            kinds.append("related")
            related_left -= 1
            continue
        related_left = 0
        kind = chrome_kind(line) if len(line) <= cfg.max_chrome_chars else None
        if kind is None and len(line) <= cfg.max_notice_chars and is_notice(line):
            kind = "notice"
        kinds.append(kind)
    return kinds


class LineCleaner(Stage):
    """Removes boilerplate lines; counts them per kind as `lines.<kind>` (with examples);
    a document left empty becomes a removal."""

    name = "lines"

    def __init__(self, cfg: LinesConfig, repeated: set[str]):
        self.cfg = cfg
        self.repeated = repeated
        self.model = LineModel.load(cfg.model) if cfg.model_enabled else None

    def judge(self, lines: list[str], lang: str, stats: StageStats) -> list[str | None]:
        """Per line: the reason it goes (a rule's kind, "repeated" or "model") or None to keep it."""
        kinds = classify_lines(lines, self.cfg)
        self._mark_repeated(lines, kinds, stats)
        if self.model is not None and lang in ("zh", "en"):
            if self.cfg.blocks:
                units, owner = line_blocks(lines, kinds, self.cfg)
            else:
                units, owner = lines, list(range(len(lines)))
            p = self.model.predict(line_features(units, lang, self.model.features), lang)
            threshold = [self.cfg.model_threshold] * len(units)
            if len(units) < len(lines):
                for u in set(owner[i] for i in range(1, len(lines)) if owner[i] == owner[i - 1] and lines[i].strip()):
                    threshold[u] = self.cfg.block_threshold
            for i, line in enumerate(lines):
                if kinds[i] is None and p[owner[i]] >= threshold[owner[i]] and line.strip():
                    kinds[i] = "model"
        return kinds

    def apply(self, doc: Document, stats: StageStats) -> Document | None:
        lines = doc.text.split("\n")
        lang = doc.meta.get("lang") or detect_lang(doc.text)
        kinds = self.judge(lines, lang, stats)
        if not any(kinds):
            return self._render_tables(doc, stats)
        for line, kind in zip(lines, kinds):
            if kind:
                stats.count(f"lines.{kind}")
                stats.example(f"lines.{kind}", line.strip())
        stats.count("lines.docs_changed")
        kept = "\n".join(line for line, kind in zip(lines, kinds) if kind is None)
        kept = BLANK_RUN_RE.sub("\n\n", kept).strip()
        if not kept:
            stats.remove(doc, "empty_after_line_clean")
            return None
        doc.text = kept
        return self._render_tables(doc, stats)

    def _render_tables(self, doc: Document, stats: StageStats) -> Document:
        """After the verdicts (the model judged each drawn table as one block): kept tables as rows."""
        if self.cfg.box_tables:
            doc.text, tables = render_box_tables(doc.text)
            if tables:
                stats.count("lines.box_tables_rendered", tables)
        return doc

    def _mark_repeated(self, lines: list[str], kinds: list[str | None], stats: StageStats) -> None:
        if not self.repeated:
            return
        hits = [i for i, (line, kind) in enumerate(zip(lines, kinds))
                if kind is None and len(line.strip()) >= self.cfg.min_key_chars and line_key(line) in self.repeated]
        repeated_chars = sum(len(lines[i].strip()) for i in hits)
        content_chars = sum(len(line.strip()) for line, kind in zip(lines, kinds) if kind is None)
        if repeated_chars > self.cfg.max_repeated_frac * content_chars:
            stats.count("lines.repeated_left_for_dedup")
            return
        for i in hits:
            kinds[i] = "repeated"
