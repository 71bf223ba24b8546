"""Pieces shared by `dataprep` and `pipeline`: typed YAML config loading and crash-safe writes."""
