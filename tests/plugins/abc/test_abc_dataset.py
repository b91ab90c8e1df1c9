"""The ``abc`` dataset: splits by tune, near-duplicates, vocabulary, stream batches, resampling."""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path

import pytest
import torch

from seqkit.components import PADDING_TARGET, Vocabulary
from seqkit.plugins.abc import build_abc_dataset
from seqkit.plugins.abc.bar_clock import CLASSES, bar_clock_classes
from seqkit.plugins.abc.batches import (
    build_vocabulary,
    count_tune_batches,
    pack_streams,
    stream_batches,
    tune_stream_batches,
)
from seqkit.plugins.abc.config import AbcConfig
from seqkit.plugins.abc.corpus import (
    GOLDBERG_URL,
    fixed_split,
    load_tunes,
    near_duplicate_groups,
    random_split,
    shared_ngram_fractions,
)
from seqkit.plugins.abc.dataset import AbcDataset
from seqkit.plugins.abc.notation import AbcReadError, read_tunes
from seqkit.testing import check_dataset


def shared_data() -> Path:
    """The shared data copies: ``$SEQKIT_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("SEQKIT_DATA") or Path(__file__).resolve().parents[3] / ".." / "shared" / "data")


needs_goldberg = pytest.mark.skipif(
    not (shared_data() / "goldberg").is_dir(), reason="shared Goldberg ABC files not present"
)


def melody(seed: int, bars: int = 16) -> str:
    """A made-up line of music, different for every seed."""
    rng = random.Random(seed)
    return "|".join("".join(rng.choice("ABCDEFGabcdefg") for _ in range(8)) for _ in range(bars)) + "|]"


def near_copy(body: str) -> str:
    """``body`` with its first two bars rewritten."""
    bars = body.split("|")
    return "|".join(["CCCCCCCC", "DDDDDDDD", *bars[2:]])


def write_tune(folder: Path, stem: str, body: str, title: str | None = None) -> None:
    text = f"X:1\nT:{title or stem}\nM:4/4\nL:1/8\nK:C\n{body}\n"
    (folder / f"{stem}.abc").write_text(text, encoding="utf-8")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Ten tunes, two of which (``original``, ``copy``) are near-duplicates."""
    for i in range(8):
        write_tune(tmp_path, f"tune-{i}", melody(i))
    write_tune(tmp_path, "original", melody(100))
    write_tune(tmp_path, "copy", near_copy(melody(100)))
    return tmp_path


def small(path: Path, **options) -> AbcConfig:
    return AbcConfig(path=str(path), batch_size=2, seq_length=8, **options)


def split_of(dataset: AbcDataset, name: str) -> str:
    return next(split for split, tunes in dataset.split_tunes.items() if any(t.name == name for t in tunes))


# -- near-duplicates ---------------------------------------------------------------------------------


def test_near_copies_are_grouped_and_distinct_tunes_are_not() -> None:
    texts = [melody(1), near_copy(melody(1)), melody(2), melody(3)]
    assert sorted(near_duplicate_groups(texts, n=20, threshold=0.5)) == [[0, 1], [2], [3]]


def test_overlap_is_measured_in_both_directions() -> None:
    short, long = melody(5, bars=8), melody(5, bars=8) + melody(6, bars=8)
    (fraction_short, fraction_long) = shared_ngram_fractions([short, long], n=20)[(0, 1)]
    assert fraction_short == 1.0
    assert fraction_long < 0.6


@needs_goldberg
def test_aria_and_aria_da_capo_overlap_far_more_than_any_two_variations() -> None:
    tunes = read_tunes(shared_data() / "goldberg" / "aria-bwv-988.abc")
    tunes += read_tunes(shared_data() / "goldberg" / "aria-da-capo-bwv-988.abc")
    tunes += [read_tunes(shared_data() / "goldberg" / f"variation-{v:02d}-bwv-988.abc")[0] for v in range(1, 31)]
    fractions = shared_ngram_fractions([tune.text for tune in tunes], n=20)
    assert min(fractions[(0, 1)]) > 0.6
    distinct = [max(pair) for (i, j), pair in fractions.items() if (i, j) != (0, 1)]
    assert max(distinct) < 0.15


# -- splits ------------------------------------------------------------------------------------------


def test_a_random_split_puts_every_tune_in_exactly_one_split(corpus: Path) -> None:
    dataset = AbcDataset(small(corpus, val_fraction=0.2, test_fraction=0.2))
    names = [tune.name for tunes in dataset.split_tunes.values() for tune in tunes]
    assert sorted(names) == sorted(tune.name for tune in dataset.tunes)
    assert all(dataset.split_tunes[split] for split in ("train", "val", "test"))


def test_a_random_split_keeps_near_duplicates_in_one_split(corpus: Path) -> None:
    tunes = read_tunes(corpus)
    groups = near_duplicate_groups([tune.text for tune in tunes], n=20, threshold=0.5)
    original = next(i for i, tune in enumerate(tunes) if tune.name == "original")
    copy = next(i for i, tune in enumerate(tunes) if tune.name == "copy")
    for seed in range(20):
        split = random_split(tunes, 0.2, 0.2, seed, groups)
        assert [original in held for held in split.values()] == [copy in held for held in split.values()]


def test_a_random_split_depends_only_on_its_seed(corpus: Path) -> None:
    first = AbcDataset(small(corpus, split_seed=3, seed=1)).describe()["tunes"]
    second = AbcDataset(small(corpus, split_seed=3, seed=2)).describe()["tunes"]
    assert first == second


def test_a_fixed_split_holds_out_exactly_the_named_tunes(corpus: Path) -> None:
    dataset = AbcDataset(small(corpus, split="fixed", val_tunes=["tune-1"], test_tunes=["tune-2", "tune-3"]))
    tunes = dataset.describe()["tunes"]
    assert tunes["val"] == ["tune-1"]
    assert tunes["test"] == ["tune-2", "tune-3"]
    assert sorted(tunes["train"]) == sorted(["copy", "original", "tune-0", "tune-4", "tune-5", "tune-6", "tune-7"])


def test_names_match_a_stem_prefix_only_at_a_separator(tmp_path: Path) -> None:
    for stem, seed in [("piece-1-bwv", 1), ("piece-12-bwv", 2), ("piece-2-bwv", 3)]:
        write_tune(tmp_path, stem, melody(seed))
    dataset = AbcDataset(small(tmp_path, split="fixed", test_tunes=["piece-1"], val_tunes=[]))
    assert dataset.describe()["tunes"]["test"] == ["piece-1-bwv"]


def test_names_match_tune_titles(tmp_path: Path) -> None:
    write_tune(tmp_path, "a", melody(1), title="The Kesh")
    write_tune(tmp_path, "b", melody(2), title="Out on the Ocean")
    dataset = AbcDataset(small(tmp_path, split="fixed", test_tunes=["the kesh"]))
    assert dataset.describe()["tunes"]["test"] == ["a"]


def test_an_unknown_tune_name_lists_the_available_names(corpus: Path) -> None:
    with pytest.raises(ValueError, match=r"dataset.test_tunes: no tune is called 'tune-99'; available: copy, "):
        AbcDataset(small(corpus, split="fixed", test_tunes=["tune-99"]))


def test_a_tune_named_for_val_and_test_is_an_error(corpus: Path) -> None:
    with pytest.raises(ValueError, match="both select tune-1"):
        AbcDataset(small(corpus, split="fixed", val_tunes=["tune-1"], test_tunes=["tune-1"]))


def test_a_held_out_near_copy_of_a_training_tune_warns_naming_both(corpus: Path) -> None:
    with pytest.warns(UserWarning, match=r"test tune 'copy' shares \d+% .* training tune 'original'"):
        AbcDataset(small(corpus, split="fixed", test_tunes=["copy"]))


def test_holding_out_distinct_tunes_does_not_warn(corpus: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AbcDataset(small(corpus, split="fixed", val_tunes=["tune-1"], test_tunes=["copy", "original"]))


def test_an_unknown_split_mode_is_an_error(corpus: Path) -> None:
    with pytest.raises(ValueError, match="dataset.split must be 'random' or 'fixed'"):
        AbcDataset(small(corpus, split="by-hand"))


# -- vocabulary --------------------------------------------------------------------------------------


def test_the_vocabulary_orders_characters_by_frequency_then_by_character() -> None:
    assert build_vocabulary("abbcccdd").symbols == [Vocabulary([]).unknown, "c", "b", "d", "a"]


def test_text_round_trips_through_the_vocabulary(corpus: Path) -> None:
    dataset = AbcDataset(small(corpus))
    text = dataset.texts["train"]
    assert dataset.vocabulary.decode(dataset.vocabulary.encode(text)) == text


def test_characters_missing_from_training_text_map_to_the_unknown_symbol(tmp_path: Path) -> None:
    for i in range(4):
        write_tune(tmp_path, f"tune-{i}", melody(i))
    write_tune(tmp_path, "odd", melody(9), title="Ωμέγα")
    dataset = AbcDataset(small(tmp_path, split="fixed", val_tunes=["odd"]))
    assert dataset.unknown_counts == {"train": 0, "val": 5, "test": 0}
    assert (dataset.ids["val"] == 0).sum().item() == 5
    assert dataset.artifacts()["unknown_counts"]["val"] == 5


def test_artifacts_hold_the_vocabulary(corpus: Path) -> None:
    dataset = AbcDataset(small(corpus))
    assert Vocabulary.from_dict(dataset.artifacts()["vocabulary"]).symbols == dataset.vocabulary.symbols
    assert dataset.spec.input_size == dataset.spec.target_size == len(dataset.vocabulary)
    assert dataset.spec.stateful and dataset.spec.sequence_targets


def test_split_texts_start_every_tune_with_its_x_line(corpus: Path) -> None:
    text = AbcDataset(small(corpus)).texts["train"]
    assert text.startswith("X:1\n")
    assert text.count("\n\nX:1\n") == len(AbcDataset(small(corpus)).split_tunes["train"]) - 1


# -- stream batches ----------------------------------------------------------------------------------


def test_targets_are_the_inputs_shifted_by_one() -> None:
    for batch in stream_batches(torch.arange(23), batch_size=2, seq_length=5):
        assert torch.equal(batch.targets, batch.inputs + 1)
        assert batch.inputs.dtype == torch.long


def test_consecutive_batches_continue_each_stream() -> None:
    first, second = list(stream_batches(torch.arange(23), batch_size=2, seq_length=5))
    assert first.inputs.tolist() == [[0, 1, 2, 3, 4], [11, 12, 13, 14, 15]]
    assert torch.equal(second.inputs[:, 0], first.inputs[:, -1] + 1)


def test_evaluation_keeps_the_short_last_batch() -> None:
    batches = list(stream_batches(torch.arange(23), batch_size=2, seq_length=5, keep_partial=True))
    assert [batch.inputs.shape for batch in batches] == [(2, 5), (2, 5), (2, 1)]


def test_a_shard_takes_every_world_th_stream() -> None:
    ids = torch.arange(101)
    (whole,) = list(stream_batches(ids, batch_size=4, seq_length=25))
    (shard,) = list(stream_batches(ids, batch_size=4, seq_length=25, shard=(1, 2)))
    assert torch.equal(shard.inputs, whole.inputs[1::2])


def test_a_batch_size_not_divisible_by_the_world_size_is_an_error() -> None:
    with pytest.raises(ValueError, match="batch_size must be divisible"):
        stream_batches(torch.arange(100), batch_size=3, seq_length=5, shard=(0, 2))


def test_num_batches_counts_what_batches_yields(corpus: Path) -> None:
    dataset = AbcDataset(small(corpus))
    for split in ("train", "val", "test"):
        assert dataset.num_batches(split) == len(list(dataset.batches(split))) > 0


def test_a_split_too_short_for_one_batch_is_an_error(corpus: Path) -> None:
    with pytest.raises(ValueError, match="too few to fill one batch of dataset.batch_size=50"):
        AbcDataset(AbcConfig(path=str(corpus), batch_size=50, seq_length=50))


# -- evaluation by whole tunes -----------------------------------------------------------------------


def test_packing_puts_the_longest_tunes_on_the_shortest_streams() -> None:
    assert pack_streams([5, 9, 2, 4], streams=2) == [[1, 2], [0, 3]]  # 9+2 and 5+4
    assert pack_streams([5, 9], streams=4) == [[1], [0]]
    assert pack_streams([], streams=3) == []


def test_tune_streams_read_every_tune_from_its_start_and_pad_the_rest() -> None:
    tunes = [torch.tensor([1, 2, 3, 4, 5, 6, 7]), torch.tensor([11, 12, 13]), torch.tensor([21, 22, 23])]
    batches = list(tune_stream_batches(tunes, streams=2, seq_length=4))
    inputs = torch.cat([batch.inputs for batch in batches], dim=1)
    targets = torch.cat([batch.targets for batch in batches], dim=1)
    assert inputs.tolist() == [[1, 2, 3, 4, 5, 6], [11, 12, 13, 21, 22, 0]]
    assert targets.tolist() == [[2, 3, 4, 5, 6, 7], [12, 13, 21, 22, 23, PADDING_TARGET]]
    assert [batch.inputs.shape[1] for batch in batches] == [4, 2]
    assert count_tune_batches([7, 3, 3], streams=2, seq_length=4) == len(batches)


def test_tune_stream_shards_share_out_the_streams() -> None:
    tunes = [torch.arange(10 * i, 10 * i + 6) for i in range(3)]
    (whole,) = tune_stream_batches(tunes, streams=3, seq_length=8)
    (first,) = tune_stream_batches(tunes, streams=3, seq_length=8, shard=(0, 2))
    (second,) = tune_stream_batches(tunes, streams=3, seq_length=8, shard=(1, 2))
    assert torch.equal(torch.cat([first.inputs, second.inputs])[[0, 2, 1]], whole.inputs)


def test_evaluation_scores_each_held_out_character_once_from_the_start_of_its_tune(corpus: Path) -> None:
    dataset = AbcDataset(small(corpus, split="fixed", val_tunes=["tune-1", "tune-2", "tune-3"]))
    batches = list(dataset.batches("val"))
    inputs = torch.cat([batch.inputs for batch in batches], dim=1)
    targets = torch.cat([batch.targets for batch in batches], dim=1)
    scored = targets != PADDING_TARGET
    assert int(scored.sum()) == len(dataset.texts["val"]) - len(inputs)  # all but each stream's first
    first_characters = dataset.vocabulary.decode(inputs[:, :4].flatten().tolist())
    assert first_characters == "X:1\n" * len(inputs)
    assert dataset.num_batches("val") == len(batches)


def test_evaluation_can_cut_the_split_into_streams_like_training(corpus: Path) -> None:
    dataset = AbcDataset(small(corpus, split="fixed", val_tunes=["tune-1", "tune-2", "tune-3"], eval_by_tune=False))
    expected = stream_batches(dataset.ids["val"], batch_size=2, seq_length=8, keep_partial=True)
    assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(dataset.batches("val"), expected, strict=True))


# -- resampled training stream -----------------------------------------------------------------------


def test_the_resampled_stream_is_redrawn_each_epoch(corpus: Path) -> None:
    dataset = AbcDataset(small(corpus, resample_tunes=20))
    assert dataset.resampled_text(0) != dataset.resampled_text(1)
    assert dataset.num_batches("train") == len(list(dataset.batches("train", epoch=0)))
    assert dataset.num_batches("train") == len(list(dataset.batches("train", epoch=1)))


def test_the_resampled_stream_is_the_same_for_the_same_epoch(corpus: Path) -> None:
    first = list(AbcDataset(small(corpus, resample_tunes=20)).batches("train", epoch=3))
    second = list(AbcDataset(small(corpus, resample_tunes=20)).batches("train", epoch=3))
    assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(first, second))


def test_the_resampled_stream_is_made_of_training_tunes(corpus: Path) -> None:
    dataset = AbcDataset(small(corpus, split="fixed", test_tunes=["tune-1"], resample_tunes=30))
    text = dataset.resampled_text(0)
    titles = {line[2:] for line in text.splitlines() if line.startswith("T:")}
    assert "tune-1" not in titles
    assert len(titles) > 1
    assert len(text) == dataset.resample_length + 1


# -- registration ------------------------------------------------------------------


def test_the_registered_factory_builds_the_dataset(corpus: Path) -> None:
    assert isinstance(build_abc_dataset(small(corpus)), AbcDataset)


@needs_goldberg
def test_the_bach_split_of_the_goldberg_variations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQKIT_DATA", str(shared_data()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # aria and aria da capo both train: no leak to warn about
        dataset = AbcDataset(
            AbcConfig(
                split="fixed",
                val_tunes=["variation-07", "variation-12", "variation-18"],
                test_tunes=["variation-23", "variation-27", "variation-30"],
            )
        )
    tunes = dataset.describe()["tunes"]
    assert tunes["test"] == ["variation-23-bwv-988", "variation-27-bwv-988", "variation-30-bwv-988"]
    assert len(tunes["train"]) == 26
    assert {"aria-bwv-988", "aria-da-capo-bwv-988"} <= set(tunes["train"])
    assert dataset.near_duplicates == [["aria-bwv-988", "aria-da-capo-bwv-988"]]


@needs_goldberg
def test_a_known_url_is_read_from_its_usual_place_in_the_data_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQKIT_DATA", str(shared_data()))
    url = GOLDBERG_URL + "goldberg-variations-from-mxl.abc"
    (tune,) = load_tunes(AbcConfig(urls=[url]))
    assert Path(tune.file) == shared_data().resolve() / "goldberg" / "goldberg-variations-from-mxl.abc"


def test_the_dataset_meets_the_dataset_contract(corpus: Path) -> None:
    held_out = {"split": "fixed", "val_tunes": ["tune-1", "tune-2", "tune-3"], "test_tunes": ["tune-4"]}
    check_dataset(AbcDataset(small(corpus, **held_out)), world_size=2)
    check_dataset(AbcDataset(small(corpus, **held_out, eval_by_tune=False)), world_size=2)


def test_random_start_rotates_the_training_text_each_epoch(corpus: Path) -> None:
    plain = AbcDataset(small(corpus))
    rotated = AbcDataset(small(corpus, random_start=True))
    text = plain.ids["train"]
    starts = set()
    for epoch in range(3):
        ids, _ = rotated.stream("train", epoch)
        matching = [start for start in range(len(text)) if torch.equal(torch.roll(text, -start), ids)]
        assert matching, "each epoch's text is the training text rotated"
        starts.add(matching[0])
        assert rotated.num_batches("train") == len(list(rotated.batches("train", epoch)))
    assert len(starts) == 3
    assert torch.equal(
        rotated.stream("train", 1)[0], AbcDataset(small(corpus, random_start=True)).stream("train", 1)[0]
    )
    assert torch.equal(next(rotated.batches("val")).inputs, next(plain.batches("val")).inputs)


# -- the bar clock as context ------------------------------------------------------------------------


def test_with_the_bar_clock_every_input_comes_with_its_bar_count(corpus: Path) -> None:
    held_out = {"split": "fixed", "val_tunes": ["tune-1", "tune-2"], "test_tunes": ["tune-3"]}
    dataset = AbcDataset(small(corpus, bar_clock=True, **held_out))
    assert dataset.spec.context_size == CLASSES
    assert AbcDataset(small(corpus, **held_out)).spec.context_size == 0
    checked = 0
    for split in ("train", "val"):
        batches = list(dataset.batches(split))
        inputs = torch.cat([batch.inputs for batch in batches], dim=1)
        context = torch.cat([batch.context for batch in batches], dim=1)
        targets = torch.cat([batch.targets for batch in batches], dim=1)
        for row in range(len(inputs)):
            length = int((targets[row] != PADDING_TARGET).sum())
            text = dataset.vocabulary.decode(inputs[row, :length].tolist())
            if text.startswith("X:"):  # a stream that starts at a tune reads exactly the clock's classes
                assert context[row, :length].tolist() == bar_clock_classes(text)
                checked += 1
    assert checked >= 3  # the first training stream and both validation tunes
    check_dataset(dataset, world_size=2)


def test_resampled_and_rotated_training_text_keeps_its_bar_counts(corpus: Path) -> None:
    plain = AbcDataset(small(corpus, bar_clock=True, resample_tunes=30))
    ids, context = plain.stream("train", 2)
    assert len(ids) == len(context) == plain.resample_length + 1
    text = plain.vocabulary.decode(ids.tolist())
    assert context.tolist() == bar_clock_classes(text)
    rotated = AbcDataset(small(corpus, bar_clock=True, resample_tunes=30, random_start=True))
    rotated_ids, rotated_context = rotated.stream("train", 2)
    start = next(s for s in range(len(ids)) if torch.equal(torch.roll(ids, -s), rotated_ids))
    assert torch.equal(torch.roll(context, -start), rotated_context)


# -- bad input: tunes without music, too few tunes, the files read ------------------------------------


def test_a_file_whose_only_tune_has_no_music_says_so_naming_file_and_x_line(tmp_path: Path) -> None:
    path = tmp_path / "intro.abc"
    path.write_text("% a tune book\n\nX:7\nT:Intro\nM:4/4\nK:D\n", encoding="utf-8")
    with pytest.raises(AbcReadError) as error:
        AbcDataset(small(path))
    assert str(error.value) == (
        f"{path}, line 3: tune X:7 ('Intro') has no music after its K: line, so there is nothing to train on; "
        "write the tune's notes after its K: line, or give dataset.path a file with complete tunes"
    )
    assert "hold out" not in str(error.value)


def test_a_tune_without_music_is_left_out_with_a_warning(corpus: Path) -> None:
    (corpus / "zz-empty.abc").write_text("X:1\nT:Empty\nK:C\n", encoding="utf-8")
    with pytest.warns(
        UserWarning, match=r"zz-empty\.abc, line 1: tune X:1 \('Empty'\) has no music after its K: line; left out"
    ):
        tunes = load_tunes(small(corpus))
    assert len(tunes) == 10 and "zz-empty" not in {tune.name for tune in tunes}


def test_too_few_tunes_for_the_held_out_fractions_say_which_fractions(tmp_path: Path) -> None:
    write_tune(tmp_path, "solo", melody(1))
    with pytest.raises(
        ValueError,
        match=r"dataset.val_fraction=0.1 and dataset.test_fraction=0.1 hold out the only tune \(test: solo\), "
        r"leaving none to train on: .*give at least 3 distinct tunes, or lower the fractions",
    ):
        AbcDataset(small(tmp_path))


def test_holding_out_every_named_tune_says_so(tmp_path: Path) -> None:
    write_tune(tmp_path, "solo", melody(1))
    with pytest.raises(ValueError, match=r"dataset.val_tunes and dataset.test_tunes hold out the only tune \(solo\)"):
        fixed_split(read_tunes(tmp_path), [], ["solo"])


def test_load_tunes_lists_the_resolved_files_it_read(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(corpus.parent)
    tunes = load_tunes(small(Path(corpus.name)))
    assert tunes.files == tuple(sorted(path.resolve() for path in corpus.glob("*.abc")))
    assert all(path.is_absolute() for path in tunes.files)
    assert {Path(tune.file).resolve() for tune in tunes} == set(tunes.files)


def test_the_dataset_names_every_file_it_read(corpus: Path) -> None:
    assert sorted(AbcDataset(small(corpus)).data_files()) == sorted(path.resolve() for path in corpus.glob("*.abc"))
