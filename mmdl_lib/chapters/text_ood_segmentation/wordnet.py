"""WordNet 3.0 offline, for chapter 04's distance-based OOD prompts.

Debian's ``wordnet-base`` and ``wordnet-sense-index`` packages put WordNet's dictionary files in
``/usr/share/wordnet`` (``scripts/install.sh`` installs them; ``MMDL_WORDNET`` points elsewhere).
nltk's reader wants them under one of its data roots as ``corpora/wordnet`` (nltk ≥ 3.10 refuses other
paths) together with a ``lexnames`` file that Debian does not ship: :func:`load_wordnet` copies the
files once into ``<MMDL cache>/nltk_data`` and writes ``lexnames`` from the table of
``man 5 lexnames`` (:data:`LEXNAMES`).
"""

from __future__ import annotations

import os
import shutil
import warnings
from functools import lru_cache
from pathlib import Path

from ...errors import MMDLError
from ...paths import cache_dir

# The lexicographer files in number order (``man 5 lexnames``): names and syntactic categories.
LEXNAMES = (
    ("adj.all", 3), ("adj.pert", 3), ("adv.all", 4), ("noun.Tops", 1), ("noun.act", 1), ("noun.animal", 1),
    ("noun.artifact", 1), ("noun.attribute", 1), ("noun.body", 1), ("noun.cognition", 1),
    ("noun.communication", 1), ("noun.event", 1), ("noun.feeling", 1), ("noun.food", 1), ("noun.group", 1),
    ("noun.location", 1), ("noun.motive", 1), ("noun.object", 1), ("noun.person", 1), ("noun.phenomenon", 1),
    ("noun.plant", 1), ("noun.possession", 1), ("noun.process", 1), ("noun.quantity", 1), ("noun.relation", 1),
    ("noun.shape", 1), ("noun.state", 1), ("noun.substance", 1), ("noun.time", 1), ("verb.body", 2),
    ("verb.change", 2), ("verb.cognition", 2), ("verb.communication", 2), ("verb.competition", 2),
    ("verb.consumption", 2), ("verb.contact", 2), ("verb.creation", 2), ("verb.emotion", 2), ("verb.motion", 2),
    ("verb.perception", 2), ("verb.possession", 2), ("verb.social", 2), ("verb.stative", 2), ("verb.weather", 2),
    ("adj.ppl", 3),
)
POS_FILES = tuple(f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")) + tuple(
    f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv"))
SENSE_INDEX = "index.sense"  # from wordnet-sense-index: sense keys (lemma → synset)
COUNTS = "cntlist.rev"  # how often each sense occurs in the SemCor corpus (nltk's Lemma.count())


def wordnet_source() -> Path:
    return Path(os.environ.get("MMDL_WORDNET", "/usr/share/wordnet"))


def lexnames_text() -> str:
    """The ``lexnames`` file: ``NN<TAB>name<TAB>category`` per line."""
    return "".join(f"{i:02d}\t{name}\t{category}\n" for i, (name, category) in enumerate(LEXNAMES))


def nltk_data_root(source: Path | None = None, root: Path | None = None) -> Path:
    """An nltk data root whose ``corpora/wordnet`` holds WordNet's files from ``source`` and
    ``lexnames``; built once (atomically) and reused."""
    source = source or wordnet_source()
    root = root or cache_dir() / "nltk_data"
    folder = root / "corpora" / "wordnet"
    if (folder / "lexnames").is_file():
        return root
    missing = [name for name in (*POS_FILES, SENSE_INDEX, COUNTS) if not (source / name).is_file()]
    if missing:
        raise MMDLError(f"WordNet 3.0 not found in {source} (missing {', '.join(missing[:4])}): on Debian or "
                        "Ubuntu run `apt-get install wordnet-base wordnet-sense-index` (scripts/install.sh does), "
                        "or set MMDL_WORDNET to a folder with WordNet's dict files")
    partial = folder.with_name(f"wordnet.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in (*POS_FILES, SENSE_INDEX, COUNTS):
        shutil.copyfile(source / name, partial / name)
    (partial / "lexnames").write_text(lexnames_text())
    try:
        partial.rename(folder)
    except OSError:  # another process finished first
        shutil.rmtree(partial, ignore_errors=True)
        if not (folder / "lexnames").is_file():
            raise
    return root


@lru_cache(maxsize=None)
def load_wordnet(root: Path | None = None):
    """nltk's ``WordNetCorpusReader`` over :func:`nltk_data_root` (no download)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = nltk_data_root(root=root)
    if str(root) not in nltk.data.path:
        nltk.data.path.insert(0, str(root))
    with warnings.catch_warnings():  # the English WordNet is all the book needs: no Open Multilingual Wordnet
        warnings.filterwarnings("ignore", message="The multilingual functions are not available")
        return WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)
