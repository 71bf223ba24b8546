"""A real two-node Slurm cluster on one machine, for tests and for trying the sbatch scripts.

slurmctld, munged and two slurmd daemons (n1 on 127.0.0.11, n2 on 127.0.0.12) run as root
from a private directory. Each slurmd lives in its own UTS + mount namespace so that
`hostname` says n1/n2 inside jobs and a private hosts file resolves both names, while the
machine's /etc/hosts stays untouched. Every daemon and every submitter gets a marker
environment variable; `stop()` ends all processes carrying it, so nothing outlives the cluster.

Settings that keep tests fast: cred_expire=5 and sched_interval=1 (a requeued job runs again
after ~6 s instead of ~3 min), MinJobAge=4 (`sbatch --wait` polls every 2 s),
kill_invalid_depend (a failed dependency cancels its dependents instead of leaving them pending).

Run `python tests/slurm_testcluster.py` to get a cluster in a shell; Ctrl-C stops it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "ZHEN_SLURM_TESTCLUSTER"
NODES = {"n1": "127.0.0.11", "n2": "127.0.0.12"}
CPUS_PER_NODE = 2
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                "DEADLINE", "PREEMPTED"}
DAEMONS = ["slurmctld", "slurmd", "munged", "mungekey", "sbatch", "unshare"]


class ClusterUnavailable(RuntimeError):
    """This machine cannot run the test cluster (not root, no apt, install failed)."""


def ensure_slurm_installed() -> None:
    """Install Debian's Slurm and munge packages when missing; needs root and apt-get."""
    if all(shutil.which(cmd) for cmd in DAEMONS):
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable("the Slurm test cluster needs root to install and run slurmctld/slurmd")
    if not shutil.which("apt-get"):
        raise ClusterUnavailable("Slurm is not installed and apt-get is missing to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=300"]
    for cmd in (["apt-get", *lock, "update"],
                ["apt-get", *lock, "install", "-y", "--no-install-recommends", *PACKAGES]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise ClusterUnavailable(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    missing = [cmd for cmd in DAEMONS if not shutil.which(cmd)]
    if missing:
        raise ClusterUnavailable(f"installed {PACKAGES} but still missing: {missing}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _slurm_conf(root: Path, ctld_port: int, node_ports: dict[str, int]) -> str:
    host = socket.gethostname().split(".")[0]
    lines = [
        "ClusterName=zhen-test",
        f"SlurmctldHost={host}(127.0.0.1)",      # must be this machine's short host name
        f"SlurmctldPort={ctld_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={root}/munge/munge.socket,cred_expire=5",
        f"StateSaveLocation={root}/state",
        f"SlurmdSpoolDir={root}/spool/%n",
        f"SlurmctldPidFile={root}/run/slurmctld.pid",
        f"SlurmdPidFile={root}/run/slurmd-%n.pid",
        f"SlurmctldLogFile={root}/log/slurmctld.log",
        f"SlurmdLogFile={root}/log/slurmd-%n.log",
        "ProctrackType=proctrack/pgid",           # ends a job's leftover background children
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "MpiDefault=none",
        "MailProg=/bin/true",
        "ReturnToService=2",
        "SchedulerParameters=batch_sched_delay=0,sched_interval=1",
        "DependencyParameters=kill_invalid_depend",
        "SlurmdParameters=config_overrides",      # lets a node claim more CPUs than exist
        "MinJobAge=4",
        "KillWait=5",
    ]
    for name, addr in NODES.items():
        lines.append(f"NodeName={name} NodeAddr={addr} Port={node_ports[name]} "
                     f"CPUs={CPUS_PER_NODE} RealMemory=4096 State=UNKNOWN")
    lines.append(f"PartitionName=debug Nodes={','.join(NODES)} Default=YES MaxTime=INFINITE State=UP")
    return "\n".join(lines) + "\n"


@dataclass
class TestCluster:
    """A running cluster; `env` is what every Slurm client command needs."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    __test__ = False   # not a pytest test class

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    def run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a client command (sinfo, squeue, sbatch ...) against this cluster."""
        done = subprocess.run(list(cmd), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()}")
        return done

    def node_states(self) -> dict[str, str]:
        out = self.run("sinfo", "-h", "-N", "-o", "%N=%t", check=False).stdout.split()
        return dict(item.split("=", 1) for item in out if "=" in item)

    def job_state(self, job_id: str) -> str:
        """State of a job (first array task for arrays), or '' once Slurm has forgotten it."""
        out = self.run("squeue", "-h", "-j", job_id, "-t", "all", "-o", "%T", check=False).stdout.split()
        return out[0] if out else ""

    def wait_job(self, job_id: str, timeout: float) -> str:
        """Wait until a job is over (through any requeues); returns its last state seen."""
        last = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in FINAL_STATES or (not state and last):
                return state or last
            last = state or last
            time.sleep(0.5)
        raise TimeoutError(f"job {job_id} still {last or 'unknown'} after {timeout:.0f} s\n{self.logs()}")

    def logs(self) -> str:
        """Daemon logs, for a failing test's message."""
        parts = []
        for path in sorted((self.root / "log").glob("*.log")):
            parts.append(f"==> {path.name} <==\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(parts)

    def start(self) -> None:
        for sub in ("etc", "munge", "state", "run", "log", "spool/n1", "spool/n2"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)   # munged refuses a socket under a directory others cannot enter
        os.chmod(self.root / "munge", 0o755)
        hosts = self.root / "etc" / "hosts"
        hosts.write_text("127.0.0.1 localhost\n" + "".join(f"{a} {n}\n" for n, a in NODES.items()))
        ports = {name: _free_port() for name in NODES}
        self.conf.write_text(_slurm_conf(self.root, _free_port(), ports))
        self.env = dict(os.environ, SLURM_CONF=str(self.conf), **{MARKER: str(self.root)})

        munge = self.root / "munge"
        self._daemon(["mungekey", "-c", "-k", str(munge / "munge.key")])
        self._daemon(["munged", f"--key-file={munge}/munge.key", f"--socket={munge}/munge.socket",
                      f"--pid-file={munge}/munged.pid", f"--log-file={self.root}/log/munged.log",
                      f"--seed-file={munge}/munged.seed"])
        self._daemon(["slurmctld"])
        for name in NODES:
            inner = f"hostname {name} && mount --bind {hosts} /etc/hosts && exec slurmd -N {name}"
            self._daemon(["unshare", "--uts", "--mount", "sh", "-c", inner])
        self.wait_idle()

    def _daemon(self, cmd: list[str]) -> None:
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()}\n{self.logs()}")

    def wait_idle(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.node_states()
            if len(states) == len(NODES) and all(s == "idle" for s in states.values()):
                return
            time.sleep(0.1)
        raise RuntimeError(f"Slurm nodes not idle after {timeout:.0f} s: {self.node_states()}\n{self.logs()}")

    def stop(self) -> None:
        """Cancel jobs, stop the daemons, then end every leftover process carrying the marker."""
        if self.conf.exists() and (self.root / "run" / "slurmctld.pid").exists():
            self.run("scancel", "--user=root", check=False, timeout=20)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.run("squeue", "-h", check=False).stdout.strip():
                time.sleep(0.2)
        pid_files = [*(self.root / "run").glob("slurmd-*.pid"), self.root / "run" / "slurmctld.pid",
                     self.root / "munge" / "munged.pid"]
        for pid_file in pid_files:
            _signal_pid_file(pid_file, signal.SIGTERM)
        self._end_marked(grace=3.0)
        shutil.rmtree(self.root, ignore_errors=True)

    def _end_marked(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        sig = signal.SIGTERM
        while pids := marked_processes(str(self.root)):
            if time.monotonic() > deadline:
                sig = signal.SIGKILL
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)


def _signal_pid_file(pid_file: Path, sig: signal.Signals) -> None:
    try:
        os.kill(int(pid_file.read_text().strip()), sig)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass


def marked_processes(marker_value: str) -> list[int]:
    """Live (not zombie) processes whose environment carries MARKER=marker_value, except ours."""
    needle = f"{MARKER}={marker_value}".encode()
    mine = {os.getpid(), os.getppid()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def start_cluster(root: Path | None = None) -> TestCluster:
    """Install Slurm if needed and start a cluster under a world-executable directory in /tmp."""
    ensure_slurm_installed()
    cluster = TestCluster(root or Path(f"/tmp/zhen-slurm-{os.getpid()}"))
    shutil.rmtree(cluster.root, ignore_errors=True)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python tests/slurm_testcluster.py",
                            description="Start a two-node Slurm test cluster; Ctrl-C stops it.").parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    cluster = start_cluster()
    # only SLURM_CONF: a shell carrying the marker would be ended with the cluster
    print(f"cluster up: export SLURM_CONF={cluster.conf}", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
