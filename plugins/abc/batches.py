"""The ``abc`` dataset's text as model input: a character vocabulary and batches of parallel streams.

Training cuts one text into ``batch_size`` contiguous streams (:func:`stream_batches`); evaluation by
whole tunes packs each tune into a stream from its first character (:func:`tune_stream_batches`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import torch

from seqkit.components import PADDING_TARGET, Batch, Vocabulary
from seqkit.plugins.abc.notation import Tune


def join_tunes(tunes: list[Tune]) -> str:
    """One text of the tunes, each followed by a blank line, so every tune starts with its ``X:`` line."""
    return "".join(tune.text + "\n" for tune in tunes)


def build_vocabulary(text: str) -> Vocabulary:
    """Characters of ``text`` by frequency (most frequent first), ties by character; index 0 is unknown."""
    counts = Counter(text)
    return Vocabulary(sorted(counts, key=lambda symbol: (-counts[symbol], symbol)))


def stream_batches(
    ids: torch.Tensor,
    batch_size: int,
    seq_length: int,
    shard: tuple[int, int] = (0, 1),
    keep_partial: bool = False,
    context: torch.Tensor | None = None,
) -> Iterator[Batch]:
    """Cut ``ids`` into ``batch_size`` contiguous streams and yield ``seq_length`` steps of each at a time.

    Targets are the inputs shifted by one. With ``shard=(rank, world)`` only streams ``rank::world``
    are yielded. ``keep_partial`` also yields the shorter last batch (so evaluation sees every character).
    ``context`` (one class per id) is cut like the inputs.
    """
    rank, world = shard
    if world < 1 or not 0 <= rank < world or batch_size % world:
        raise ValueError(
            f"cannot shard dataset.batch_size={batch_size} streams as rank {rank} of {world} processes: "
            "batch_size must be divisible by the number of processes"
        )
    per_stream = max(len(ids) - 1, 0) // batch_size
    inputs = ids[: batch_size * per_stream].view(batch_size, per_stream)[rank::world]
    targets = ids[1 : batch_size * per_stream + 1].view(batch_size, per_stream)[rank::world]
    contexts = None if context is None else context[: batch_size * per_stream].view(batch_size, per_stream)[rank::world]
    starts = range(0, count_batches(len(ids), batch_size, seq_length, keep_partial) * seq_length, seq_length)
    # A generator expression, so a bad shard fails here and not at the first batch.
    return (_window(inputs, targets, contexts, start, seq_length) for start in starts)


def _window(
    inputs: torch.Tensor, targets: torch.Tensor, contexts: torch.Tensor | None, start: int, length: int
) -> Batch:
    """Steps ``start`` to ``start + length`` of every stream."""
    window = slice(start, start + length)
    context = None if contexts is None else contexts[:, window].contiguous()
    return Batch(inputs[:, window].contiguous(), targets[:, window].contiguous(), context)


def count_batches(length: int, batch_size: int, seq_length: int, keep_partial: bool) -> int:
    """How many batches ``stream_batches`` yields from ``length`` ids."""
    per_stream = max(length - 1, 0) // batch_size
    full, rest = divmod(per_stream, seq_length)
    return full + (1 if keep_partial and rest else 0)


def pack_streams(lengths: list[int], streams: int) -> list[list[int]]:
    """Indices of the items of ``lengths`` for each of ``streams`` streams, in order within a stream.

    Longest first onto the shortest stream, so the streams end close together and little is padding.
    """
    loads = [0] * min(streams, len(lengths))
    packed: list[list[int]] = [[] for _ in loads]
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        shortest = loads.index(min(loads))
        packed[shortest].append(index)
        loads[shortest] += lengths[index]
    return [sorted(stream) for stream in packed]


def count_tune_batches(lengths: list[int], streams: int, seq_length: int) -> int:
    """How many batches ``tune_stream_batches`` yields for tunes of these lengths (unsharded)."""
    longest = max((sum(lengths[i] for i in stream) for stream in pack_streams(lengths, streams)), default=1)
    return -(-(longest - 1) // seq_length)


def tune_stream_batches(
    tunes: list[torch.Tensor],
    streams: int,
    seq_length: int,
    shard: tuple[int, int] = (0, 1),
    contexts: list[torch.Tensor] | None = None,
) -> Iterator[Batch]:
    """Batches that read whole tunes: each stream holds whole tunes, the first from its first character.

    Streams shorter than the longest are padded: inputs with 0, targets with ``PADDING_TARGET``, which
    score nothing. With ``shard=(rank, world)`` only streams ``rank::world`` are yielded (a rank may
    get none); every character is still scored by exactly one rank. ``contexts`` (one tensor of
    classes per tune) are laid out like the inputs.
    """
    rank, world = shard
    packed = pack_streams([len(tune) for tune in tunes], streams)
    rows = [torch.cat([tunes[i] for i in stream]) for stream in packed]
    # The width of all streams, so a shard's batches are exactly its rows of the unsharded batches.
    width = max((len(row) - 1 for row in rows), default=0)
    rows = rows[rank::world]
    inputs = torch.zeros(len(rows), width, dtype=torch.long)
    targets = torch.full((len(rows), width), PADDING_TARGET, dtype=torch.long)
    for row, ids in enumerate(rows):
        inputs[row, : len(ids) - 1] = ids[:-1]
        targets[row, : len(ids) - 1] = ids[1:]
    context = None
    if contexts is not None:
        context = torch.zeros(len(rows), width, dtype=torch.long)
        for row, stream in enumerate(packed[rank::world]):
            classes = torch.cat([contexts[i] for i in stream])
            context[row, : len(classes) - 1] = classes[:-1]
    return (_window(inputs, targets, context, start, seq_length) for start in range(0, width, seq_length))


def joined(pieces: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.long)
