"""Scoring a model on one split with its head's metrics, over every rank, leaving every random stream alone."""

from __future__ import annotations

from collections.abc import Callable

import torch

from seqkit.checkpoint import preserved_random_states
from seqkit.components import Dataset, Split
from seqkit.distributed import Ranks
from seqkit.model import SequenceModel
from seqkit.recurrent import StackState
from seqkit.runtime import Precision


@torch.no_grad()
def evaluate(
    model: SequenceModel,
    dataset: Dataset,
    split: Split,
    precision: Precision,
    ranks: Ranks,
    *,
    forward: Callable | None = None,
    max_batches: int | None = None,
) -> dict[str, float]:
    """The head's metrics of ``model`` on ``split`` (this rank's share, summed over all ranks).

    ``forward`` runs the model (a compiled wrapper, say; default: the model). A stateful dataset's
    streams carry their hidden state from batch to batch, so every token is scored once, in order.
    Dropout is off while scoring; the model's train/eval mode and the random streams are restored after.
    """
    forward = forward if forward is not None else model
    was_training = model.training
    model.eval()
    stateful = dataset.spec.stateful
    sums: dict[str, float] = {}
    state: StackState | None = None
    try:
        with preserved_random_states():
            for index, batch in enumerate(dataset.batches(split, shard=ranks.shard)):
                if max_batches is not None and index >= max_batches:
                    break
                if len(batch) == 0:
                    continue
                batch = batch.to(precision.device)
                with precision.autocast():
                    predictions, state = forward(batch.inputs, state if stateful else None, batch.context)
                for key, value in model.head.metric_sums(predictions, batch.targets).items():
                    sums[key] = sums.get(key, 0.0) + value
    finally:
        model.train(was_training)
    sums = ranks.sum_dicts(sums)
    if not sums:
        raise ValueError(f"the {split} split yields no batches; make it larger or the batch smaller")
    return model.head.metrics(sums)
