"""Parallelism applied to the plain `Transformer` by separate functions, no training loop here.

`layout.py` checks a tp x pp x dp layout and builds the process groups, `tensor.py` the AutoTP
rules and our sharded block, `stages.py` the PipelineModule, `consolidate.py` the full fp32 weights
of a sharded model. The engines that train with them live in `pipeline/engines/`.
"""
