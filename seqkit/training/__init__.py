"""How a run goes: ``train`` builds and fits a composed config; the loop, its state, optimizers and faults.

from seqkit.training import train
summary = train(config, registry, run_dir)
"""

from seqkit.training.faults import TrainingStopped
from seqkit.training.loop import Loop
from seqkit.training.run import train

__all__ = ["Loop", "TrainingStopped", "train"]
