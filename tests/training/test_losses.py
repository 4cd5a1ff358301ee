"""Each named loss trains: a finite loss whose gradient reaches the embeddings."""

import pytest
import torch

from fashion_search.errors import RecipeError
from fashion_search.training.losses import LOSSES, make_loss

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_each_loss_gives_a_finite_value_whose_gradient_reaches_the_embeddings(name):
    torch.manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(16, 8), dim=1).requires_grad_()
    labels = torch.arange(4).repeat_interleave(4)
    loss = make_loss(name, classes=4, dim=8)(embeddings, labels)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0


def test_a_proxy_loss_holds_one_learnable_proxy_per_class_and_the_others_none():
    proxies = list(make_loss("proxy_anchor", classes=5, dim=8).loss.parameters())
    assert [tuple(p.shape) for p in proxies] == [(5, 8)] and proxies[0].requires_grad
    assert not list(make_loss("triplet_hard", classes=5, dim=8).loss.parameters())


def test_an_unknown_loss_names_the_choices():
    with pytest.raises(RecipeError, match=r"unknown loss 'arcface'; choose one of \['multi"):
        make_loss("arcface", classes=5, dim=8)
