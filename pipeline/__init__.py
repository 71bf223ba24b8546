"""Pretraining: a Llama-style decoder trained with DeepSpeed ZeRO and model parallelism."""
