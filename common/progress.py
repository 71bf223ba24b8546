"""Progress on the console: a tqdm bar on a terminal, else one log line every `every_s` seconds.

A bar redrawn with carriage returns is noise in a Slurm log or a piped file; a line such as
"read: shards 12/40 (30%), 95 s elapsed, ETA 221 s" every half minute (and one at the end) says
the same and stays readable there.
"""
from __future__ import annotations

import sys
import time
from typing import IO, Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")
EVERY_S = 30.0


def progress(items: Iterable[T], desc: str, total: int | None = None, unit: str = "it",
             every_s: float = EVERY_S, stream: IO[str] | None = None) -> Iterator[T]:
    """Yield `items` unchanged while reporting progress on `stream` (stderr)."""
    stream = stream or sys.stderr
    if stream.isatty():
        yield from tqdm(items, desc=desc, total=total, unit=unit, file=stream)
        return
    total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
    start = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            print(_line(desc, unit, done, total, now - start), file=stream, flush=True)
    if done:
        print(_line(desc, unit, done, total, time.monotonic() - start), file=stream, flush=True)


def _line(desc: str, unit: str, done: int, total: int | None, elapsed: float) -> str:
    if not total:
        return f"{desc}: {done} {unit}s, {elapsed:.0f} s elapsed"
    eta = elapsed / done * (total - done)
    return f"{desc}: {unit}s {done}/{total} ({done / total:.0%}), {elapsed:.0f} s elapsed, ETA {eta:.0f} s"
