"""Step watchdog: a rank that sees no training step finish in time dumps every thread's stack and
exits EXIT_HANG, so a stalled peer ends in a requeue instead of a job hanging to its time limit.

A stopped or hung rank cannot report itself; its peers notice, because they wait for it inside the
next collective. Every rank runs the watchdog, so whichever rank is still alive fires first; the
Slurm script judges the first failing rank's code (EXIT_HANG: requeue, resume from the last
checkpoint), and srun ends the others. The watchdog arms at the first finished step: before it,
ranks legitimately wait for each other (start-up, a W&B resume waiting for its run id), and the
collective timeout (hang.collective_timeout_s) is what ends a stall there.
"""
from __future__ import annotations

import faulthandler
import os
import signal
import statistics
import sys
import threading
import time
from collections import deque
from pathlib import Path

from pipeline.config import EXIT_HANG, HangConfig


class StepWatchdog:
    def __init__(self, cfg: HangConfig, rank: int = 0):
        self.min_s, self.factor, self.rank = cfg.watchdog_min_s, cfg.watchdog_factor, rank
        self.durations: deque[float] = deque(maxlen=101)
        self.last = time.monotonic()
        if self.min_s > 0:
            threading.Thread(target=self._watch, name="step-watchdog", daemon=True).start()

    def limit(self) -> float:
        """Seconds without a finished step that count as a hang."""
        typical = statistics.median(self.durations) if self.durations else 0.0
        return max(self.min_s, self.factor * typical)

    def beat(self) -> None:
        """A step finished."""
        now = time.monotonic()
        self.durations.append(now - self.last)
        self.last = now

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.min_s / 4))
            if not self.durations:      # start-up: ranks arrive at the first step at different times
                continue                # (a W&B resume can wait for its run id); the collective timeout covers it
            waited, limit = time.monotonic() - self.last, self.limit()
            if waited > limit:
                print(f"watchdog (rank {self.rank}): no training step finished in {waited:.0f} s (limit {limit:.0f} s: "
                      f"hang.watchdog_min_s, or hang.watchdog_factor x the median step); a rank is stalled or "
                      f"hung. Every thread's stack follows; exiting {EXIT_HANG} (requeue, resume from the last "
                      f"checkpoint)", file=sys.stderr, flush=True)
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                sys.stderr.flush()
                _end_children()
                os._exit(EXIT_HANG)


def _end_children() -> None:
    """W&B's service runs as a child of this process. Left behind by os._exit it keeps the run id
    ("run ID ... is in use") and the requeued run cannot resume its W&B run; end it first (its
    unflushed records are lost, and the rerun sends those steps again)."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[1] == me:
                os.kill(int(stat.parent.name), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            continue
