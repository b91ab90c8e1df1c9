"""Where data files live and how they arrive: a cache folder, checksummed downloads, a clear offline error.

Dataset plugins name each file by a path relative to the data directory (``electricity/elec_load.csv``),
its public URL and its sha256. The data directory is ``$SEQKIT_DATA`` when set, else the user cache
folder; a file already there is used as it is and nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs


class DataNotFoundError(FileNotFoundError):
    """A data file is not on disk and could not be downloaded."""


def not_a_file(path: str | Path, expected: str, option: str | None = None) -> str | None:
    """Why ``path`` cannot be read as a data file, in one line, or ``None`` when it is a file.

    ``expected`` says what the file should hold (``"a CSV file of load readings"``); ``option`` names the
    setting that gave the path (``"dataset.path"``), so the message can say which one to change.
    """
    path = Path(path)
    if path.is_file():
        return None
    label = f"{option}={str(path)!r}" if option else str(path)
    if path.is_dir():
        inside = sorted(entry.name for entry in path.iterdir() if entry.is_file() and not entry.name.startswith("."))
        held = f" (it holds {', '.join(inside[:5])}{', ...' if len(inside) > 5 else ''})" if inside else " (no files)"
        fix = f"set {option} to the file itself" if option else "give the file itself"
        example = f", e.g. {option + '=' if option else ''}{path / inside[0]}" if inside else ""
        return f"{label} is a directory{held}, not a file; expected {expected}: {fix}{example}"
    if not path.parent.is_dir():
        return f"{label}: no such file (the folder {path.parent} does not exist either); expected {expected}"
    return f"{label}: no such file; expected {expected}"


def require_file(path: str | Path, expected: str, option: str | None = None) -> Path:
    """``path`` when it is a file; else :class:`DataNotFoundError` saying whether it is missing or a directory."""
    problem = not_a_file(path, expected, option)
    if problem is not None:
        raise DataNotFoundError(problem)
    return Path(path)


def data_dir() -> Path:
    """``$SEQKIT_DATA`` if set, else the per-user cache folder (e.g. ``~/.cache/seqkit``)."""
    configured = os.environ.get("SEQKIT_DATA")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(platformdirs.user_cache_dir("seqkit"))


def fetch(relative_path: str, url: str, sha256: str | None, *, archive_member: str | None = None) -> Path:
    """The local path of a data file, downloading (and checking) it on first use.

    With ``archive_member`` the URL is a zip archive and ``relative_path`` names the member's place once
    extracted (``uci/LD2011_2014.txt``).
    """
    target = data_dir() / relative_path
    if target.is_file():
        return target
    if target.is_dir():
        raise DataNotFoundError(
            f"{relative_path}: {target} in the data directory is a directory, not the file; move that folder "
            "away (the file is downloaded there), or set SEQKIT_DATA to another folder, or pass the file with "
            "dataset.path=..."
        )
    import pooch  # imported here: only a download needs it

    target.parent.mkdir(parents=True, exist_ok=True)
    known_hash = f"sha256:{sha256}" if sha256 else None
    try:
        if archive_member is None:
            downloaded = pooch.retrieve(url, known_hash, fname=target.name, path=target.parent, progressbar=False)
            return Path(downloaded)
        members = pooch.retrieve(
            url,
            known_hash,
            fname=Path(url).name,
            path=target.parent,
            processor=pooch.Unzip(members=[archive_member], extract_dir="."),
            progressbar=False,
        )
    except Exception as error:  # noqa: BLE001 - network, HTTP and checksum failures all end the same way
        raise DataNotFoundError(
            f"{relative_path} is not in the data directory {data_dir()} and could not be downloaded "
            f"from {url} ({type(error).__name__}: {error}). Download it by hand and put it at {target}, "
            "or set SEQKIT_DATA to a folder that holds it, or pass the file with dataset.path=..."
        ) from error
    extracted = next((Path(m) for m in members if Path(m).name == Path(archive_member).name), None)
    if extracted is None:
        raise DataNotFoundError(f"{url} does not contain {archive_member}")
    if extracted != target:
        extracted.replace(target)
    return target


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks (data files can be larger than memory)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
