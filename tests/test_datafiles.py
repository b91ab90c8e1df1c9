"""The data directory and checksummed downloads: used when present, fetched once, a clear error offline."""

import hashlib
import shutil

import pooch
import pytest

from seqkit import datafiles


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path))
    assert datafiles.data_dir() == tmp_path.resolve()
    monkeypatch.delenv("SEQKIT_DATA")
    assert datafiles.data_dir().name == "seqkit"


def test_a_file_already_there_is_used_without_downloading(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path))
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "tune.abc").write_text("X:1\n")

    def no_network(*args, **kwargs):
        raise AssertionError("downloaded although the file was there")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    assert datafiles.fetch("music/tune.abc", "https://example.org/tune.abc", None) == tmp_path / "music" / "tune.abc"


def test_a_missing_file_is_downloaded_with_its_checksum_into_the_data_dir(monkeypatch, tmp_path):
    source = tmp_path / "origin.abc"
    source.write_text("X:1\nK:C\n")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    calls = []

    def retrieve(url, known_hash, fname, path, **kwargs):
        calls.append((url, known_hash, fname))
        shutil.copy(source, f"{path}/{fname}")
        return f"{path}/{fname}"

    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(pooch, "retrieve", retrieve)
    path = datafiles.fetch("music/tune.abc", "https://example.org/tune.abc", digest)
    assert path == tmp_path / "data" / "music" / "tune.abc" and path.read_text() == "X:1\nK:C\n"
    assert calls == [("https://example.org/tune.abc", f"sha256:{digest}", "tune.abc")]


def test_offline_says_what_to_download_and_where_to_put_it(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path))
    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(datafiles.DataNotFoundError) as error:
        datafiles.fetch("electricity/elec_load.csv", "https://example.org/elec_load.csv", "ab" * 32)
    message = str(error.value)
    assert "https://example.org/elec_load.csv" in message and "Name or service not known" in message
    assert str(tmp_path / "electricity" / "elec_load.csv") in message
    assert "SEQKIT_DATA" in message and "dataset.path" in message


def test_a_directory_given_for_a_file_is_called_a_directory(tmp_path):
    folder = tmp_path / "electricity"
    folder.mkdir()
    (folder / "elec_load.csv").write_text("Load\n1\n")
    with pytest.raises(datafiles.DataNotFoundError) as error:
        datafiles.require_file(folder, "a CSV file of load readings", option="dataset.path")
    assert str(error.value) == (
        f"dataset.path={str(folder)!r} is a directory (it holds elec_load.csv), not a file; expected a CSV file of "
        f"load readings: set dataset.path to the file itself, e.g. dataset.path={folder / 'elec_load.csv'}"
    )


def test_a_missing_file_is_called_missing_and_a_file_passes(tmp_path):
    (tmp_path / "load.csv").write_text("Load\n1\n")
    assert datafiles.require_file(tmp_path / "load.csv", "a CSV file") == tmp_path / "load.csv"
    with pytest.raises(datafiles.DataNotFoundError, match=r"nowhere\.csv: no such file; expected a CSV file$"):
        datafiles.require_file(tmp_path / "nowhere.csv", "a CSV file")
    assert "the folder" in datafiles.not_a_file(tmp_path / "gone" / "load.csv", "a CSV file")


def test_a_directory_where_a_data_file_belongs_is_named_without_downloading(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQKIT_DATA", str(tmp_path))
    (tmp_path / "electricity" / "elec_load.csv").mkdir(parents=True)

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download onto a directory")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    with pytest.raises(datafiles.DataNotFoundError, match=r"elec_load\.csv in the data directory is a directory"):
        datafiles.fetch("electricity/elec_load.csv", "https://example.org/elec_load.csv", None)
