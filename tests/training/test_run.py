"""One run from its config: options that make no sense stop it before anything is built, naming the key."""

from __future__ import annotations

import hashlib

import pytest

from seqkit.training import train
from seqkit.training.run import describe_data_files

from conftest import TOY_SERIES, overridden
from toy_plugin import ToySeries, ToySeriesConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.grad_clip=-1", "trainer.grad_clip must be a positive number or null .*; got -1"),
        ("trainer.max_epochs=0", "trainer.max_epochs must be a positive integer or null; got 0"),
        ("optimizer.lr=-1", "optimizer.lr must be >= 0; got -1"),
        ("optimizer.weight_decay=-0.1", "optimizer.weight_decay must be >= 0; got -0.1"),
        ("head.dropout=1.5", r"head.dropout must be in \[0, 1\); got 1.5"),
    ],
)
def test_a_senseless_option_stops_the_run_before_it_trains(compose_config, host, tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        train(compose_config(overridden(TOY_SERIES, override)), host.registry, tmp_path)
    assert not (tmp_path / "checkpoints").exists()


def test_the_summary_records_each_data_file_with_its_checksum(tmp_path):
    data = tmp_path / "series.csv"
    data.write_text("value\n1\n2\n")

    class FromFile(ToySeries):
        def data_files(self):
            return [data]

    (recorded,) = describe_data_files(FromFile(ToySeriesConfig(length=100)))
    assert recorded == {"path": str(data), "sha256": hashlib.sha256(data.read_bytes()).hexdigest(), "bytes": 10}


def test_a_dataset_that_reads_no_file_records_none(compose_config, host, tmp_path):
    summary = train(compose_config(overridden(TOY_SERIES, "trainer.max_steps=2")), host.registry, tmp_path)
    assert summary["data"] == []
