"""Tables drawn with box characters, rewritten as rows of cells: what a model should learn from them.

Plain-text exports of manuals and man pages (the Debian Reference in the sample corpus) draw tables
with box characters and wrap long cells onto continuation lines:

    ┌───────────────────────────────┐
    │ 软件包  │流行度 │大小│ 说明      │
    ├─────────┼───────┼────┼───────────┤
    │x11-utils│V:240, │631 │xmessage(1)：在一个窗口中显示一条消息或 │
    │         │I:633  │    │疑问（X）  │
    └───────────────────────────────┘

As text that is mostly border characters, a cell split over lines and no whole row anywhere; a
symbol-ratio rule then drops the whole document, prose included. `render_box_tables` keeps the
content and drops the drawing: border lines go, each logical row becomes one line of cells joined by
" | ", and a cell's wrapped pieces are joined back (no space between two Chinese pieces):

    软件包 | 流行度 | 大小 | 说明
    x11-utils | V:240, I:633 | 631 | xmessage(1)：在一个窗口中显示一条消息或疑问（X）

A row line starts and ends with a vertical bar; a border line holds box characters only. Reference
cards drawn as a bar in the left margin ("│ scp files user@host:path", a bare "│" between entries)
lose the bar: a run of at least `MIN_MARGIN_LINES` such lines, blank lines allowed inside, one of
them bare. Lines outside such runs (a `tree` listing's "├── src") are left as they are. Physical lines between two
borders form one logical row when the table draws a border between its rows; otherwise a line whose
first cell is empty continues the row above.
"""
from __future__ import annotations

import re

BOX_CHARS = "\u2500-\u257f"
BORDER_RE = re.compile(f"^[{BOX_CHARS}\\s]+$")
VERTICAL = "│┃║╎╏┆┇┊┋"
CELL_SPLIT_RE = re.compile(f"[{VERTICAL}]")
# Chinese (and Japanese) characters, CJK and fullwidth punctuation: two of them join without a space
CJK_RE = re.compile("[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
OPENING, CLOSING = "-/（《“‘【([", "）》”’】，。；：、)]"


CELL_SEPARATOR = " | "
MIN_MARGIN_LINES = 3
BLANK_RUN_RE = re.compile(r"\n{3,}")
BOX_RE = re.compile(f"[{BOX_CHARS}]")


def _is_bare(line: str) -> bool:
    return len(line) == 1 and line in VERTICAL


def _is_margin(line: str) -> bool:
    """A line of a card drawn with a bar in the left margin: the bar alone or the bar, a space, text."""
    return _is_bare(line) or (len(line) > 2 and line[0] in VERTICAL and line[1] == " "
                                and BOX_RE.search(line, 1) is None)


def _margin_run(lines: list[str], start: int) -> int:
    """The end of the margin-bar run from `start` (== start when there is none to rewrite)."""
    end = count = 0
    bare = False
    for i in range(start, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        if not _is_margin(line):
            break
        end, count, bare = i + 1, count + 1, bare or _is_bare(line)
    return end if count >= MIN_MARGIN_LINES and bare else start


def _is_row(line: str) -> bool:
    return len(line) >= 2 and line[0] in VERTICAL and line[-1] in VERTICAL


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in CELL_SPLIT_RE.split(line[1:-1])]


def _join(left: str, right: str) -> str:
    """A cell's wrapped pieces joined back: no space inside Chinese text or after a hyphen."""
    if not left or not right:
        return left or right
    both_cjk = CJK_RE.match(left[-1]) and CJK_RE.match(right[0])
    return left + right if both_cjk or left[-1] in OPENING or right[0] in CLOSING else f"{left} {right}"


def _merge(rows: list[list[str]]) -> list[str]:
    merged = rows[0]
    for row in rows[1:]:
        merged = [_join(a, b) for a, b in zip(merged, row)]
    return merged


def _render(block: list[str]) -> list[str]:
    """One table's lines (rows and borders) as rendered rows."""
    groups: list[list[str]] = [[]]
    for line in block:
        if BORDER_RE.match(line):
            if groups[-1]:
                groups.append([])
        else:
            groups[-1].append(line)
    groups = [g for g in groups if g]
    bordered_rows = len(groups) >= 3      # a border under the header and between body rows
    out: list[str] = []
    for group in groups:
        rows = [_cells(line) for line in group]
        logical: list[list[list[str]]] = []
        for cells in rows:
            continues = logical and len(cells) == len(logical[-1][-1]) and (bordered_rows or not cells[0])
            if continues:
                logical[-1].append(cells)
            else:
                logical.append([cells])
        out += [CELL_SEPARATOR.join(cell for cell in _merge(parts) if cell) for parts in logical]
    return [line for line in out if line]


def render_box_tables(text: str) -> tuple[str, int]:
    """The text with every box-drawn table rendered as rows and every margin-bar card without its
    bars (see the module docstring), and how many of them there were. A run of row and border lines
    is a table when it has at least one of each."""
    if BOX_RE.search(text) is None:          # nearly every document: one scan, nothing to rewrite
        return text, 0
    lines = text.split("\n")
    out: list[str] = []
    tables = i = 0
    while i < len(lines):
        end = _margin_run(lines, i)
        if end > i:
            out += [line.strip()[2:] for line in lines[i:end] if not _is_bare(line.strip())]
            tables += 1
            i = end
            continue
        j = i
        while j < len(lines) and (_is_row(lines[j].strip()) or BORDER_RE.match(lines[j].strip() or "x")):
            j += 1
        block = [line.strip() for line in lines[i:j]]
        if any(_is_row(line) for line in block) and any(BORDER_RE.match(line) for line in block):
            out += _render(block)
            tables += 1
        else:
            out += lines[i:max(j, i + 1)]
        i = max(j, i + 1)
    return (BLANK_RUN_RE.sub("\n\n", "\n".join(out)).strip(), tables) if tables else (text, 0)
