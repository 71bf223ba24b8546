"""W&B for every command: one mode rule, a run id kept beside the outputs, runs opened (and
resumed) one way, and offline run files read back.

Training logs each step (pipeline/metrics.py); the data commands log the counts of a finished
run (dataprep/tracking.py). No API key passes through here: W&B reads its own login (`wandb
login`, ~/.netrc) or WANDB_API_KEY, and nothing here writes either into a config or a log.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import netrc
import os
import secrets
import string
import struct
import time
from pathlib import Path
from typing import Any, Iterator, Literal

from common.atomic import write_text


@dataclasses.dataclass
class WandbConfig:
    project: str = "zhen-pretrain"
    # auto: online when this machine is logged in to W&B (WANDB_API_KEY or ~/.netrc), else offline.
    # The WANDB_MODE environment variable, when set, wins over this.
    mode: Literal["auto", "offline", "online", "disabled"] = "auto"
    entity: str | None = None
    name: str | None = None


def wandb_run_id(run_dir: Path) -> str:
    """The W&B run id of a run directory: made once and kept in <run_dir>/wandb_run_id, so every
    restart (a requeue, a rerun) continues the same W&B run."""
    path = run_dir / "wandb_run_id"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    run_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
    write_text(path, run_id + "\n")
    return run_id


def wandb_mode(configured: str) -> str:
    """WANDB_MODE wins; "auto" means online only where a W&B login exists (offline files otherwise)."""
    mode = os.environ.get("WANDB_MODE") or configured
    if mode != "auto":
        return mode
    logged_in = bool(os.environ.get("WANDB_API_KEY"))
    if not logged_in:
        with contextlib.suppress(OSError, netrc.NetrcParseError):
            logged_in = netrc.netrc().authenticators("api.wandb.ai") is not None
    return "online" if logged_in else "offline"


def open_run(cfg: WandbConfig, run_dir: Path, run_id: str, mode: str, config: dict[str, Any],
             job_type: str | None = None, attempts: int = 24, wait_s: float = 5.0):
    """The W&B run `run_id`, files under <run_dir>/wandb, resumed when it exists. A run that ended
    abruptly (the watchdog's exit, a kill) can leave its W&B service process holding the id for a
    while on the same node ("run ID ... is in use"); this waits for it rather than failing."""
    import wandb

    for attempt in range(attempts):
        try:
            return wandb.init(
                project=cfg.project, entity=cfg.entity, name=cfg.name or run_dir.name, job_type=job_type,
                id=run_id, resume="allow", dir=str(run_dir), mode=mode, config=config,
                reinit="finish_previous",          # a run left open in this process must not receive these values
                settings=wandb.Settings(quiet=True, console="off"))
        except Exception as exc:               # W&B raises its own ServerResponseError
            if "is in use" not in str(exc) or attempt == attempts - 1:
                raise
            print(f"W&B run {run_id} is still held by the previous run's W&B process; retrying in "
                  f"{wait_s:.0f} s", flush=True)
            time.sleep(wait_s)


def wandb_records(path: Path) -> Iterator[Any]:
    """Records of an offline `.wandb` file, parsed with W&B's own protobuf schema; stops at the first
    record a killed writer left incomplete.

    The file is a LevelDB-style log: 7-byte header (":W&B", magic 0xBEE1, version), then 32 KiB
    blocks of chunks (crc32 u32, length u16, type u8: 1 full, 2 first, 3 middle, 4 last).
    """
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        return
    pos, block, buf = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 or pos + 7 + length > len(data):
            return
        buf += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            try:
                record.ParseFromString(buf)
            except DecodeError:
                return
            buf = b""
            yield record


def offline_logs(run_dir: Path, run_id: str) -> list[Path]:
    """The offline `.wandb` files of run `run_id` under <run_dir>/wandb, oldest first."""
    return sorted((run_dir / "wandb").glob(f"offline-run-*-{run_id}*/run-{run_id}.wandb"))


def offline_summary(run_dir: Path, run_id: str) -> dict[str, Any]:
    """The summary values (decoded JSON) that the offline runs of `run_id` under run_dir recorded."""
    summary: dict[str, Any] = {}
    for log in offline_logs(run_dir, run_id):
        for record in wandb_records(log):
            if record.WhichOneof("record_type") == "summary":
                summary.update({(item.key or "/".join(item.nested_key)): json.loads(item.value_json)
                                for item in record.summary.update})
    return summary
