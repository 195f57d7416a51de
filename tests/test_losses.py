"""Each loss against values worked out by hand on tiny inputs, or against a float64 transcription of
the paper's pseudocode (an independent reference: written from the paper, not from our code)."""

import math

import pytest
import torch

from sassl.train.losses import barlow_twins, info_nce, negative_cosine, normalized_mse, nt_xent


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


def _barlow_twins_paper(z_a, z_b, lambd):
    """Zbontar et al. 2021, Algorithm 1, in float64 (torch's std is the unbiased one, as in the paper)."""
    z_a, z_b = z_a.double(), z_b.double()
    n, d = z_a.shape
    z_a_norm = (z_a - z_a.mean(0)) / z_a.std(0)
    z_b_norm = (z_b - z_b.mean(0)) / z_b.std(0)
    c = z_a_norm.T @ z_b_norm / n
    c_diff = (c - torch.eye(d, dtype=torch.float64)).pow(2)
    off = ~torch.eye(d, dtype=torch.bool)
    c_diff[off] *= lambd
    return c_diff.sum()


def test_barlow_twins_matches_the_papers_pseudocode():
    g = torch.Generator().manual_seed(0)
    for n, d in ((16, 8), (64, 32)):
        z1, z2 = torch.randn(n, d, generator=g) * 3 + 1, torch.randn(n, d, generator=g)
        z2 = z2 + 0.5 * z1  # correlated views
        got = barlow_twins(z1, z2, lambd=5e-3).item()
        assert got == pytest.approx(_barlow_twins_paper(z1, z2, 5e-3).item(), rel=1e-4)
    # identical views, centred orthogonal dimensions: C = (n-1)/n I (unbiased std), loss d / n^2
    x = torch.randn(64, 8, generator=g, dtype=torch.float64)
    z = torch.linalg.qr(x - x.mean(0))[0].float() * 8
    assert barlow_twins(z, z.clone()).item() == pytest.approx(8 / 64**2, rel=1e-2)


def _simsiam_paper(p1, p2, z1, z2):
    """Chen & He 2021, Algorithm 1: L = D(p1, z2)/2 + D(p2, z1)/2, D = -cos with stop-gradient on z."""
    def d(p, z):
        z = z.detach()
        p = p / p.norm(dim=1, keepdim=True)
        z = z / z.norm(dim=1, keepdim=True)
        return -(p * z).sum(dim=1).mean()
    return d(p1, z2) / 2 + d(p2, z1) / 2


def test_simsiam_loss_matches_the_papers_pseudocode_and_stops_gradients():
    g = torch.Generator().manual_seed(1)
    p1, p2, z1, z2 = (torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(4))
    got = negative_cosine(p1, p2, z1, z2)
    assert got.item() == pytest.approx(_simsiam_paper(p1, p2, z1, z2).item(), rel=1e-6)
    got.backward()
    assert p1.grad is not None and p2.grad is not None and z1.grad is None and z2.grad is None
    x = torch.randn(3, 4, generator=g)
    assert negative_cosine(x, x, 2 * x, x).item() == pytest.approx(-1.0)
