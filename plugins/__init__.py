"""The built-in plugins, installed as ``seqkit.plugins``; each registers through the public hooks."""
