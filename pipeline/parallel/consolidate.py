"""Full fp32 weights and Adam state of a live tensor/pipeline/ZeRO-parallel engine under our
parameter names, and the way back into an engine of any other layout.

Why from the live engine and not from DeepSpeed's checkpoint files: DeepSpeed's offline
`zero_to_fp32` only reads model-parallel rank 0, so it cannot rebuild AutoTP shards or pipeline
stages. Here every rank reads its parameters' fp32 values through DeepSpeed's own accessors
(`safe_get_full_fp32_param` / `safe_get_full_optimizer_state` assemble ZeRO 1-3 partitions across
the data-parallel group; in bf16 runs they return the fp32 master, not the bf16 copy),
tensor-parallel shards are all-gathered along their split dimension, and the data-rank-0 /
tensor-rank-0 rank of every pipeline stage sends its stage to rank 0 tensor by tensor. Rank 0
holds one whole fp32 tensor set in host memory (4 bytes/parameter each). The result has exactly
the keys and shapes of `Transformer(cfg.model).state_dict()`.

One gather (`full_state_dict`) and one scatter (`load_shards`) serve the weights and Adam's two
moments alike; only the per-parameter reader/writer differs (`fp32_weight`, `adam_moment`,
`set_adam_moment`). The scatter gives each rank its pipeline stage's parameters and its
tensor-parallel slice (`shard_dim`, as the gather concatenated them); DeepSpeed's setters
partition them over the data-parallel group.

Collective: every rank must call `full_state_dict`, in the same program order.

Weights go back through `load_into_model` (into the plain model, before the engine shards it);
Adam's state through `load_adam_state` (into the built engine: moments and the step count that
its bias correction needs). Together with the trainer state that is a layout change that keeps
the optimizer state (`run.init_from`, docs/PARALLELISM.md); DeepSpeed's own checkpoints resume only
under the layout that wrote them.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from common.config import ConfigError
from pipeline.config import ModelConfig
from pipeline.model import Transformer
from pipeline.parallel.layout import ProcessGroups
from pipeline.parallel.stages import model_name
from pipeline.parallel.tensor import shard_dim

ADAM_KEYS = ("exp_avg", "exp_avg_sq")
Reader = Callable[[torch.nn.Parameter], torch.Tensor]
Writer = Callable[[torch.nn.Parameter, torch.Tensor], None]


def _deepspeed_managed(param: torch.nn.Parameter) -> bool:
    """Whether ZeRO 1-3 or DeepSpeed's bf16 optimizer keeps this parameter's fp32 state apart from it
    (without them, fp32 ZeRO-0, the parameter is the master and torch's optimizer holds its state)."""
    return hasattr(param, "ds_id") or hasattr(param, "_hp_mapping")


def fp32_weight(param: torch.nn.Parameter) -> torch.Tensor:
    from deepspeed.utils import safe_get_full_fp32_param

    return safe_get_full_fp32_param(param) if _deepspeed_managed(param) else param


def adam_moment(optimizer: torch.optim.Optimizer, key: str) -> Reader:
    """Reader of one Adam moment ("exp_avg" or "exp_avg_sq"); `optimizer` is DeepSpeed's
    `basic_optimizer`, the torch/fused Adam inside any ZeRO wrapper."""
    from deepspeed.utils import safe_get_full_optimizer_state

    def read(param: torch.nn.Parameter) -> torch.Tensor:
        return safe_get_full_optimizer_state(param, key) if _deepspeed_managed(param) else optimizer.state[param][key]
    return read


def set_adam_moment(optimizer: torch.optim.Optimizer, key: str) -> Writer:
    from deepspeed.utils import safe_set_full_optimizer_state

    def write(param: torch.nn.Parameter, value: torch.Tensor) -> None:
        if _deepspeed_managed(param):
            safe_set_full_optimizer_state(param, value, key)
        else:
            optimizer.state[param][key].copy_(value)
    return write


def our_parameters(module: torch.nn.Module, model_cfg: ModelConfig,
                   groups: ProcessGroups) -> list[tuple[str, torch.nn.Parameter]]:
    """This rank's parameters under our `Transformer` names (a pipeline stage's are renamed)."""
    pipeline = groups.topology.pp > 1
    return [(model_name(name, model_cfg.n_layers) if pipeline else name, param)
            for name, param in module.named_parameters()]


def full_state_dict(module: torch.nn.Module, model_cfg: ModelConfig, groups: ProcessGroups,
                    read: Reader = fp32_weight) -> dict[str, torch.Tensor] | None:
    """On global rank 0 the full fp32 tensors (CPU) that `read` gives per parameter: the weights by
    default, or an Adam moment (`adam_moment`); None on the other ranks. `read` must return the
    tensor-parallel shard's whole value and is collective over the data-parallel group."""
    topology = groups.topology
    sender = groups.data == 0 and groups.tensor == 0   # one rank per pipeline stage sends the stage
    local: dict[str, torch.Tensor] = {}
    for ours, param in our_parameters(module, model_cfg, groups):
        value = read(param).detach().float()
        dim = shard_dim(ours)
        if topology.tp > 1 and dim is not None:
            shards = [torch.empty_like(value) for _ in range(topology.tp)]
            torch.distributed.all_gather(shards, value.contiguous(), group=groups.get_tensor_model_parallel_group())
            value = torch.cat(shards, dim=dim)
        if sender:
            local[ours] = value.contiguous()
    merged = _gather_to_rank0(local, groups)
    return None if merged is None else _complete(merged, model_cfg)


def load_shards(module: torch.nn.Module, model_cfg: ModelConfig, groups: ProcessGroups,
                full: Callable[[str], torch.Tensor], write: Writer) -> None:
    """The inverse of `full_state_dict`: `write(param, this tensor rank's slice of full(our name))`
    for every parameter of this rank's module. Not collective."""
    tp, rank = groups.topology.tp, groups.get_tensor_model_parallel_rank()
    with torch.no_grad():
        for ours, param in our_parameters(module, model_cfg, groups):
            value, dim = full(ours), shard_dim(ours)
            write(param, value if tp == 1 or dim is None else value.chunk(tp, dim=dim)[rank])


def _gather_to_rank0(local: dict[str, torch.Tensor], groups: ProcessGroups) -> dict[str, torch.Tensor] | None:
    """Every rank's `local` tensors on rank 0, one tensor at a time: only the small name -> shape
    manifests are pickled, so a multi-GB stage never passes through one device buffer."""
    from pipeline.dist import device

    manifest = {name: tuple(tensor.shape) for name, tensor in local.items()}
    manifests = [None] * groups.topology.world_size if groups.global_rank == 0 else None
    torch.distributed.gather_object(manifest, manifests, dst=0)
    if groups.global_rank != 0:
        for name in sorted(local):
            torch.distributed.send(local[name], dst=0)
        return None
    merged = {name: tensor.cpu() for name, tensor in local.items()}
    for source, shapes in enumerate(manifests):
        for name in sorted(shapes) if source else ():
            buffer = torch.empty(shapes[name], dtype=torch.float32, device=device())
            torch.distributed.recv(buffer, src=source)
            merged[name] = buffer.cpu()
    return merged


def model_shapes(model_cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in `Transformer(model_cfg).state_dict()` (built on meta, no memory)."""
    with torch.device("meta"):
        return {name: tuple(t.shape) for name, t in Transformer(model_cfg).state_dict().items()}


def _complete(tensors: dict[str, torch.Tensor], model_cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Check names and shapes against the plain model; a tied head gets its own copy of the embedding's
    tensor (safetensors refuses two names for one storage)."""
    expected = model_shapes(model_cfg)
    if model_cfg.tie_embeddings and "output.weight" not in tensors:
        tensors["output.weight"] = tensors["tok_embeddings.weight"].clone()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = sorted(n for n in set(expected) & set(tensors) if tuple(tensors[n].shape) != expected[n])
    if missing or extra or wrong:
        raise RuntimeError(f"consolidation does not match the model: missing {missing}, unexpected {extra}, "
                           f"wrong shape {wrong}")
    return {name: tensors[name] for name in expected}


@contextlib.contextmanager
def open_checked(path: str | Path, expected: dict[str, tuple[int, ...]]) -> Iterator[Any]:
    """`path` (safetensors) opened lazily (`get_tensor` reads one tensor) once its names and shapes
    match `expected`; anything else is a one-sentence ConfigError naming the file and tensor."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: not found (expected a consolidated .safetensors file)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = set(handle.keys())
            for name, shape in expected.items():
                if name not in names:
                    raise ConfigError(f"{path}: tensor {name!r} is missing; was it written for another model config?")
                found = tuple(handle.get_slice(name).get_shape())
                if found != shape:
                    raise ConfigError(f"{path}: tensor {name!r} has shape {found}, the model config needs {shape}")
            extra = sorted(names - set(expected))
            if extra:
                raise ConfigError(f"{path}: unexpected tensor {extra[0]!r}; was it written for another model config?")
            yield handle
    except SafetensorError as exc:
        raise ConfigError(f"{path}: not a readable safetensors file ({exc})") from None


def load_into_model(model: Transformer, path: str | Path) -> None:
    """Copy a consolidated `model.safetensors` (written under any layout) into a plain model."""
    with open_checked(path, {name: tuple(t.shape) for name, t in model.state_dict().items()}) as handle:
        model.load_state_dict({name: handle.get_tensor(name) for name in handle.keys()})


# ---- Adam's state: moments under "<key>/<our name>", the step count in the file's metadata ----

def adam_names(model_cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The tensors of an `optimizer.safetensors`: each Adam key for every model tensor."""
    return {f"{key}/{name}": shape for key in ADAM_KEYS for name, shape in model_shapes(model_cfg).items()}


def ensure_adam_state(ds: Any) -> None:
    """Adam's state, there and linked to every parameter, before its moments are read or written.

    DeepSpeed's Adam optimizers create their state at the first step. Before one (a fresh engine
    about to load moments, or a save after only skipped steps) one step of zero gradients at lr 0
    creates zero moments and leaves every weight as it is; the step count goes back to 0.
    ZeRO 1-2 link each parameter to its slice of the state once, right after the FIRST group's first
    step, when the second group (norm gains) has no state yet: their moments then read "exp_avg not
    found in optimizer state fragment" (DeepSpeed 0.19.8). So the link is redone here, every time."""
    optimizer, wrapper = ds.basic_optimizer, ds.optimizer
    # ZeRO-3 hands its flat fp32 partitions to the optimizer one sub-group at a time (its param
    # groups are empty between steps); the others keep theirs in the param groups
    flats = getattr(wrapper, "fp32_partitioned_groups_flat", None)
    holders = flats if flats is not None else [p for group in optimizer.param_groups for p in group["params"]]
    if not all(optimizer.state.get(t) for t in holders):
        _zero_step(optimizer, holders, wrapper._optimizer_step if flats is not None else None)
    if hasattr(wrapper, "_hp_optimizer_states_linked"):       # ZeRO 1-2 and the bf16 optimizer
        wrapper._hp_optimizer_states_linked = False
        wrapper._lazy_init_hp_params_optimizer_state()


def _zero_step(optimizer: torch.optim.Optimizer, holders: list[torch.Tensor],
               sub_group_step: Callable[[int], None] | None) -> None:
    """One lr-0 step on zero gradients; `sub_group_step(i)`: ZeRO-3's step of its i-th sub-group."""
    lrs = [group["lr"] for group in optimizer.param_groups]
    grads = [t.grad for t in holders]       # ZeRO-3 with offload keeps persistent gradient buffers
    for group in optimizer.param_groups:
        group["lr"] = 0.0
    for t in holders:
        t.grad = torch.zeros_like(t)
    if sub_group_step is None:
        optimizer.step()
    else:
        for index in range(len(holders)):
            sub_group_step(index)
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    for t, grad in zip(holders, grads):
        t.grad = grad
    set_adam_step(optimizer, 0)


def adam_step(optimizer: torch.optim.Optimizer) -> int:
    """The optimizer's own step count (steps it applied: skipped ones do not count), for bias correction."""
    steps = {int(state["step"]) for state in optimizer.state.values() if "step" in state}
    if len(steps) != 1:
        raise RuntimeError(f"Adam's parameter groups disagree on the step count: {sorted(steps)}")
    return steps.pop()


def set_adam_step(optimizer: torch.optim.Optimizer, step: int) -> None:
    for state in optimizer.state.values():
        if torch.is_tensor(state.get("step")):      # torch's Adam: a tensor; DeepSpeed's fused Adam: an int
            state["step"].fill_(step)
        elif "step" in state:
            state["step"] = step


def full_adam_state(ds: Any, model_cfg: ModelConfig,
                    groups: ProcessGroups) -> tuple[dict[str, torch.Tensor], int] | None:
    """Collective. On rank 0 ({"<key>/<our name>": full fp32 moment}, Adam's step count); None elsewhere.
    `ds`: the DeepSpeed engine."""
    ensure_adam_state(ds)
    optimizer = ds.basic_optimizer
    moments: dict[str, torch.Tensor] = {}
    for key in ADAM_KEYS:
        full = full_state_dict(ds.module, model_cfg, groups, adam_moment(optimizer, key))
        moments.update({f"{key}/{name}": value for name, value in (full or {}).items()})
    return (moments, adam_step(optimizer)) if groups.global_rank == 0 else None


def load_adam_state(ds: Any, model_cfg: ModelConfig, groups: ProcessGroups, path: str | Path) -> int:
    """Set the engine's Adam moments and step count from an `optimizer.safetensors` written under any
    layout; each rank reads only the tensors its parameters need, one at a time. Returns the step count."""
    ensure_adam_state(ds)
    optimizer = ds.basic_optimizer
    with open_checked(path, adam_names(model_cfg)) as handle:
        step = (handle.metadata() or {}).get("adam_step", "")
        if not step.isdigit():
            raise ConfigError(f"{path}: no adam_step (Adam's step count) in its metadata; was it written by "
                              f"the trainer (checkpoint.reshardable)?")
        for key in ADAM_KEYS:
            load_shards(ds.module, model_cfg, groups, lambda name: handle.get_tensor(f"{key}/{name}"),
                        set_adam_moment(optimizer, key))
    set_adam_step(optimizer, int(step))
    return int(step)
