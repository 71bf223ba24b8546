"""`pretrain submit`: render the pretraining sbatch script from a YAML file and queue it.

The script (template `slurm/train.sbatch.tmpl`) starts one srun task per rank, forwards the
time-limit USR1 to the ranks, and requeues the job once they have saved a checkpoint. Every
value that reaches an `#SBATCH` line must match a strict pattern and every value in the
script body is shell-quoted, so a config value can neither run shell code nor add directives.

Run directory written at submit time (the trainer adds checkpoints/, metrics.jsonl, wandb/):
  <run.dir>/slurm/job.sbatch   the rendered script      <run.dir>/slurm/train.yaml  resolved config
  <run.dir>/slurm/submit.yaml  the Slurm settings       <run.dir>/logs/             job logs
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Literal

from common.atomic import write_text
from common.config import ConfigError, dump_yaml, load_config
from pipeline.config import EXIT_DIVERGED, EXIT_HANG, EXIT_NODE_FAULT, EXIT_REQUEUE, TrainConfig

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "slurm"

# What may appear in an #SBATCH value: no blanks, quotes, `$`, `;`, `&`, `#` or newlines.
SBATCH_VALUE = re.compile(r"[A-Za-z0-9_.,:@%/+=\[\]-]+")
SBATCH_OPTION = re.compile(r"(--[a-z][a-z-]*)(?:=(.+))?", re.DOTALL)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SLURM_TIME = re.compile(r"\d+(-\d+)?(:\d+){0,2}")
# Directives the templates set themselves; extra_sbatch may not override them.
MANAGED_OPTIONS = {"--job-name", "--nodes", "--ntasks", "--ntasks-per-node", "--gpus-per-node",
                   "--cpus-per-task", "--mem", "--partition", "--account", "--qos", "--time",
                   "--signal", "--output", "--error", "--open-mode", "--chdir", "--array",
                   "--dependency", "--requeue", "--no-requeue", "--wrap", "--export"}


# Trainer exits a rerun cannot fix: the batch script never requeues them.
EXIT_FINAL = {2: "configuration or data error", EXIT_DIVERGED: "loss guard: training diverged"}
# First-failing-rank exits that blame the rank's node rather than the job (a software bug follows the
# job to every node): with exclude_failed_nodes the requeued run avoids that node. 128 + N = killed
# by signal N; SIGABRT, SIGKILL (the OOM killer) and SIGTERM are left out, they come from the job itself.
NODE_FAULT_EXITS = {EXIT_NODE_FAULT: "the trainer saw its accelerator fail", 132: "SIGILL", 135: "SIGBUS",
                    139: "SIGSEGV"}


class SubmitError(RuntimeError):
    """sbatch refused the job; the message carries its error."""


@dataclasses.dataclass
class JobSettings:
    """What every job needs from Slurm, shared by training and data-prep jobs."""

    job_name: str = "zhen"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str | int = "01:00:00"        # Slurm time: minutes, H:M:S or D-H:M:S
    cpus_per_task: int = 1
    mem: str | int | None = None        # per node, e.g. "64G"; None = the partition's default
    extra_sbatch: list[str] = dataclasses.field(default_factory=list)   # e.g. ["--exclusive"]
    env: dict[str, str] = dataclasses.field(default_factory=dict)       # exported in the job
    python: str = ".venv/bin/python"    # relative to workdir, absolute, or a name on PATH
    workdir: str | None = None          # where the job runs; None = the submitting directory
    signal_lead_s: int = 120            # USR1 this long (up to 30 s more) before the time limit

    def validate(self) -> None:
        _check("job_name", self.job_name, re.compile(r"[A-Za-z0-9_.-]+"), "letters, digits, '_', '.', '-'")
        for key in ("partition", "account", "qos"):
            value = getattr(self, key)
            if value is not None:
                _check(key, value, re.compile(r"[A-Za-z0-9_.,-]+"), "letters, digits, '_', '.', ',', '-'")
        _check("time", str(self.time), SLURM_TIME, "Slurm time like 90, 04:00:00 or 2-00:00:00")
        if self.mem is not None:
            _check("mem", str(self.mem), re.compile(r"\d+[KMGT]?"), "a size like 64G or 4000M")
        if self.cpus_per_task < 1 or self.signal_lead_s < 1:
            raise ConfigError(f"cpus_per_task and signal_lead_s must be >= 1, got {self.cpus_per_task} and "
                              f"{self.signal_lead_s}")
        for i, line in enumerate(self.extra_sbatch):
            match = SBATCH_OPTION.fullmatch(line)
            if not match or (match.group(2) is not None and not SBATCH_VALUE.fullmatch(match.group(2))):
                raise ConfigError(f"extra_sbatch[{i}] = {line!r} is not a plain --option or --option=value "
                                  f"(value characters allowed: letters, digits, _.,:@%/+=[]-)")
            if match.group(1) in MANAGED_OPTIONS:
                raise ConfigError(f"extra_sbatch[{i}] = {line!r}: {match.group(1)} is set from its own config "
                                  f"key or by the template; remove it from extra_sbatch")
        for name in self.env:
            if not ENV_NAME.fullmatch(str(name)):
                raise ConfigError(f"env: {name!r} is not a valid environment variable name")

    def requeue_directives(self) -> list[str]:
        """A restartable job (data-prep task, tokenizer, pack): requeued on node failure, and by
        itself on the USR1 `signal_lead_s` before its time limit (slurm/step.sbatch.tmpl)."""
        return ["#SBATCH --requeue", sbatch_line("--signal", f"B:USR1@{self.signal_lead_s}")]

    def resolved_workdir(self) -> Path:
        return Path(self.workdir or os.getcwd()).resolve()

    def python_command(self) -> str:
        """The interpreter as the job will call it: a path made absolute against workdir (symlinks
        kept: a venv's python is a symlink), or a bare name looked up on the node's PATH."""
        if "/" not in self.python:
            return self.python
        return os.path.normpath(self.resolved_workdir() / self.python)

    def directives(self, output: str) -> list[str]:
        """The #SBATCH lines common to every job, each value checked against SBATCH_VALUE."""
        pairs = [("--job-name", self.job_name), ("--partition", self.partition), ("--account", self.account),
                 ("--qos", self.qos), ("--time", self.time), ("--cpus-per-task", self.cpus_per_task),
                 ("--mem", self.mem), ("--chdir", str(self.resolved_workdir())), ("--output", output),
                 ("--open-mode", "append")]
        lines = [sbatch_line(opt, value) for opt, value in pairs if value is not None]
        return lines + [f"#SBATCH {line}" for line in self.extra_sbatch]

    def env_exports(self) -> str:
        return "\n".join(f"export {name}={shlex.quote(str(value))}" for name, value in self.env.items())


@dataclasses.dataclass
class NetworkConfig:
    """Which interfaces the collectives use; None leaves NCCL's / gloo's own choice."""
    socket_ifname: str | None = None    # NCCL_SOCKET_IFNAME and GLOO_SOCKET_IFNAME, e.g. "ib0" or "^lo,docker"
    ib_hca: str | None = None           # NCCL_IB_HCA, e.g. "mlx5_0,mlx5_1"
    ib_disable: bool = False            # NCCL_IB_DISABLE=1: TCP sockets only (no InfiniBand / RoCE)

    def exports(self) -> dict[str, str]:
        out = {}
        if self.socket_ifname:
            out.update(NCCL_SOCKET_IFNAME=self.socket_ifname, GLOO_SOCKET_IFNAME=self.socket_ifname)
        if self.ib_hca:
            out["NCCL_IB_HCA"] = self.ib_hca
        if self.ib_disable:
            out["NCCL_IB_DISABLE"] = "1"
        return out


@dataclasses.dataclass
class ContainerConfig:
    """Run every rank in a container: pyxis/enroot (srun --container-image) or Apptainer
    (`apptainer exec --nv IMAGE`). The image must hold this repository's dependencies; workdir and
    the run directory must be mounted at the same paths."""
    runtime: Literal["none", "pyxis", "apptainer"] = "none"
    image: str | None = None            # pyxis: "nvcr.io#nvidia/pytorch:24.05-py3"; apptainer: a .sif path
    mounts: list[str] = dataclasses.field(default_factory=list)     # "src:dst" (pyxis) / "src:dst" binds

    def validate(self) -> None:
        if self.runtime != "none" and not self.image:
            raise ConfigError(f"container.runtime {self.runtime} needs container.image")
        for mount in self.mounts:
            if not re.fullmatch(r"[^\s,:]+(:[^\s,:]+){0,2}", mount):
                raise ConfigError(f"container.mounts entry {mount!r} is not src[:dst[:flags]] without spaces or commas")

    def srun_options(self) -> list[str]:
        if self.runtime != "pyxis":
            return []
        return [f"--container-image={self.image}"] + ([f"--container-mounts={','.join(self.mounts)}"] if self.mounts else [])

    def command_prefix(self) -> list[str]:
        if self.runtime != "apptainer":
            return []
        return ["apptainer", "exec", "--nv", *(f"--bind={m}" for m in self.mounts), str(self.image)]


@dataclasses.dataclass
class SlurmConfig(JobSettings):
    """A pretraining job: resources, requeue policy and which training config to run."""

    job_name: str = "zhen-pretrain"
    nodes: int = 1
    gpus_per_node: int = 0              # 0 = CPU: one task per node, gloo backend
    gpu_request: Literal["gpus-per-node", "gres"] = "gpus-per-node"   # how GPUs are asked for (--gres=gpu:N)
    exclusive: bool = False             # #SBATCH --exclusive: the nodes are not shared with other jobs
    cpu_bind: str | None = None         # srun --cpu-bind, e.g. "cores" or "none"
    network: NetworkConfig = dataclasses.field(default_factory=NetworkConfig)
    container: ContainerConfig = dataclasses.field(default_factory=ContainerConfig)
    signal_lead_s: int = 300            # the training job's own default: one step and a checkpoint save
    max_requeues: int = 20              # total requeues of one job, whatever the reason
    max_crash_requeues: int = 1         # consecutive crashes that still requeue (0 = never)
    exclude_failed_nodes: bool = True   # a node-local crash requeues with that node in ExcNodeList
    train_config: str = "configs/train/tiny_cpu.yaml"
    overrides: list[str] = dataclasses.field(default_factory=list)      # key=value for the training config

    def validate(self) -> None:
        super().validate()
        if self.nodes < 1 or self.gpus_per_node < 0:
            raise ConfigError(f"nodes must be >= 1 and gpus_per_node >= 0, got {self.nodes} and {self.gpus_per_node}")
        if self.signal_lead_s < 1 or self.max_requeues < 0 or self.max_crash_requeues < 0:
            raise ConfigError("signal_lead_s must be >= 1 and max_requeues, max_crash_requeues >= 0")
        if self.cpu_bind is not None:
            _check("cpu_bind", self.cpu_bind, re.compile(r"[a-z_,:0-9x]+"), "an srun --cpu-bind value like cores")
        for name, value in self.network.exports().items():
            _check(f"network ({name})", value, re.compile(r"[A-Za-z0-9_.,:^=-]+"), "interface or HCA names")


@dataclasses.dataclass
class PreparedJob:
    """A rendered job and the files to write before sbatch sees it."""

    script: str
    script_path: Path
    files: dict[Path, str]
    log_dir: Path
    train: TrainConfig | None = None    # the resolved training config, for a training job


def _check(key: str, value: str, pattern: re.Pattern[str], what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{key} = {value!r} is not allowed here; expected {what}")


def sbatch_line(option: str, value: object) -> str:
    text = str(value)
    if not SBATCH_VALUE.fullmatch(text):
        raise ConfigError(f"{option} value {text!r} has characters not allowed in an #SBATCH line "
                          f"(allowed: letters, digits, _.,:@%/+=[]-); a path with spaces cannot be used")
    return f"#SBATCH {option}={text}"


def render_template(name: str, values: dict[str, object]) -> str:
    """Fill `{{ key }}` placeholders; every placeholder must have a value and every value a place."""
    text = (TEMPLATE_DIR / name).read_text(encoding="utf-8")
    wanted = set(re.findall(r"\{\{ (\w+) \}\}", text))
    if wanted != set(values):
        raise KeyError(f"{name}: placeholders {sorted(wanted)} but values for {sorted(values)}")
    return re.sub(r"\{\{ (\w+) \}\}", lambda m: str(values[m.group(1)]), text)


def prepare_training(cfg: SlurmConfig, source: str, train_overrides: list[str] | None = None) -> PreparedJob:
    """Resolve the training config (includes, overrides, absolute run.dir) and render the script."""
    workdir = cfg.resolved_workdir()
    train = load_config(TrainConfig, workdir / cfg.train_config, [*cfg.overrides, *(train_overrides or [])])
    run_dir = (workdir / train.run.dir).resolve()
    train.run.dir = str(run_dir)
    tasks_per_node = max(cfg.gpus_per_node, 1)
    lines = cfg.directives(output=f"{run_dir}/logs/slurm-%j.out")
    lines += [sbatch_line("--nodes", cfg.nodes), sbatch_line("--ntasks-per-node", tasks_per_node),
              sbatch_line("--signal", f"B:USR1@{cfg.signal_lead_s}"), "#SBATCH --requeue"]
    if cfg.gpus_per_node:
        lines.append(sbatch_line("--gres", f"gpu:{cfg.gpus_per_node}") if cfg.gpu_request == "gres"
                     else sbatch_line("--gpus-per-node", cfg.gpus_per_node))
    if cfg.exclusive:
        lines.append("#SBATCH --exclusive")
    srun_options = cfg.container.srun_options() + ([f"--cpu-bind={cfg.cpu_bind}"] if cfg.cpu_bind else [])
    train_yaml = run_dir / "slurm" / "train.yaml"
    script = render_template("train.sbatch.tmpl", {
        "sbatch_lines": "\n".join(lines),
        "source": source.replace("\n", " "),
        "run_dir": shlex.quote(str(run_dir)),
        "max_requeues": cfg.max_requeues,
        "max_crash_requeues": cfg.max_crash_requeues,
        "exit_requeue": EXIT_REQUEUE,
        "exit_hang": EXIT_HANG,
        "exit_final": " ".join(str(code) for code in EXIT_FINAL),
        "exit_final_meaning": "; ".join(f"{code} {why}" for code, why in EXIT_FINAL.items()),
        "node_fault_exits": " ".join(str(code) for code in NODE_FAULT_EXITS),
        "node_fault_meaning": ", ".join(f"{code} {why}" for code, why in NODE_FAULT_EXITS.items()),
        "exclude_failed_nodes": int(cfg.exclude_failed_nodes),
        "env_exports": "\n".join(filter(None, [cfg.env_exports()] + [f"export {k}={shlex.quote(v)}" for k, v in
                                                                      cfg.network.exports().items()])),
        "srun_options": " ".join(shlex.quote(option) for option in srun_options),
        "python": " ".join(shlex.quote(word) for word in cfg.container.command_prefix() + [cfg.python_command()]),
        "train_config": shlex.quote(str(train_yaml)),
    })
    files = {train_yaml: dump_yaml(train), run_dir / "slurm" / "submit.yaml": dump_yaml(cfg)}
    return PreparedJob(script, run_dir / "slurm" / "job.sbatch", files, run_dir / "logs", train)


def sbatch(script_path: Path, args: list[str] | None = None, env: dict[str, str] | None = None) -> str:
    """Queue a script with `sbatch --parsable`; returns the job id."""
    cmd = ["sbatch", "--parsable", *(args or []), str(script_path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    except FileNotFoundError:
        raise SubmitError("sbatch not found: run this on a Slurm login node") from None
    if done.returncode != 0:
        raise SubmitError(f"sbatch {script_path} failed: {done.stderr.strip()}")
    return done.stdout.strip().split(";")[0]


def submit_prepared(job: PreparedJob, args: list[str] | None = None, env: dict[str, str] | None = None) -> str:
    """Write the job's files atomically, then queue its script."""
    for path, text in job.files.items():
        write_text(path, text)
    write_text(job.script_path, job.script)
    job.log_dir.mkdir(parents=True, exist_ok=True)
    return sbatch(job.script_path, args, env)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit", help="render the pretraining sbatch script and queue it",
        description="Render slurm/train.sbatch.tmpl from a Slurm YAML (configs/slurm/) and submit it with "
                    "sbatch; the job checkpoints and requeues itself before its time limit.")
    parser.add_argument("--config", required=True, help="Slurm job YAML, e.g. configs/slurm/cpu_2node.yaml")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides of the Slurm YAML")
    parser.add_argument("-t", "--train-override", action="append", default=[], metavar="KEY=VALUE",
                        help="override of the training config, e.g. -t train.steps=100 (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="print the script, write and submit nothing")
    parser.set_defaults(func=run_submit)


GONE_STATES = {"", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "BOOT_FAIL", "DEADLINE", "NODE_FAIL",
               "OUT_OF_MEMORY", "PREEMPTED"}


def job_state(job_id: str) -> str:
    """The job's state per squeue ("" once Slurm has forgotten it)."""
    try:
        done = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise SubmitError("squeue not found: run this on a Slurm login node") from None
    return done.stdout.strip() if done.returncode == 0 else ""


def lock_holder(run_dir: Path) -> tuple[str, str] | None:
    """(job id, state) of the queued or running job that holds the run directory, or None; a lock
    whose job is gone is stale (the next job takes it over)."""
    try:
        holder = (run_dir / "slurm" / "lock").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    state = job_state(holder) if holder else ""
    return (holder, state) if state not in GONE_STATES else None


def preflight(cfg: SlurmConfig, job: PreparedJob, data_ready: bool = True) -> None:
    """What would otherwise fail inside the job, after its queue wait: the parallel layout against
    the allocation, the packed data, the run directory's lock, and Slurm's own verdict on partition,
    limits and node count (`sbatch --test-only`). Writes nothing; raises ConfigError. data_ready=False:
    the packed data comes from an earlier job of the same chain."""
    from pipeline.parallel.layout import check_layout

    train = job.train
    world = cfg.nodes * max(cfg.gpus_per_node, 1)
    try:
        check_layout(train.parallel, train.model, world)
    except ConfigError as exc:
        raise ConfigError(f"{cfg.nodes} node(s) x {max(cfg.gpus_per_node, 1)} rank(s) = {world} ranks: {exc}") from None
    packed = Path(train.data.packed_dir)
    packed = packed if packed.is_absolute() else cfg.resolved_workdir() / packed
    if data_ready and not (packed / "manifest.json").is_file():     # else an earlier job of the chain packs it
        raise ConfigError(f"data.packed_dir {packed} has no manifest.json (not visible from this host, or not "
                          f"packed yet: run `dataprep pack` first)")
    held = lock_holder(job.script_path.parent.parent)
    if held:
        raise ConfigError(f"run directory {job.script_path.parent.parent} is held by job {held[0]} ({held[1]}): "
                          f"wait for it, `scancel {held[0]}`, or choose another run.dir")
    try:
        done = subprocess.run(["sbatch", "--test-only", "--parsable"], input=job.script, capture_output=True,
                              text=True, timeout=120)
    except FileNotFoundError:
        raise SubmitError("sbatch not found: run this on a Slurm login node") from None
    if done.returncode != 0:
        reason = " ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
        raise ConfigError(f"Slurm refuses this job (sbatch --test-only): {reason}")


def run_submit(args: argparse.Namespace) -> int:
    cfg = load_config(SlurmConfig, args.config, args.overrides)
    job = prepare_training(cfg, args.config, args.train_override)
    if args.dry_run:
        sys.stdout.write(job.script)
        return 0
    from common.wandb_log import wandb_run_id

    try:
        preflight(cfg, job)                 # nothing is written before these pass
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    run_dir = job.script_path.parent.parent
    (run_dir / "slurm" / "consecutive_crashes").unlink(missing_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    run_id = wandb_run_id(run_dir)          # made now, so it can be printed; every run reuses it
    try:
        job_id = submit_prepared(job)
    except SubmitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_text(run_dir / "slurm" / "lock", job_id + "\n")    # the job checks it holds it when it starts
    print(f"submitted job {job_id}")
    print(f"  script       {job.script_path}")
    print(f"  slurm log    {job.log_dir}/slurm-{job_id}.out (all runs, appended)")
    print(f"  run logs     {job.log_dir}/restart-{job_id}-<N>.log (one per requeue)")
    print(f"  checkpoints  {run_dir}/checkpoints")
    print(f"  W&B          run id {run_id} (in {run_dir}/wandb_run_id), files in {run_dir}/wandb")
    return 0
