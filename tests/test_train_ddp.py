"""Two gloo processes: gathered contrastive negatives give the single-process loss and gradient, and
whole DDP training runs (plain SimCLR, SimSiam + AugSelf, MoCo + CASSLE) complete with one checkpoint."""

import math
import os
import socket
import warnings

import pytest
import torch
import torch.multiprocessing as mp

from sassl.train.losses import nt_xent

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, folder: str, out: str, results: dict) -> None:
    warnings.simplefilter("ignore")
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from train_helpers import small_config

    from sassl.train.loop import train

    summary = train(small_config(out, method="simclr", images=folder, style="none", steps=2, device="cpu",
                                 method_options={"proj_hidden": 32, "proj_dim": 16}))
    aware = [
        train(small_config(out + "-augself", method="simsiam", images=folder, style="none", steps=2, device="cpu",
                           augself="crop,color,flip", method_options={"proj_hidden": 32, "proj_dim": 16,
                                                                      "pred_hidden": 8})),
        train(small_config(out + "-cassle", method="moco", images=folder, style="none", steps=2, device="cpu",
                           cassle="crop,color,color_diff,blur,grayscale,flip")),
    ]
    z = torch.randn(8, 6, generator=torch.Generator().manual_seed(0))
    local = [z[:4][rank * 2 : rank * 2 + 2].clone().requires_grad_(), z[4:][rank * 2 : rank * 2 + 2].clone().requires_grad_()]
    loss = nt_xent(*local, temperature=0.5)
    loss.backward()
    results[rank] = (summary.steps, loss.item(), local[0].grad.clone(), local[1].grad.clone(),
                     [(a.steps, a.losses) for a in aware])
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_process_gloo_run_and_gathered_loss(tmp_path):
    from imagegen import write_image_folder

    folder = write_image_folder(tmp_path / "img", classes=2, per_class=8, size=32)
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(_free_port(), str(folder), str(tmp_path / "run"), results), nprocs=WORLD, join=True)
        results = dict(results)
    assert [results[r][0] for r in range(WORLD)] == [2, 2]
    assert (tmp_path / "run" / "last.pt").exists() and (tmp_path / "run" / "views.png").exists()
    for i, name in enumerate(("run-augself", "run-cassle")):
        assert (tmp_path / name / "last.pt").exists()
        assert [results[r][4][i][0] for r in range(WORLD)] == [2, 2]
        assert all(math.isfinite(x) for r in range(WORLD) for x in results[r][4][i][1])
    z = torch.randn(8, 6, generator=torch.Generator().manual_seed(0))
    z1, z2 = z[:4].clone().requires_grad_(), z[4:].clone().requires_grad_()
    full = nt_xent(z1, z2, temperature=0.5)
    full.backward()
    assert sum(results[r][1] for r in range(WORLD)) / WORLD == pytest.approx(full.item(), rel=1e-5)
    for r in range(WORLD):  # DDP divides the summed gradient by the world size
        assert torch.allclose(results[r][2] / WORLD, z1.grad[r * 2 : r * 2 + 2], atol=1e-6)
        assert torch.allclose(results[r][3] / WORLD, z2.grad[r * 2 : r * 2 + 2], atol=1e-6)
