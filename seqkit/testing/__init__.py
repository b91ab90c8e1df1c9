"""Contract checks for plugin authors: test a cell, dataset, head, sampler or preset in a few lines.

    from seqkit.testing import check_cell, check_dataset
    check_cell(MGUCell, MGUConfig(hidden_size=8), input_size=3)
    check_dataset(NoisySine(NoisySineConfig(waves=8, length=40)))

Each check is a plain function that raises ``AssertionError`` naming the component, what is wrong and
how to put it right, and returns what it built for further assertions. They run on the CPU, leave the
global random state as they found it, and take well under a second on small configs.
``run_tiny_experiment`` composes a preset with Hydra, as ``seqkit`` would, and trains it for a few steps.

One module per kind of component: ``cell``, ``dataset``, ``head``, ``sampler`` and ``presets``; import
from ``seqkit.testing`` itself, which is the stable API.
"""

from seqkit.testing.cell import check_cell
from seqkit.testing.dataset import check_dataset
from seqkit.testing.head import check_head
from seqkit.testing.presets import compose_config, run_tiny_experiment
from seqkit.testing.sampler import check_sampler, tiny_token_model

__all__ = [
    "check_cell",
    "check_dataset",
    "check_head",
    "check_sampler",
    "compose_config",
    "run_tiny_experiment",
    "tiny_token_model",
]
