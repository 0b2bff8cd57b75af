"""WordNet offline (mmdl_lib/data/wordnet.py) and the distance-based OOD concepts built on it
(mmdl_lib/data/ood_concepts.py), checked against nltk's own path distance."""

import pytest

from mmdl_lib.chapters.text_ood_segmentation.ood_concepts import (CITYSCAPES_DISGUISES, CITYSCAPES_SYNSETS,
                                                                  DEFAULT_BANDS, concept_pool, pick_concepts)
from mmdl_lib.chapters.text_ood_segmentation.wordnet import LEXNAMES, lexnames_text, load_wordnet, nltk_data_root
from mmdl_lib.errors import MMDLError


@pytest.fixture(scope="module")
def wn(tmp_path_factory):
    return load_wordnet(tmp_path_factory.mktemp("nltk_data"))


@pytest.fixture(scope="module")
def pool(wn):
    return concept_pool(wn)


def test_wordnet_loads_offline_with_its_lexnames(wn):
    assert len(LEXNAMES) == 45 and lexnames_text().splitlines()[6] == "06\tnoun.artifact\t1"
    car = wn.synset("car.n.01")
    assert car.lexname() == "noun.artifact" and "motor vehicle" in car.definition()
    assert wn.synset("dog.n.01").shortest_path_distance(wn.synset("cat.n.01")) == 4


def test_missing_wordnet_says_how_to_install_it(tmp_path):
    with pytest.raises(MMDLError, match="apt-get install wordnet-base wordnet-sense-index"):
        nltk_data_root(source=tmp_path / "nowhere", root=tmp_path / "nltk_data")


def test_every_band_holds_concepts_at_its_distance(wn, pool):
    classes = [wn.synset(key) for key in CITYSCAPES_SYNSETS.values()]
    for band, (low, high) in DEFAULT_BANDS.items():
        assert len(pool[band]) >= 50, band
        for concept in pick_concepts(pool, per_band=15)[band]:
            synset = wn.synset(concept.synset)
            distances = [synset.shortest_path_distance(c) for c in classes]
            nearest = min(d for d in distances if d is not None)
            assert nearest == concept.distance and low <= nearest <= high, (band, concept)


def test_no_in_distribution_class_leaks_in(wn, pool):
    classes = [wn.synset(key) for key in CITYSCAPES_SYNSETS.values()]
    class_words = {w.lower() for c in classes for w in c.lemma_names()}
    ancestors_of_classes = {a for c in classes for path in c.hypernym_paths() for a in path}
    for concept in (c for found in pool.values() for c in found):
        synset = wn.synset(concept.synset)
        own_ancestors = {a for path in synset.hypernym_paths() for a in path}
        assert not own_ancestors & set(classes), f"{concept.synset} is a kind of an in-distribution class"
        assert synset not in ancestors_of_classes, f"{concept.synset} includes an in-distribution class"
        assert not {w.lower() for w in synset.lemma_names()} & class_words, concept.synset
    names = {c.synset for found in pool.values() for c in found}
    assert "sedan.n.01" not in names and "vehicle.n.01" not in names and "bus.n.04" not in names  # known leaks


def test_no_class_in_disguise_leaks_in(wn, pool):
    """A metro is seen as its trains, a tram is labelled "train", an oak is "vegetation": WordNet files
    them away from the class's synset, Cityscapes' label definitions do not."""
    names = {c.synset for found in pool.values() for c in found}
    words = {c.name.lower() for found in pool.values() for c in found}
    for leak in ("metro.n.01", "streetcar.n.01", "locomotive.n.01", "freight_car.n.01", "oak.n.02", "grass.n.01",
                 "motor_scooter.n.01", "lamppost.n.01"):
        assert leak not in names, leak
    assert not words & {"metro", "subway", "tube", "tram", "tree", "bush"}  # no disguise by name either
    disguised = {wn.synset(key) for keys in CITYSCAPES_DISGUISES.values() for key in keys}
    for concept in (c for found in pool.values() for c in found):
        own_ancestors = {a for path in wn.synset(concept.synset).hypernym_paths() for a in path}
        assert not own_ancestors & disguised, f"{concept.synset} is a kind of what a class's label covers"


def test_picks_are_reproducible_and_depend_on_the_seed(pool):
    first, again, other = pick_concepts(pool, 8, seed=0), pick_concepts(pool, 8, seed=0), pick_concepts(pool, 8, seed=1)
    assert first == again and first != other and all(len(v) == 8 for v in first.values())
