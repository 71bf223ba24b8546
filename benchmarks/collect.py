"""Write the outputs of `benchmarks/run_all.sh` into docs/BENCHMARKS.md, between markers.

The hand-written sections above the markers explain the numbers; this block is the raw output
of the latest full run, with its machine and date, so the two can be compared.

    python benchmarks/collect.py runs/bench
"""
from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

BEGIN, END = "<!-- run_all: begin -->", "<!-- run_all: end -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def main() -> None:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/bench")
    parts = [BEGIN, "## Latest full run (`bash benchmarks/run_all.sh`)", "",
             f"Machine: {machine()}. Date: {datetime.date.today().isoformat()}.", ""]
    for path in sorted(out_dir.glob("*.md")):
        parts += [f"### {path.stem}", "", path.read_text(encoding="utf-8").strip(), ""]
    parts.append(END)
    text = DOC.read_text(encoding="utf-8")
    block = "\n".join(parts)
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(DOC)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
