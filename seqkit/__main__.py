"""``python -m seqkit`` runs the same command line as ``seqkit``."""

from seqkit.cli import main

if __name__ == "__main__":
    main()
