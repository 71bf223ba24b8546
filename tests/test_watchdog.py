"""The step watchdog: no step within the limit -> every thread's stack on stderr and EXIT_HANG;
steps that keep coming -> nothing happens; the limit follows the median step time."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from pipeline.config import EXIT_HANG, HangConfig
from pipeline.watchdog import StepWatchdog
from train_fixtures import REPO, base_env

SCRIPT = textwrap.dedent("""
    import sys, time
    from pipeline.config import HangConfig
    from pipeline.watchdog import StepWatchdog
    dog = StepWatchdog(HangConfig(watchdog_min_s=0.5, watchdog_factor=3.0), rank=1)
    for _ in range(10):
        time.sleep(0.05)
        dog.beat()
    time.sleep(float(sys.argv[1]))          # 'a peer stalled': no step finishes
    print("survived")
""")


def _run(stall_s: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(stall_s)], cwd=REPO, env=base_env(),
                          capture_output=True, text=True, timeout=60)


def test_a_stall_dumps_every_stack_and_exits_hang():
    done = _run(5.0)
    assert done.returncode == EXIT_HANG and "survived" not in done.stdout, (done.returncode, done.stderr)
    assert "watchdog (rank 1): no training step finished in" in done.stderr
    assert "Thread" in done.stderr and "in <module>" in done.stderr       # faulthandler's stack dump


def test_steps_that_keep_coming_do_not_fire_and_the_limit_follows_the_median():
    done = _run(0.2)
    assert done.returncode == 0 and "survived" in done.stdout, done.stderr
    idle = subprocess.run([sys.executable, "-c", "import time\nfrom pipeline.config import HangConfig\n"
                           "from pipeline.watchdog import StepWatchdog\n"
                           "dog = StepWatchdog(HangConfig(watchdog_min_s=0.5))\ntime.sleep(2)\nprint('survived')"],
                          cwd=REPO, env=base_env(), capture_output=True, text=True, timeout=60)
    assert idle.returncode == 0 and "survived" in idle.stdout, idle.stderr     # not armed before a first step
    dog = StepWatchdog(HangConfig(watchdog_min_s=0.0, watchdog_factor=10.0))      # 0: no thread
    dog.durations.extend([2.0, 3.0, 100.0])
    assert dog.limit() == 30.0
