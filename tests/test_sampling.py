"""Sampling again from a finished run: the checkpoint alone rebuilds the model and its vocabulary."""

import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqkit import hookimpl
from seqkit.checkpoint import CheckpointError
from seqkit.host import load_host
from seqkit.sampling import SampleRequest, sample_from_run
from seqkit.training import train

import toy_plugin
from conftest import TOY_SERIES, TOY_TOKENS


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, host):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="seqkit.conf", version_base="1.3"):
        config = compose(
            config_name="config", overrides=[*TOY_TOKENS, "sampler=text", "sampler.length=40", "sampler.prime=ab"]
        )
    run_dir = tmp_path_factory.mktemp("run")
    train(config, host.registry, run_dir)
    return run_dir


def test_arguments_are_split_into_request_options_and_sampler_overrides():
    request = SampleRequest.from_arguments(
        "runs/a", ["checkpoint=last", "device=cpu", "out=elsewhere", "temperature=0.5", "sampler.top_k=3"]
    )
    assert request.checkpoint == "last"
    assert (request.device, request.out_dir) == ("cpu", Path("elsewhere"))
    assert request.sampler_overrides == ["temperature=0.5", "top_k=3"]
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        SampleRequest.from_arguments("runs/a", ["temperature"])


def test_sampling_from_a_saved_run_on_cpu_needs_no_training_data(finished_run, host, tmp_path):
    request = SampleRequest.from_arguments(str(finished_run), ["device=cpu", f"out={tmp_path}", "length=25", "seed=3"])
    report = sample_from_run(request, host.registry)
    text = (tmp_path / "samples.txt").read_text()
    assert report["path"] == "samples.txt" and report["characters"] == len(text)
    assert len(text) >= 25 and set(text) <= set("abcd\n")
    assert (tmp_path / "samples.json").is_file()
    again = tmp_path / "again"
    sample_from_run(
        SampleRequest.from_arguments(str(finished_run), ["device=cpu", f"out={again}", "length=25", "seed=3"]),
        host.registry,
    )
    assert (again / "samples.txt").read_text() == text  # same seed, same checkpoint: same music


@pytest.mark.parametrize("without_sampler", [["~sampler"], ["~sampler", "+sampler.length=30"]])
def test_a_run_trained_without_a_sampler_samples_with_text(host, tmp_path, without_sampler):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="seqkit.conf", version_base="1.3"):
        config = compose(config_name="config", overrides=[*TOY_TOKENS, *without_sampler, "trainer.sample=false"])
    train(config, host.registry, tmp_path / "run")
    request = SampleRequest.from_arguments(
        str(tmp_path / "run"), ["device=cpu", f"out={tmp_path}", "length=20", "prime=ab"]
    )
    report = sample_from_run(request, host.registry)
    assert report["path"] == "samples.txt" and report["characters"] >= 20


@pytest.mark.parametrize(
    "argument, message",
    [
        ("temprature=2", "sampler.temprature: Key 'temprature' not in 'TextSamplerConfig'"),
        ("temperature=abc", "sampler.temperature: Value 'abc' of type 'str' could not be converted to Float"),
    ],
)
def test_a_bad_sampler_option_names_the_key(finished_run, host, tmp_path, argument, message):
    request = SampleRequest.from_arguments(str(finished_run), [f"out={tmp_path}", argument])
    with pytest.raises(ValueError, match=message):
        sample_from_run(request, host.registry)


def test_a_run_without_a_vocabulary_cannot_be_sampled(compose_config, host, tmp_path):
    train(compose_config(TOY_SERIES), host.registry, tmp_path / "series")
    request = SampleRequest.from_arguments(str(tmp_path / "series"), [f"out={tmp_path}"])
    with pytest.raises(ValueError, match="holds no vocabulary"):
        sample_from_run(request, host.registry)


def test_a_missing_checkpoint_is_a_clear_error(host, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        sample_from_run(SampleRequest.from_arguments(str(tmp_path), []), host.registry)


def test_a_run_trained_with_the_bar_clock_samples_with_it_again(compose_config, host, tmp_path):
    rng = random.Random(0)
    bar = lambda: " ".join(f"{rng.choice('CDEFGABcdefgab')}{rng.choice([1, 2])}" for _ in range(3))  # noqa: E731
    tunes = "".join(
        f"X:{i}\nT:t{i}\nM:3/4\nL:1/8\nK:C\n" + " | ".join(bar() for _ in range(12)) + " |]\n\n" for i in range(8)
    )
    (tmp_path / "tunes.abc").write_text(tunes)
    overrides = [
        "dataset=abc",
        f"dataset.path={tmp_path / 'tunes.abc'}",
        "dataset.bar_clock=true",
        "dataset.batch_size=2",
        "dataset.seq_length=16",
        "cell=lstm",
        "cell.hidden_size=8",
        "head=softmax",
        "sampler=text",
        "sampler.length=60",
        "sampler.export=false",
        "trainer.max_steps=4",
        "trainer.val_every=2",
    ]
    train(compose_config(overrides), host.registry, tmp_path / "run")
    report = sample_from_run(
        SampleRequest.from_arguments(str(tmp_path / "run"), ["device=cpu", f"out={tmp_path / 'again'}", "seed=1"]),
        host.registry,
    )
    text = (tmp_path / "again" / "samples.abc").read_text()
    assert report["path"] == "samples.abc" and text.startswith("X:1\n") and len(text) >= 60


def test_each_call_samples_into_a_folder_of_its_own_and_leaves_the_runs_files(finished_run, host):
    runs_own = {name: (finished_run / name).read_bytes() for name in ("samples.txt", "summary.json")}
    arguments = ["device=cpu", "length=10"]
    first = sample_from_run(SampleRequest.from_arguments(str(finished_run), arguments), host.registry)
    second = sample_from_run(SampleRequest.from_arguments(str(finished_run), arguments), host.registry)
    folders = [Path(report["out_dir"]) for report in (first, second)]
    assert folders[0] != folders[1] and all(folder.parent == finished_run / "samples" for folder in folders)
    assert all((folder / "samples.txt").is_file() and (folder / "samples.json").is_file() for folder in folders)
    assert {name: (finished_run / name).read_bytes() for name in runs_own} == runs_own


def test_a_folder_holding_earlier_samples_is_refused(finished_run, host, tmp_path):
    request = SampleRequest.from_arguments(str(finished_run), ["device=cpu", f"out={tmp_path}", "length=5"])
    sample_from_run(request, host.registry)
    before = (tmp_path / "samples.txt").read_bytes()
    with pytest.raises(ValueError, match="already holds samples.json from an earlier call"):
        sample_from_run(request, host.registry)
    assert (tmp_path / "samples.txt").read_bytes() == before


def test_name_picks_another_sampler_without_the_runs_sampler_options(finished_run, tmp_path):
    @dataclass
    class FirstSymbolConfig:
        repeat: int = 3

    class FirstSymbol:
        """Writes the vocabulary's first real symbol ``repeat`` times."""

        def __init__(self, config):
            self.config = config

        def sample(self, model, vocabulary, out_dir, sample_format, device):
            (out_dir / "first.txt").write_text(vocabulary.symbols[1] * self.config.repeat)
            return {"path": "first.txt"}

    class Plugin:
        @hookimpl
        def register_samplers(self, register):
            register("first_symbol", FirstSymbol, FirstSymbolConfig)

    host = load_host([("toy", toy_plugin), ("first", Plugin())], strict=True)
    request = SampleRequest.from_arguments(str(finished_run), [f"out={tmp_path}", "name=first_symbol", "repeat=2"])
    report = sample_from_run(request, host.registry)  # the run's length and prime belong to its text sampler
    assert report["path"] == "first.txt" and len((tmp_path / "first.txt").read_text()) == 2
