"""Pipeline stages: the decoder as a DeepSpeed `PipelineModule` (trained by `engines/pipeline_parallel.py`).

Layer list (global indices; DeepSpeed names each stage's parameters by them):

    0          TokenEmbedding            (TiedLayerSpec "embed" when model.tie_embeddings)
    1 .. L     StageBlock x L            (the model's own block; TensorParallelStageBlock when tp > 1)
    L + 1      FinalNorm
    L + 2      OutputHead                (or the tied "embed" module used as the head)

With document masking (`data.document_mask`) the first stage is fed (tokens, positions) and every
layer up to the final norm passes (hidden, positions) on: the int64 positions cross stage
boundaries beside the activations (DeepSpeed sends no gradient for integer tensors), and each block
looks its rotary rows up in one `Rotary` table per stage and builds the document mask from them.

Stages are cut by counting blocks (`partition_method="type:<block class>"`), so the
embedding rides with the first blocks and norm + head with the last ones. With tied embeddings
DeepSpeed keeps one copy on the first and on the last stage and all-reduces their gradients.
With tp > 1 every stage's blocks are sharded over the tensor group by our Megatron-style layers
(`tensor.TensorParallelBlock`; AutoTP cannot run inside a pipeline); embedding and head stay
replicated, as under AutoTP.

Every stage builds only its own layers (LayerSpec) and then copies their weights from a full
state dict with our parameter names (`consolidate.load_shards`, the same scatter that gives a run
under a new layout its consolidated Adam moments).
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.config import ModelConfig, TrainConfig
from pipeline.model import RMSNorm, Rotary, TransformerBlock, cross_entropy, document_mask, use_flex
from pipeline.parallel.layout import ProcessGroups
from pipeline.parallel.tensor import TensorParallelBlock


Activations = torch.Tensor | tuple[torch.Tensor, torch.Tensor]    # hidden, or (hidden, positions)


class TokenEmbedding(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)

    def forward(self, inputs: Activations) -> Activations:
        if isinstance(inputs, tuple):
            tokens, positions = inputs
            return self.tok_embeddings(tokens), positions
        return self.tok_embeddings(inputs)


class _StageInputs:
    """A transformer block as a pipeline layer: one argument in, one out (hidden, or (hidden,
    positions) under document masking), rotary rows from the stage's shared table."""

    rotary: Rotary

    def forward(self, inputs: Activations) -> Activations:
        h, positions = inputs if isinstance(inputs, tuple) else (inputs, None)
        cos, sin = self.rotary(h.shape[1], positions)
        mask = None if positions is None else document_mask(positions, flex=use_flex(positions))
        out = TransformerBlock.forward(self, h, cos, sin, mask)
        return out if positions is None else (out, positions)


class StageBlock(_StageInputs, TransformerBlock):
    def __init__(self, cfg: ModelConfig, rotary: Rotary):
        TransformerBlock.__init__(self, cfg)
        self.rotary = rotary


class TensorParallelStageBlock(_StageInputs, TensorParallelBlock):
    def __init__(self, cfg: ModelConfig, rotary: Rotary, group, rank: int, size: int):
        TensorParallelBlock.__init__(self, cfg, group, rank, size)
        self.rotary = rotary


class FinalNorm(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)

    def forward(self, inputs: Activations) -> torch.Tensor:
        return self.norm(inputs[0] if isinstance(inputs, tuple) else inputs)


class OutputHead(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.output(h)


def tied_logits(embedding: TokenEmbedding, h: torch.Tensor) -> torch.Tensor:
    """The last stage's head when input and output embeddings are one matrix."""
    return F.linear(h, embedding.tok_embeddings.weight)


def pipeline_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return cross_entropy(logits, targets)


def build_pipeline_module(cfg: TrainConfig, groups: ProcessGroups):
    from deepspeed.pipe import LayerSpec, PipelineModule, TiedLayerSpec
    from deepspeed.runtime.activation_checkpointing.checkpointing import non_reentrant_checkpoint
    from deepspeed.runtime.pipe.topology import PipeModelDataParallelTopology

    model, topology = cfg.model, groups.topology
    rotary = Rotary(model)           # one table, shared by this stage's blocks
    if topology.tp > 1:
        block = LayerSpec(TensorParallelStageBlock, model, rotary, groups.get_tensor_model_parallel_group(),
                          groups.get_tensor_model_parallel_rank(), topology.tp)
    else:
        block = LayerSpec(StageBlock, model, rotary)
    block_type = block.typename.__name__
    if model.tie_embeddings:
        first = TiedLayerSpec("embed", TokenEmbedding, model, tied_weight_attr="tok_embeddings.weight")
        last = TiedLayerSpec("embed", TokenEmbedding, model, forward_fn=tied_logits,
                             tied_weight_attr="tok_embeddings.weight")
    else:
        first, last = LayerSpec(TokenEmbedding, model), LayerSpec(OutputHead, model)
    layers = [first, *(block for _ in range(model.n_layers)), LayerSpec(FinalNorm, model), last]
    checkpointing = cfg.parallel.activation_checkpointing
    return PipelineModule(
        layers=layers, loss_fn=pipeline_loss, partition_method=f"type:{block_type}",
        topology=PipeModelDataParallelTopology(num_pp=topology.pp, num_mp=topology.tp, num_dp=topology.dp),
        activation_checkpoint_interval=1 if checkpointing else 0,
        checkpointable_layers=[block_type],
        # The non-reentrant variant: the reentrant one drops gradients of a checkpointed segment whose
        # inputs do not require grad, and pipeline stages can only use ZeRO <= 1, where it works.
        activation_checkpoint_func=non_reentrant_checkpoint)


def model_name(pipe_name: str, n_layers: int) -> str:
    """A PipelineModule parameter name -> our `Transformer` name ("3.attention.wq.weight" -> "layers.2...")."""
    if pipe_name.startswith("tied_modules.embed."):
        return pipe_name.removeprefix("tied_modules.embed.")
    match = re.match(r"^(\d+)\.(.*)$", pipe_name)
    if match is None:
        raise ValueError(f"unexpected pipeline parameter name {pipe_name!r}")
    index, rest = int(match.group(1)), match.group(2)
    return f"layers.{index - 1}.{rest}" if 1 <= index <= n_layers else rest

