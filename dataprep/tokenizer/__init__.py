"""Sentencepiece tokenizer for Chinese + English: config, training, evaluation, Hugging Face export."""
