"""Training engines: one optimizer step behind the `TrainEngine` protocol (`base.py`), so the loop in
`pipeline/train.py` is the same for every layout. `factory.build_engine` picks `ZeroEngine` (data
parallel + ZeRO, AutoTP when tp > 1) or `PipelineParallelEngine` (pp > 1, our sharded blocks when
also tp > 1); both share `base.DeepSpeedBase`.
"""
