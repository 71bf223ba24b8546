"""Full fp32 weights of a live tensor/pipeline/ZeRO-parallel engine, under our parameter names.

Why from the live engine and not from DeepSpeed's checkpoint files: DeepSpeed's offline
`zero_to_fp32` only reads model-parallel rank 0, so it cannot rebuild AutoTP shards or pipeline
stages. Here every rank reads its parameters' fp32 master values (`safe_get_full_fp32_param`
assembles ZeRO 1-3 partitions across the data-parallel group, and in bf16 runs returns the
fp32 master, not the bf16 copy), tensor-parallel shards are all-gathered along their split
dimension, and the data-rank-0 / tensor-rank-0 rank of every pipeline stage sends its stage to
rank 0 tensor by tensor. Rank 0 holds the whole fp32 model in host memory (4 bytes/parameter).
The result has exactly the keys and shapes of `Transformer(cfg.model).state_dict()`.

Collective: every rank must call `full_state_dict`, in the same program order.

`load_into_model` is the way back, and how a run changes layout: a new run under any tp/pp/dp
layout starts from a `model.safetensors` (optimizer moments start fresh). DeepSpeed's own
checkpoints resume only under the layout that wrote them.
"""
from __future__ import annotations

from pathlib import Path

import torch

from common.config import ConfigError
from pipeline.config import ModelConfig
from pipeline.model import Transformer
from pipeline.parallel.layout import ProcessGroups
from pipeline.parallel.stages import model_name
from pipeline.parallel.tensor import shard_dim


def _fp32_value(param: torch.nn.Parameter) -> torch.Tensor:
    from deepspeed.utils import safe_get_full_fp32_param

    value = safe_get_full_fp32_param(param)   # None without a ZeRO/bf16 optimizer: the param is the master
    return (param if value is None else value).detach().float()


def full_state_dict(module: torch.nn.Module, model_cfg: ModelConfig,
                    groups: ProcessGroups) -> dict[str, torch.Tensor] | None:
    """On global rank 0 the full fp32 state dict (CPU tensors); None on the other ranks."""
    topology = groups.topology
    sender = groups.data == 0 and groups.tensor == 0   # one rank per pipeline stage sends the stage
    local: dict[str, torch.Tensor] = {}
    for name, param in module.named_parameters():
        ours = model_name(name, model_cfg.n_layers) if topology.pp > 1 else name
        value = _fp32_value(param)                        # collective over the data-parallel group
        dim = shard_dim(ours)
        if topology.tp > 1 and dim is not None:
            shards = [torch.empty_like(value) for _ in range(topology.tp)]
            torch.distributed.all_gather(shards, value.contiguous(), group=groups.get_tensor_model_parallel_group())
            value = torch.cat(shards, dim=dim)
        if sender:
            local[ours] = value.contiguous()
    merged = _gather_to_rank0(local, groups)
    return None if merged is None else _complete(merged, model_cfg)


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


def _complete(weights: dict[str, torch.Tensor], model_cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Check names and shapes against the plain model; a tied head gets its own copy of the embedding
    (safetensors refuses two names for one storage)."""
    with torch.device("meta"):
        expected = {name: tuple(t.shape) for name, t in Transformer(model_cfg).state_dict().items()}
    if model_cfg.tie_embeddings and "output.weight" not in weights:
        weights["output.weight"] = weights["tok_embeddings.weight"].clone()
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    wrong = sorted(n for n in set(expected) & set(weights) if tuple(weights[n].shape) != expected[n])
    if missing or extra or wrong:
        raise RuntimeError(f"consolidation does not match the model: missing {missing}, unexpected {extra}, "
                           f"wrong shape {wrong}")
    return {name: weights[name] for name in expected}


def load_into_model(model: Transformer, path: str | Path) -> None:
    """Copy a consolidated `model.safetensors` (written under any layout) into a plain model."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: consolidated weights not found (expected a model.safetensors)")
    try:
        weights = load_file(path)
    except SafetensorError as exc:
        raise ConfigError(f"{path}: not a readable safetensors file ({exc})") from None
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in weights:
            raise ConfigError(f"{path}: parameter {name!r} is missing; was it written for another model config?")
        if weights[name].shape != tensor.shape:
            raise ConfigError(f"{path}: parameter {name!r} has shape {tuple(weights[name].shape)}, the model "
                              f"config needs {tuple(tensor.shape)}")
    extra = sorted(set(weights) - set(expected))
    if extra:
        raise ConfigError(f"{path}: unexpected parameter {extra[0]!r}; was it written for another model config?")
    model.load_state_dict(weights)
