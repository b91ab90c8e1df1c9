"""Hydra configuration shipped with seqkit, installed as ``seqkit.conf``."""
