"""Distance-based OOD concepts from WordNet (chapter 04, TDOS): concrete nouns at a controlled
semantic distance from the in-distribution classes, whose names become the text prompts that
sharpen the boundary between "a Cityscapes class" and "something else on the road".

The distance between two synsets is WordNet's path distance, as nltk's ``shortest_path_distance``
defines it: the fewest hypernym edges from both to a common ancestor. A concept's distance to the
in-distribution set is its smallest distance to any class. Bands (e.g. near 3–5, mid 6–8, far
9–12) pick concepts that are almost a known class, related, or unrelated. A candidate never
*is* an in-distribution class: it is neither a hyponym (a sedan is a car) nor a hypernym (a
vehicle includes cars) of one, and none of its names is a class's name ("bus" the computer part
would prompt "bus"). Candidates are concrete nouns a reader knows: senses that occur in WordNet's
SemCor counts, and no taxonomic groups (genus and family names). A class's WordNet synset is
narrower than what Cityscapes labels with it (its "train" covers trams; a metro is seen as its
trains): :data:`CITYSCAPES_DISGUISES` lists those synsets, and their families and names are excluded
too.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ...cache import cache_key, cached_folder
from ...progress import tqdm
from .wordnet import load_wordnet

# Cityscapes' 19 classes (train-id order) as WordNet 3.0 synsets.
CITYSCAPES_SYNSETS = {
    "road": "road.n.01", "sidewalk": "sidewalk.n.01", "building": "building.n.01", "wall": "wall.n.01",
    "fence": "fence.n.01", "pole": "pole.n.01", "traffic light": "traffic_light.n.01",
    "traffic sign": "street_sign.n.01", "vegetation": "vegetation.n.01", "terrain": "terrain.n.01",
    "sky": "sky.n.01", "person": "person.n.01", "rider": "rider.n.01", "car": "car.n.01", "truck": "truck.n.01",
    "bus": "bus.n.01", "train": "train.n.01", "motorcycle": "motorcycle.n.01", "bicycle": "bicycle.n.01",
}
# What Cityscapes' label definitions put in a class that WordNet files elsewhere: a concept in one of
# these families is a class in disguise (a metro's visible part is its trains; Cityscapes labels trams
# "train", scooters "motorcycle", lampposts "pole", trees and hedges "vegetation", grass "terrain").
CITYSCAPES_DISGUISES = {
    "train": ("subway.n.01", "streetcar.n.01", "locomotive.n.01", "railcar.n.01"),
    "motorcycle": ("motor_scooter.n.01",),
    "pole": ("lamppost.n.01", "signpost.n.01"),
    "vegetation": ("tree.n.01", "shrub.n.01"),
    "terrain": ("grass.n.01",),
}
# Lexicographer files of things a camera can see on a road.
CONCRETE_LEXNAMES = ("noun.animal", "noun.artifact", "noun.object", "noun.plant", "noun.food")
DEFAULT_BANDS = {"near": (3, 5), "mid": (6, 8), "far": (9, 12)}


@dataclass(frozen=True)
class OODConcept:
    synset: str  # e.g. "wheelbarrow.n.01"
    name: str  # the prompt's word: the synset's first lemma, spaces for underscores
    distance: int  # to the nearest in-distribution class
    nearest: str  # that class


def ancestor_distances(synset) -> dict:
    """Every hypernym (instance hypernyms too) of ``synset`` and itself → fewest edges up to it."""
    found: dict = {}
    for ancestor, distance in synset.hypernym_distances():
        found[ancestor] = min(distance, found.get(ancestor, distance))
    return found


def distance_to_classes(mine: dict, classes: Mapping[str, dict]) -> tuple[int, str] | None:
    """(path distance, class) from a synset to the nearest of ``classes``, all given by their
    :func:`ancestor_distances`."""
    best: tuple[int, str] | None = None
    for name, theirs in classes.items():
        common = mine.keys() & theirs.keys()
        if common:
            distance = min(mine[a] + theirs[a] for a in common)
            if best is None or distance < best[0]:
                best = (distance, name)
    return best


def in_distribution_family(synsets: Iterable) -> set:
    """The classes' synsets, all their hypernyms and all their hyponyms (instances included)."""
    family: set = set()
    for synset in synsets:
        family |= {synset} | set(synset.closure(lambda s: s.hypernyms() + s.instance_hypernyms()))
        family |= set(synset.closure(lambda s: s.hyponyms() + s.instance_hyponyms()))
    return family


def concept_pool(wn, classes: Mapping[str, str] = CITYSCAPES_SYNSETS,
                 bands: Mapping[str, tuple[int, int]] = DEFAULT_BANDS, lexnames: Iterable[str] = CONCRETE_LEXNAMES,
                 min_count: int = 1,
                 disguises: Mapping[str, Iterable[str]] = CITYSCAPES_DISGUISES) -> dict[str, list[OODConcept]]:
    """Every candidate per distance band (inclusive bounds), sorted by synset: the nouns of
    ``lexnames`` seen at least ``min_count`` times in SemCor, outside the family of the classes and of
    their ``disguises`` (synsets a class's label definition covers), sharing no name with either and
    not a taxonomic group. Distances are to the classes' own synsets."""
    id_synsets = {name: wn.synset(key) for name, key in classes.items()}
    disguised = [wn.synset(key) for keys in disguises.values() for key in keys]
    family = in_distribution_family([*id_synsets.values(), *disguised])
    id_words = {w.lower() for s in [*id_synsets.values(), *disguised] for w in s.lemma_names()} | {
        n.lower().replace(" ", "_") for n in classes}
    ancestors = {name: ancestor_distances(s) for name, s in id_synsets.items()}
    allowed, top = set(lexnames), max(high for _, high in bands.values())
    taxonomic = wn.synset("taxonomic_group.n.01")
    pool: dict[str, list[OODConcept]] = {band: [] for band in bands}
    for synset in tqdm(list(wn.all_synsets("n")), desc="WordNet nouns", mininterval=5):
        if (synset.lexname() not in allowed or synset in family or synset.instance_hypernyms()
                or any(w.lower() in id_words for w in synset.lemma_names())
                or sum(lemma.count() for lemma in synset.lemmas()) < min_count):
            continue
        mine = ancestor_distances(synset)
        if taxonomic in mine:
            continue
        nearest = distance_to_classes(mine, ancestors)
        if nearest is None or nearest[0] > top:
            continue
        for band, (low, high) in bands.items():
            if low <= nearest[0] <= high:
                pool[band].append(OODConcept(synset.name(), synset.lemma_names()[0].replace("_", " "), *nearest))
    return {band: sorted(found, key=lambda c: c.synset) for band, found in pool.items()}


def pick_concepts(pool: Mapping[str, list[OODConcept]], per_band: int = 10, seed: int = 0) -> dict[str, list[OODConcept]]:
    """``per_band`` concepts of each band of :func:`concept_pool`, drawn with ``seed``, nearest first."""
    rng = random.Random(seed)
    return {band: sorted(rng.sample(list(found), min(per_band, len(found))), key=lambda c: (c.distance, c.synset))
            for band, found in pool.items()}


def cached_concepts(per_band: int = 10, seed: int = 0) -> dict[str, list[dict]]:
    """:func:`pick_concepts` over WordNet's noun scan, as plain dicts, cached on disk (the scan takes
    tens of seconds); ``per_band`` 0: no concepts, and WordNet is not read (chapter 04)."""

    if per_band <= 0:
        return {band: [] for band in DEFAULT_BANDS}

    def build(folder) -> None:
        picked = pick_concepts(concept_pool(load_wordnet()), per_band, seed)
        (folder / "concepts.json").write_text(json.dumps(
            {band: [dataclasses.asdict(c) for c in concepts] for band, concepts in picked.items()}, indent=1))

    key = cache_key({"bands": DEFAULT_BANDS, "per_band": per_band, "seed": seed, "version": 2})  # 2: disguises
    folder, _ = cached_folder("ood_concepts", key, build)
    return json.loads((folder / "concepts.json").read_text())
