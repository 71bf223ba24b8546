"""Launching on Slurm: sbatch rendering and submission, and a two-node test cluster."""
