"""Box-drawn tables become rows of cells (dataprep/stages/tables.py), so a manual page with a table
keeps its prose and its table's content instead of failing the symbol-ratio rule as a whole."""
from __future__ import annotations

import pytest

from dataprep.core import Document, StageStats
from dataprep.stages.lines import LineCleaner, LinesConfig
from dataprep.stages.normalize import normalize_text
from dataprep.stages.quality import QualityConfig, QualityFilter, zh_reasons
from dataprep.stages.tables import render_box_tables

# A section of the Chinese Debian Reference as its plain-text export draws it (the sample corpus).
MANUAL = """12.1.7. shell 脚本对话框

    一个简单的 shell 程序的用户界面中，echo 和 read 命令的交互性较为
    一般，你可以使用对话程序等来提升交互性。

    表 12.9. 用户界面程序列表

    ┌───────────────────────────────────────────────────────────────┐
    │ 软件包  │流行度 │大小│                  说明                  │
    ├─────────┼───────┼────┼────────────────────────────────────────┤
    │x11-utils│V:240, │631 │xmessage(1)：在一个窗口中显示一条消息或 │
    │         │I:633  │    │疑问（X）                               │
    ├─────────┼───────┼────┼────────────────────────────────────────┤
    │whiptail │V:414, │74  │从 shell 脚本中显示用户友好的对话框（   │
    │         │I:996  │    │newt）                                  │
    ├─────────┼───────┼────┼────────────────────────────────────────┤
    │ssft     │V:0,   │75  │Shell 脚本前端工具 (zenity, kdialog, and│
    │         │I:0    │    │带有 gettext 的 dialog 封装)            │
    ├─────────┼───────┼────┼────────────────────────────────────────┤
    │electric-│V:0,   │70  │malloc(e) 调试器                        │
    │fence    │I:5    │    │                                        │
    └───────────────────────────────────────────────────────────────┘"""

RENDERED_ROWS = [
    "软件包 | 流行度 | 大小 | 说明",
    "x11-utils | V:240, I:633 | 631 | xmessage(1)：在一个窗口中显示一条消息或疑问（X）",
    "whiptail | V:414, I:996 | 74 | 从 shell 脚本中显示用户友好的对话框（newt）",
    "ssft | V:0, I:0 | 75 | Shell 脚本前端工具 (zenity, kdialog, and 带有 gettext 的 dialog 封装)",
    "electric-fence | V:0, I:5 | 70 | malloc(e) 调试器",
]


def normalized(text: str) -> str:
    return normalize_text(text)[0]


def test_a_drawn_table_becomes_one_line_per_row_with_wrapped_cells_joined():
    text, tables = render_box_tables(normalized(MANUAL))
    assert tables == 1
    lines = text.split("\n")
    assert lines[-len(RENDERED_ROWS):] == RENDERED_ROWS
    assert lines[:6] == normalized(MANUAL).split("\n")[:6]         # the prose above is untouched
    assert not any(c in text for c in "│├┌└─")


def test_without_borders_between_rows_an_empty_first_cell_continues_the_row_above():
    table = "\n".join(["┌──────┬──────┐", "│命令  │说明  │", "├──────┼──────┤", "│ls    │列出目│",
                       "│      │录内容│", "│cp    │复制  │", "└──────┴──────┘"])
    assert render_box_tables(table) == ("命令 | 说明\nls | 列出目录内容\ncp | 复制", 1)


@pytest.mark.parametrize("text", [
    "src\n├── a.py\n│   └── b.py\n└── c.py",               # a tree listing: no row closes with a bar
    "管道 │ 左边命令的输出\n是右边命令的输入",                 # one bar inside prose
    "a\n│ one line with a bar in the margin\nb",           # a single margin line is no card
])
def test_text_that_is_not_a_table_is_left_as_it_is(text):
    assert render_box_tables(text) == (text, 0)


def test_a_margin_bar_card_loses_its_bars_and_keeps_its_entries():
    card = "│\n│ scp files user@host:path\n│\n│ 复制文件到其他机器。\n│\n\n│\n│ ssh -X user@host\n│\n│ 在别的机器上登录。\n│"
    assert render_box_tables(card) == ("scp files user@host:path\n复制文件到其他机器。\n\nssh -X user@host\n在别的机器上登录。", 1)


@pytest.mark.parametrize("box_tables", [True, False])
def test_a_manual_page_with_a_table_passes_the_quality_filter_only_with_tables_rendered(box_tables):
    """As drawn, the border characters are 25% of the page's characters: the symbol-ratio rule (0.1)
    removes the page, prose and all. Rendered, the page is kept with every row's content."""
    stats = StageStats("lines")
    cleaned = list(LineCleaner(LinesConfig(box_tables=box_tables), set()).process([Document("0", normalized(MANUAL))], stats))
    assert len(cleaned) == 1
    assert stats.counters["lines.box_tables_rendered"] == (1 if box_tables else 0)
    quality = StageStats("quality")
    kept = QualityFilter(QualityConfig()).apply(cleaned[0], quality)
    if box_tables:
        assert kept is not None and all(row in kept.text for row in RENDERED_ROWS)
    else:
        assert kept is None and dict(quality.removed) == {"symbol_ratio": 1}


def test_table_rows_do_not_count_against_the_terminal_punctuation_rule():
    """FineWeb's share of lines ending a sentence judges prose; rows of cells are no sentences. One
    punctuated paragraph line over twenty rows is 1/24 of all lines, under the zh cut of 0.106."""
    rows = [f"pkg{i} | V:{i}, I:{i * 3} | {100 + i} | 第 {i} 个软件包的说明" for i in range(20)]
    text = "\n".join(["表 5.17. 网络优化工具列表", "通用的网络优化超出了本文的范围，这里只列出常用的工具。", "",
                      "软件包 | 流行度 | 大小 | 说明", *rows])
    assert "few_terminal_punct" not in list(zh_reasons(text, QualityConfig().zh))
    assert "few_terminal_punct" in list(zh_reasons(text.replace(" | ", " "), QualityConfig().zh))
