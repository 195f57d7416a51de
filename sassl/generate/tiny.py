"""Tiny randomly initialised diffusers pipelines, saved in the real diffusers layout, built offline.

For tests, benchmarks and smoke runs of ``sassl generate`` where no weights can be downloaded: the
saved folder is loaded back by path exactly as a real model is. Their images are noise, not views.
The configurations are those of diffusers' own fast tests (UNet blocks (32, 64), CLIP hidden size 32,
5 layers), with 16 px latents and a 2-level VAE (32 px images). Those tests download only the
tokenizer; here a CLIPTokenizer is built from a hand-written vocabulary and a header-only merges
file (the prompt sassl sends is empty).
"""

from __future__ import annotations

import json
from pathlib import Path

HIDDEN = 32


def _tokenizer(tmp: Path):
    from transformers import CLIPTokenizer

    tmp.mkdir(parents=True, exist_ok=True)
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    (tmp / "vocab.json").write_text(json.dumps(vocab))
    (tmp / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(tmp / "vocab.json"), str(tmp / "merges.txt"), model_max_length=77)


def _vision(projection: int):
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=HIDDEN, projection_dim=projection, num_hidden_layers=5, num_attention_heads=4,
        image_size=32, intermediate_size=37, patch_size=1))
    return CLIPImageProcessor(crop_size=32, size=32), encoder.eval()


def _vae():
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                         up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D")).eval()


def save_unclip(folder: Path) -> Path:
    """A tiny StableUnCLIPImg2ImgPipeline (16 px latents, 32 px images) saved to ``folder``."""
    import torch
    from diffusers import DDIMScheduler, DDPMScheduler, StableUnCLIPImg2ImgPipeline, UNet2DConditionModel
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer
    from transformers import CLIPTextConfig, CLIPTextModel

    feature_extractor, image_encoder = _vision(HIDDEN)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, hidden_size=HIDDEN, projection_dim=32, intermediate_size=37,
        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=5, pad_token_id=1, vocab_size=1000)).eval()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), block_out_channels=(32, 64), attention_head_dim=(2, 4),
        class_embed_type="projection", projection_class_embeddings_input_dim=HIDDEN * 2,
        cross_attention_dim=HIDDEN, layers_per_block=1, upcast_attention=True, use_linear_projection=True).eval()
    pipe = StableUnCLIPImg2ImgPipeline(
        feature_extractor=feature_extractor, image_encoder=image_encoder,
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=HIDDEN).eval(),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"),
        tokenizer=_tokenizer(folder.parent / f"{folder.name}-tokenizer"), text_encoder=text_encoder, unet=unet,
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                prediction_type="v_prediction", set_alpha_to_one=False, steps_offset=1),
        vae=_vae())
    pipe.save_pretrained(folder)
    return folder


def save_image_variation(folder: Path) -> Path:
    """A tiny StableDiffusionImageVariationPipeline (no tokenizer at all) saved to ``folder``."""
    import torch
    from diffusers import PNDMScheduler, StableDiffusionImageVariationPipeline, UNet2DConditionModel

    feature_extractor, image_encoder = _vision(HIDDEN)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=HIDDEN).eval()
    pipe = StableDiffusionImageVariationPipeline(
        vae=_vae(), image_encoder=image_encoder, unet=unet, scheduler=PNDMScheduler(skip_prk_steps=True),
        safety_checker=None, feature_extractor=feature_extractor, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder
