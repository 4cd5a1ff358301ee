"""Every batch carries positives: both photos of each pair, several per category."""

from collections import Counter

import pytest

from fashion_search.errors import RecipeError
from fashion_search.training.sampler import PairAndClassSampler

pytestmark = pytest.mark.unit


def test_an_epoch_visits_every_pair_once_with_classes_in_groups():
    labels = [n % 5 for n in range(100)]
    sampler = PairAndClassSampler(50, labels, pairs=8, classes=3, per_class=4, seed=0)
    batches = list(sampler.epoch(0))
    assert len(batches) == len(sampler) == 7
    assert sorted(p for b in batches for p in b.pairs) == list(range(50))
    for batch in batches:
        counts = Counter(labels[i] for i in batch.categorised)
        assert len(counts) == 3 and set(counts.values()) == {4}


def test_epochs_differ_but_repeat_for_the_same_seed():
    labels = [n % 4 for n in range(40)]
    first = [b.pairs for b in PairAndClassSampler(20, labels, 4, 2, 2, seed=3).epoch(0)]
    again = [b.pairs for b in PairAndClassSampler(20, labels, 4, 2, 2, seed=3).epoch(0)]
    later = [b.pairs for b in PairAndClassSampler(20, labels, 4, 2, 2, seed=3).epoch(1)]
    assert first == again != later


def test_categories_alone_still_make_batches():
    sampler = PairAndClassSampler(0, [0, 0, 1, 1, 2, 2], pairs=8, classes=2, per_class=2)
    batch = next(sampler.epoch(0))
    assert batch.pairs == [] and len(batch.categorised) == 4


def test_nothing_to_train_on_is_refused():
    with pytest.raises(RecipeError, match="nothing to train on"):
        PairAndClassSampler(0, [], 8, 2, 2)
