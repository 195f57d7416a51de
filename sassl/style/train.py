"""Training the AdaIN decoder (``sassl stylizer train``).

Losses follow Huang & Belongie (2017) and the common PyTorch port: the decoded image is re-encoded;
the content loss compares its relu4_1 features with the AdaIN target t (not with the content
features), the style loss compares per-channel mean and std at relu1_1..relu4_1 with the style
image's. Adam with the port's inverse learning-rate decay. Checkpoints are atomic and ``--resume``
continues from the last one; the finished decoder is written as ``decoder.pth`` with the encoder
fingerprint it was trained against.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from sassl.atomic import atomic_torch_save
from sassl.device import resolve_device
from sassl.sources import check_image_source
from sassl.style.adain import adain, style_stats
from sassl.style.decoder import Decoder, save_decoder
from sassl.style.images import RandomCrops
from sassl.style.vgg import VGGEncoder, load_encoder
from sassl.weights import WeightsError


@dataclass
class DecoderTrainConfig:
    """Settings of a decoder training run; defaults are the reference port's."""

    content: str
    style: str
    out: str
    encoder: str = "torchvision"
    allow_random_weights: bool = False
    steps: int = 160_000
    batch_size: int = 8
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    content_weight: float = 1.0
    load_size: int = 512
    crop: int = 256
    ckpt_every: int = 1000
    workers: int = 2
    seed: int = 0
    device: str = "auto"
    resume: bool = False


def decoder_losses(
    encoder: VGGEncoder, decoder: Decoder, content: torch.Tensor, style: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(content loss, style loss) for one batch of content and style images in [0, 1]."""
    with torch.no_grad():
        style_feats = encoder.forward_all(style)
        target = adain(encoder(content), *style_stats(style_feats[-1]))
    out_feats = encoder.forward_all(decoder(target))
    loss_c = F.mse_loss(out_feats[-1], target)
    loss_s = content.new_zeros(())
    for of, sf in zip(out_feats, style_feats):
        om, os_ = style_stats(of)
        sm, ss = style_stats(sf)
        loss_s = loss_s + F.mse_loss(om, sm) + F.mse_loss(os_, ss)
    return loss_c, loss_s


def _batches(spec: str, cfg: DecoderTrainConfig, seed: int) -> DataLoader:
    data = RandomCrops(spec, cfg.load_size, cfg.crop, seed)
    return DataLoader(data, batch_size=cfg.batch_size, num_workers=cfg.workers, persistent_workers=cfg.workers > 0)


def train_decoder(cfg: DecoderTrainConfig) -> dict:
    """Train (or resume training) a decoder; returns a summary with the first and last losses."""
    out = Path(cfg.out)
    check_image_source(cfg.content, "--content")
    check_image_source(cfg.style, "--style")
    ckpt_path = out / "checkpoint.pt"
    device = resolve_device(cfg.device)
    encoder = load_encoder(cfg.encoder, cfg.allow_random_weights).to(device)
    out.mkdir(parents=True, exist_ok=True)  # only once the inputs are known to be usable
    torch.manual_seed(cfg.seed)
    decoder = Decoder().to(device)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    step = 0
    if cfg.resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if ckpt["encoder_fingerprint"] != encoder.fingerprint:
            raise WeightsError(
                f"{ckpt_path}: was trained with encoder {ckpt['encoder_fingerprint']}, "
                f"but --encoder-weights gives {encoder.fingerprint}"
            )
        decoder.net.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        step = int(ckpt["step"])
        torch.set_rng_state(ckpt["rng"])
    # a resumed run draws a fresh, still deterministic, data order
    contents = iter(_batches(cfg.content, cfg, cfg.seed * 2 + step))
    styles = iter(_batches(cfg.style, cfg, cfg.seed * 2 + 1 + step))
    log = (out / "metrics.jsonl").open("a")
    first = last = None
    bar = tqdm(total=cfg.steps, initial=step, desc="decoder", unit="step")
    while step < cfg.steps:
        for group in opt.param_groups:
            group["lr"] = cfg.lr / (1.0 + cfg.lr_decay * step)
        c = next(contents).to(device).float().div_(255)
        s = next(styles).to(device).float().div_(255)
        loss_c, loss_s = decoder_losses(encoder, decoder, c, s)
        loss = cfg.content_weight * loss_c + cfg.style_weight * loss_s
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; last checkpoint kept at {ckpt_path}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        rec = {"step": step, "loss": loss.item(), "content": loss_c.item(), "style": loss_s.item(), "lr": opt.param_groups[0]["lr"]}
        log.write(json.dumps(rec) + "\n")
        first = first or rec
        last = rec
        bar.update(1)
        bar.set_postfix(loss=f"{rec['loss']:.3f}")
        if step % cfg.ckpt_every == 0 or step == cfg.steps:
            log.flush()
            atomic_torch_save(
                {
                    "state_dict": decoder.net.state_dict(),
                    "optimizer": opt.state_dict(),
                    "step": step,
                    "rng": torch.get_rng_state(),
                    "encoder_fingerprint": encoder.fingerprint,
                    "config": {k: v for k, v in asdict(cfg).items()},
                },
                ckpt_path,
            )
    bar.close()
    log.close()
    save_decoder(decoder.cpu(), out / "decoder.pth", encoder.fingerprint)
    return {"steps": step, "first": first, "last": last, "decoder": str(out / "decoder.pth"), "encoder_fingerprint": encoder.fingerprint}
