"""Each loss against values worked out by hand on tiny inputs."""

import math

import pytest
import torch

from sassl.train.losses import info_nce, normalized_mse, nt_xent


def test_nt_xent_two_pairs_by_hand():
    # z1 = [e0, e1], z2 = [e0, e1]: for anchor e0 the positive has cos 1, the two others cos 0.
    e = torch.eye(2)
    t = 0.5
    got = nt_xent(e, e.clone(), temperature=t)
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * math.exp(0)))
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_perfectly_aligned_orthogonal_batch_is_log_of_negatives():
    # 4 orthogonal images, both views identical: loss = -log(e^{1/T} / (e^{1/T} + 6 e^0))
    z = torch.eye(4) * 3.0  # scale must not matter (embeddings are normalised)
    t = 0.1
    expected = math.log(1 + 6 * math.exp(-1 / t))
    assert nt_xent(z, z.clone(), t).item() == pytest.approx(expected, abs=1e-7)


def test_nt_xent_uses_other_view_as_positive_not_itself():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # swapped: positives are orthogonal, a negative aligned
    t = 1.0
    # anchor z1[0]=e0: positive z2[0]=e1 (cos 0), negatives z1[1]=e1 (0), z2[1]=e0 (1)
    expected = -math.log(1 / (1 + 1 + math.e))
    assert nt_xent(z1, z2, t).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_by_hand():
    q = torch.tensor([[1.0, 0.0]])
    k = torch.tensor([[1.0, 0.0]])
    queue = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    t = 0.2
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(0) + math.exp(-1 / t)))
    assert info_nce(q, k, queue, t).item() == pytest.approx(expected, abs=1e-7)


def test_info_nce_gradient_only_through_query():
    q = torch.randn(3, 4, requires_grad=True)
    k = torch.randn(3, 4, requires_grad=True)
    info_nce(q, k, torch.nn.functional.normalize(torch.randn(5, 4), dim=1)).backward()
    assert q.grad is not None and k.grad is None


def test_normalized_mse_aligned_is_zero_and_opposite_is_four():
    p = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    assert normalized_mse(p, p * 5).item() == pytest.approx(0.0, abs=1e-7)
    assert normalized_mse(p, -p).item() == pytest.approx(4.0)
    # orthogonal: 2 - 2*0 = 2
    assert normalized_mse(p, p.flip(1)).item() == pytest.approx(2.0)
