"""The neighbour vote names the catalogue's own categories, with the classifier as a prior."""

import pytest

from fashion_search.category_vote import vote

pytestmark = pytest.mark.unit


def test_the_closest_neighbours_outvote_many_distant_ones():
    ranked = vote(["Tshirts", "Tshirts", "Tops", "Tops", "Tops"],
                  [0.95, 0.94, 0.70, 0.70, 0.70], temperature=0.05)
    assert ranked[0][0] == "Tshirts"
    assert sum(share for _, share in ranked) == pytest.approx(1.0)


def test_the_classifier_prior_joins_only_where_its_names_match_the_catalogue():
    prior = {"dress": 0.9, "t-shirt": 0.1}
    ranked = dict(vote(["Dress", "Skirt"], [0.80, 0.80], prior, known=["Dress", "Skirt"],
                       prior_weight=0.5))
    assert ranked["Dress"] > ranked["Skirt"]
    assert "t-shirt" not in ranked and "dress" not in ranked  # only the catalogue's spelling


def test_a_prior_whose_names_match_nothing_leaves_the_vote_alone():
    plain = vote(["Tshirts", "Tops"], [0.9, 0.8])
    assert vote(["Tshirts", "Tops"], [0.9, 0.8], {"dress": 1.0}, ["Tshirts", "Tops"]) == plain


def test_no_neighbours_and_no_prior_gives_no_guess():
    assert vote([], []) == []
