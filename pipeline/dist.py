"""Process-group setup from the launcher's environment (Slurm, torchrun, or none).

Contract with the launchers: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. When none
are set this is a single process and we fill them in, so DeepSpeed never tries MPI discovery.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Callable, TypeVar

import torch

T = TypeVar("T")

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# DeepSpeed compiles its shared-memory comm op on every CPU init_distributed (~31 s cold); one cache
# dir beside the venv makes every later run load it in ~1 s. Overridable from the environment.
DEFAULT_EXTENSIONS_DIR = Path(__file__).resolve().parent.parent / ".venv" / "torch_extensions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill_env() -> None:
    """Make a launcher-less run a valid world of one; a partial set is a launcher bug we report."""
    present = [name for name in ENV_VARS if name in os.environ]
    if present and len(present) != len(ENV_VARS):
        missing = [name for name in ENV_VARS if name not in os.environ]
        raise RuntimeError(f"distributed environment incomplete: {', '.join(missing)} unset "
                           f"while {', '.join(present)} are set")
    if not present:
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(free_port()))
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(DEFAULT_EXTENSIONS_DIR))
    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def init(timeout_s: int = 1800) -> None:
    """Join the process group: nccl on GPU, gloo on CPU; every collective gives up after timeout_s."""
    fill_env()
    import datetime

    import deepspeed  # late: importing it reads DS_ACCELERATOR

    if torch.cuda.is_available():
        torch.cuda.set_device(device())
    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo",
                               timeout=datetime.timedelta(seconds=timeout_s))


def rank() -> int:
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0


def world_size() -> int:
    return torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1


def barrier() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


def any_rank(flag: bool) -> bool:
    """True on every rank when it is True on at least one (so all ranks take the same branch)."""
    if not torch.distributed.is_initialized():
        return flag
    tensor = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device())
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
    return bool(tensor.item())


def shared_map(items: list[str], fn: Callable[[str], T]) -> dict[str, T]:
    """fn over rank 0's `items`, dealt round-robin to the ranks (e.g. hashing a checkpoint's files
    in parallel); every rank gets every result."""
    if not torch.distributed.is_initialized():
        return {item: fn(item) for item in items}
    shared = [items]
    torch.distributed.broadcast_object_list(shared, src=0)
    mine = {item: fn(item) for item in shared[0][rank()::world_size()]}
    parts: list[dict[str, T] | None] = [None] * world_size()
    torch.distributed.all_gather_object(parts, mine)
    return {item: value for part in parts for item, value in (part or {}).items()}


def shutdown() -> None:
    """Leave the group cleanly; without it gloo workers sometimes abort at interpreter exit."""
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
