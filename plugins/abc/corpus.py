"""The tunes of the ``abc`` dataset and their split by tune: files, downloads, near-duplicates, held-out tunes.

The rules (random and fixed splits, how a name matches a tune, when two tunes are near-duplicates) are
described in :mod:`seqkit.plugins.abc.dataset`.
"""

from __future__ import annotations

import hashlib
import random
import warnings
from collections import Counter
from itertools import combinations
from pathlib import Path
from urllib.parse import urlparse

from seqkit.datafiles import fetch
from seqkit.plugins.abc.config import AbcConfig
from seqkit.plugins.abc.notation import AbcReadError, Tune, abc_files, has_music, read_tunes

GOLDBERG_URL = (
    "https://raw.githubusercontent.com/gsantam/infinite-goldberg-variations/"
    "ba14701dd8b2984504b8b69d0ab71a29415f15ed/data/processed/goldberg/"
)
#: The Goldberg movements in playing order: file name -> sha256.
GOLDBERG_MOVEMENTS: dict[str, str] = {
    "aria-bwv-988.abc": "ddafd1c1b54f545ed869e605179e23594940e1cc81edc2df68f9f46a555b63ec",
    "variation-01-bwv-988.abc": "6ee0955e57e7249d4d6ea010d246085d82bce39dc02c409d86ae63bd94e5a064",
    "variation-02-bwv-988.abc": "7830849f84b99fdf8d2b2374015c659ea279537827cfb631b63101686eb69ea8",
    "variation-03-bwv-988.abc": "2be4a8bacde8a5915b3c285b89647257b3058466a7f1f73e7a8adbbec7837d5e",
    "variation-04-bwv-988.abc": "2d063946609006bf3f3597abc5c6d39d2f23a1cd8f25970230688b98fa590b92",
    "variation-05-bwv-988.abc": "b2976928e1de2f75a49254f81e50e773fee52ed80ec6d60ffec16a901b0869bb",
    "variation-06-bwv-988.abc": "2859f9c64797badab808349411b183b15976614cb4a3be5886a6c6d0ff2c4172",
    "variation-07-bwv-988.abc": "1a1c796060ef9fe4378b9325ccf53b62d562ee379e6353756c25dd4821c3a1ae",
    "variation-08-bwv-988.abc": "67d00f48babbc880e7f057fd01a5265105911bf84144394aa06ef7cf47177d33",
    "variation-09-bwv-988.abc": "e4dac28d7e1f97873723bb7361837554719427cf51c2d061011b0672d23db12f",
    "variation-10-bwv-988.abc": "747f01ebc2860bf063dea30018703282be95f3ecb023b311cfe127d0301fc49d",
    "variation-11-bwv-988.abc": "ddf429aa0ee6015e6c8cdf498de41e91324b0f28115235be0a7a965b99018da3",
    "variation-12-bwv-988.abc": "10238199730bce148cac3d6134de3325139ec5207ac98c58d6ba515299d80875",
    "variation-13-bwv-988.abc": "7a05329671a654551df1ac0cd6a7f5327124ff96da0ea214fd15d01527bcc144",
    "variation-14-bwv-988.abc": "84d72af524da29400278fa9b77982604a4180d3e34b98aaf08463ca37267a17e",
    "variation-15-bwv-988.abc": "3c77f003f65e3c51e94c5c06056fee94be1488795ad8892474fc6d93b997a0db",
    "variation-16-bwv-988.abc": "df87321ff53075b734b062b9c6d6046ab74e0770302b1b24cc06df70fb940cdb",
    "variation-17-bwv-988.abc": "af62cfb0f3074171b06f2413adad73727dd6dc59e89dace25cdcf440c10727ea",
    "variation-18-bwv-988.abc": "ad0c8ab5b630f86ab0d4abb67870470f06daed83b3917ffd983129d97601643f",
    "variation-19-bwv-988.abc": "09bd088bd4eeeb63430a30f2136ca6eb7047a87f4f0bbbbf277d51c991d86f3b",
    "variation-20-bwv-988.abc": "95902590f7a14ce56a7e0f026a67b99add84004b770391aec7cbca3d954068ef",
    "variation-21-bwv-988.abc": "413865c19594fb30ff40fdf19efcdb17341485849f2c9cf2c5819625ad2225c0",
    "variation-22-bwv-988.abc": "77d3b7c840d40cd6b58196714b16d00a3447ec99e7b0db7aa97c8ada03022535",
    "variation-23-bwv-988.abc": "5874008b5eab79be84931c2d9041ded1ed7afeb0fc67c5bc3be5291afa1b9263",
    "variation-24-bwv-988.abc": "c4c3a40fa8d328418ac3fc314ac8117728c2bd1d19bbbad8027c4f04e9bc5d6a",
    "variation-25-bwv-988.abc": "8440c2d776ce76bc2e998330829ce23185e3ac62314304314202615e5ec486da",
    "variation-26-bwv-988.abc": "2faf66ac3948ae332e23276988b2dc83ea490a6781ff654ec19f5c868090f18d",
    "variation-27-bwv-988.abc": "ddeab1f430b6515dac230898e4145c4a039e89b5e3e6bcb296d8470f26b80477",
    "variation-28-bwv-988.abc": "ffde496fc4416caff7a789ffd9b3fda88f102119b83911b43466391990766ef5",
    "variation-29-bwv-988.abc": "04dc81bfce8f02ad6c5ff0b714731012f326cf55c05c81d750948807da84a23d",
    "variation-30-bwv-988.abc": "65fe5caf955be2e48284371a83225f5c599468b2925f69aa63adeea774250ab3",
    "aria-da-capo-bwv-988.abc": "3d70af281283c1546228f5f514a6474f881f21309f34a544eb9f3c6d8e7418f9",
}
#: Known files by URL: where they live in the data directory and their sha256, so a download given in
#: ``dataset.urls`` is verified and a copy already in the data directory (``goldberg/...``) is reused.
KNOWN_FILES: dict[str, tuple[str, str]] = {
    GOLDBERG_URL + "goldberg-variations-from-mxl.abc": (
        "goldberg/goldberg-variations-from-mxl.abc",
        "766df7d6ec5424485bfe7936f5a50f04ae25e53797c89b4287494ceca61978a7",
    ),
    **{GOLDBERG_URL + "abc/" + name: (f"goldberg/{name}", sha256) for name, sha256 in GOLDBERG_MOVEMENTS.items()},
}
#: An n-gram found in more tunes than this is boilerplate (a shared header), not evidence of copying.
COMMON_NGRAM_TUNES = 100


# ---------------------------------------------------------------------------------------------------
# Near-duplicate tunes
# ---------------------------------------------------------------------------------------------------


def ngrams(text: str, n: int) -> set[str]:
    """The distinct character n-grams of ``text`` (the text itself when it is shorter than ``n``)."""
    if len(text) <= n:
        return {text}
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def shared_ngram_fractions(texts: list[str], n: int) -> dict[tuple[int, int], tuple[float, float]]:
    """For each pair ``(i, j)``, ``i < j``, sharing an n-gram: the fractions of i's n-grams found in j and back.

    Pairs are found through an index of n-grams, so tunes with nothing in common cost nothing.
    """
    sets = [ngrams(text, n) for text in texts]
    owners: dict[str, list[int]] = {}
    for index, grams in enumerate(sets):
        for gram in grams:
            owners.setdefault(gram, []).append(index)
    shared: Counter[tuple[int, int]] = Counter()
    for holders in owners.values():
        if 1 < len(holders) <= COMMON_NGRAM_TUNES:
            shared.update(combinations(holders, 2))
    return {(i, j): (count / len(sets[i]), count / len(sets[j])) for (i, j), count in shared.items()}


#: Shared n-gram fractions of tune pairs, as ``shared_ngram_fractions`` returns them.
PairFractions = dict[tuple[int, int], tuple[float, float]]


def group_near_duplicates(count: int, fractions: PairFractions, threshold: float) -> list[list[int]]:
    """Indices ``0..count-1`` grouped so that near-duplicates (either fraction >= threshold) share a group."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (i, j), pair in fractions.items():
        if max(pair) >= threshold:
            parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def near_duplicate_groups(texts: list[str], n: int, threshold: float) -> list[list[int]]:
    """Indices of ``texts`` grouped so that near-duplicates share a group."""
    return group_near_duplicates(len(texts), shared_ngram_fractions(texts, n), threshold)


# ---------------------------------------------------------------------------------------------------
# Splits by tune
# ---------------------------------------------------------------------------------------------------


def tune_matches(name: str, tune: Tune) -> bool:
    """Whether a name from ``val_tunes``/``test_tunes`` selects ``tune`` (see :mod:`seqkit.plugins.abc.dataset`)."""
    wanted, stem = name.strip().lower(), tune.stem.lower()
    if stem == wanted or tune.title.strip().lower() == wanted:
        return True
    return stem.startswith(wanted) and not stem[len(wanted)].isalnum()


def _select(names: list[str], tunes: list[Tune], option: str) -> list[int]:
    selected: list[int] = []
    for name in names:
        found = [i for i, tune in enumerate(tunes) if tune_matches(name, tune)]
        if not found:
            available = sorted({t.stem for t in tunes} | {t.title for t in tunes})
            shown = ", ".join(available[:40]) + (f", ... ({len(available)} in all)" if len(available) > 40 else "")
            raise ValueError(f"dataset.{option}: no tune is called {name!r}; available: {shown}")
        selected += [i for i in found if i not in selected]
    return selected


def _all_tunes(count: int) -> str:
    return "the only tune" if count == 1 else f"all {count} tunes"


def fixed_split(tunes: list[Tune], val_tunes: list[str], test_tunes: list[str]) -> dict[str, list[int]]:
    """Tune indices per split: the named tunes held out, every other tune in train."""
    val = _select(val_tunes, tunes, "val_tunes")
    test = _select(test_tunes, tunes, "test_tunes")
    both = sorted(set(val) & set(test))
    if both:
        names = ", ".join(tunes[i].name for i in both)
        raise ValueError(f"dataset.val_tunes and dataset.test_tunes both select {names}; name each tune once")
    held_out = set(val) | set(test)
    train = [i for i in range(len(tunes)) if i not in held_out]
    if not train:
        names = ", ".join(tunes[i].name for i in sorted(held_out))
        raise ValueError(
            f"dataset.val_tunes and dataset.test_tunes hold out {_all_tunes(len(tunes))} ({names}), leaving none "
            "to train on; name fewer tunes there, or give more tunes"
        )
    return {"train": train, "val": val, "test": test}


def random_split(
    tunes: list[Tune], val_fraction: float, test_fraction: float, seed: int, groups: list[list[int]]
) -> dict[str, list[int]]:
    """Tune indices per split: whole near-duplicate groups, shuffled with ``seed``, dealt to test, val, train."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"dataset.val_fraction={val_fraction} and dataset.test_fraction={test_fraction} must each lie in "
            "[0, 1) and add up to less than 1"
        )

    def wanted(fraction: float) -> int:
        return max(1, round(fraction * len(tunes))) if fraction > 0 else 0

    order = sorted(groups)
    random.Random(seed).shuffle(order)
    split: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for group in order:
        if len(split["test"]) < wanted(test_fraction):
            split["test"] += group
        elif len(split["val"]) < wanted(val_fraction):
            split["val"] += group
        else:
            split["train"] += group
    if not split["train"]:
        held = "; ".join(
            f"{name}: {', '.join(tunes[i].name for i in sorted(split[name]))}"
            for name in ("test", "val")
            if split[name]
        )
        together = " (near-duplicates go together)" if any(len(group) > 1 for group in groups) else ""
        needed = 1 + (val_fraction > 0) + (test_fraction > 0)
        raise ValueError(
            f"dataset.val_fraction={val_fraction} and dataset.test_fraction={test_fraction} hold out "
            f"{_all_tunes(len(tunes))} ({held}){together}, leaving none to train on: each fraction above 0 holds out "
            f"at least one tune; give at least {needed} distinct tunes, or lower the fractions (0 holds out none)"
        )
    return {name: sorted(indices) for name, indices in split.items()}


def warn_on_leaks(
    tunes: list[Tune], split: dict[str, list[int]], fractions: PairFractions, threshold: float, n: int
) -> list[str]:
    """Warn for each held-out tune that shares at least ``threshold`` of its n-grams with a training tune."""
    training = set(split["train"])
    messages = []
    for split_name in ("val", "test"):
        for i in split[split_name]:
            for j in sorted(training):
                pair = fractions.get((min(i, j), max(i, j)))
                shared = 0.0 if pair is None else pair[0] if i < j else pair[1]
                if shared < threshold:
                    continue
                message = (
                    f"held-out {split_name} tune {tunes[i].name!r} shares {shared:.0%} of its {n}-character "
                    f"sequences with training tune {tunes[j].name!r}: its scores will flatter the model; hold "
                    "out both or neither"
                )
                warnings.warn(message, stacklevel=3)
                messages.append(message)
    return messages


# ---------------------------------------------------------------------------------------------------
# Reading the tunes
# ---------------------------------------------------------------------------------------------------


def _download(url: str) -> Path:
    """The local copy of ``url``: a known file at its usual place, any other under ``abc/`` tagged by its URL."""
    if url in KNOWN_FILES:
        return fetch(KNOWN_FILES[url][0], url, KNOWN_FILES[url][1])
    name = Path(urlparse(url).path).name or "tunes.abc"
    tag = hashlib.sha256(url.encode()).hexdigest()[:12]
    return fetch(f"abc/{tag}-{name}", url, None)


class TuneList(list[Tune]):
    """The tunes :func:`load_tunes` read (a plain ``list`` of :class:`Tune`), and ``files``: the resolved
    path of every ABC file read, in reading order (each file of a folder on its own), resolved when read."""

    def __init__(self, tunes: list[Tune], files: tuple[Path, ...]):
        super().__init__(tunes)
        self.files = files


def _where(tune: Tune) -> str:
    title = f" ({tune.headers['T']!r})" if tune.headers.get("T") else ""
    return f"{tune.file}, line {tune.line}: tune X:{tune.headers.get('X', '')}{title}"


def _no_music(tune: Tune) -> tuple[str, str]:
    """What is missing from a tune without music, and how to mend it."""
    if "K" not in tune.headers:
        return "has no K: line, hence no music", "add a K: line with the tune's notes after it"
    return "has no music after its K: line", "write the tune's notes after its K: line"


def keep_tunes_with_music(tunes: list[Tune]) -> list[Tune]:
    """The tunes that hold music; each one without is left out with a warning naming its file and X: line.

    Raises :class:`AbcReadError` naming the first of them when no tune holds music.
    """
    kept = [tune for tune in tunes if has_music(tune)]
    empty = [tune for tune in tunes if not has_music(tune)]
    if empty and not kept:
        missing, fix = _no_music(empty[0])
        more = f" (nor do the other {len(empty) - 1} tunes read)" if len(empty) > 1 else ""
        raise AbcReadError(
            f"{_where(empty[0])} {missing}{more}, so there is nothing to train on; {fix}, "
            "or give dataset.path a file with complete tunes"
        )
    for tune in empty:
        missing, fix = _no_music(tune)
        warnings.warn(f"{_where(tune)} {missing}; left out of the corpus ({fix}, or delete it)", stacklevel=3)
    return kept


def load_tunes(config: AbcConfig) -> TuneList:
    """The tunes the config names, in order: ``path``, then ``urls``, else the Goldberg movements.

    Tunes without music are left out with a warning (:func:`keep_tunes_with_music`). The result is a list
    whose ``files`` attribute holds the resolved path of every file read.
    """
    sources: list[Path] = []
    if config.path:
        sources.append(Path(config.path).expanduser())
    sources += [_download(url) for url in config.urls]
    if not sources:
        sources = [_download(GOLDBERG_URL + "abc/" + name) for name in GOLDBERG_MOVEMENTS]
    files = [file for source in sources for file in abc_files(source)]
    tunes = [tune for file in files for tune in read_tunes(file, drop_comments=config.drop_comments)]
    return TuneList(keep_tunes_with_music(tunes), tuple(file.resolve() for file in files))
