"""Data preparation: raw Chinese + English text -> clean, deduplicated corpus -> packed tokens."""
