"""The style-transfer core: AdaIN, the SASSL block, weight loading, decoder training, previews."""

from __future__ import annotations

import torch
import torchvision
from click.testing import CliRunner
from PIL import Image

import pytest
from imagegen import write_image_folder
from sassl.cli import main
from sassl.style import (
    SASSL,
    AdaINStylizer,
    Decoder,
    SASSLParams,
    StylizerSpec,
    adain,
    apply_sassl,
    in_batch_styles,
    load_decoder,
    load_encoder,
    load_stylizer,
    sample_sassl_params,
    style_stats,
)
from sassl.style.adain import stats_code
from sassl.style.decoder import save_decoder
from sassl.style.preview import write_previews
from sassl.style.train import DecoderTrainConfig, train_decoder
from sassl.weights import WeightsError


@pytest.fixture(scope="module")
def nets() -> tuple:
    torch.manual_seed(1)
    enc, dec = load_encoder("random", allow_random=True), Decoder().eval()
    return enc, dec, AdaINStylizer(enc, dec, enc.fingerprint, "random")


def test_adain_gives_exactly_the_target_statistics() -> None:
    g = torch.Generator().manual_seed(0)
    content = torch.rand(3, 8, 5, 7, generator=g) * 4 + 1
    mean, std = torch.randn(3, 8, generator=g), torch.rand(3, 8, generator=g) + 0.5
    out_mean, out_std = style_stats(adain(content, mean, std))
    torch.testing.assert_close(out_mean, mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(out_std, std, atol=1e-4, rtol=1e-4)


def test_style_stats_follow_the_reference_definition() -> None:
    x = torch.arange(24.0).reshape(1, 2, 3, 4)
    mean, std = style_stats(x)
    flat = x.flatten(2)
    torch.testing.assert_close(mean, flat.mean(-1))
    torch.testing.assert_close(std, (flat.var(-1, unbiased=True) + 1e-5).sqrt())


def _params(n: int, alpha: float, beta: float, applied: bool = True) -> SASSLParams:
    return SASSLParams(torch.full((n,), applied), torch.full((n,), alpha), torch.full((n,), beta), in_batch_styles(n))


def test_beta_zero_gives_back_the_input(nets) -> None:
    enc, dec, st = nets
    x = torch.rand(3, 3, 32, 32)
    f = enc(x)
    out = apply_sassl(x, f, stats_code(f), stats_code(enc(x.flip(0))), _params(3, 0.3, 0.0), st)
    assert torch.equal(out, x)


def test_alpha_zero_keeps_the_content_statistics(nets) -> None:
    enc, dec, st = nets
    x = torch.rand(2, 3, 32, 32)
    f = enc(x)
    other = stats_code(enc(torch.rand(2, 3, 32, 32)))
    out = apply_sassl(x, f, stats_code(f), other, _params(2, 0.0, 1.0), st)
    reconstruction = dec(adain(f, *style_stats(f))).clamp(0, 1)
    torch.testing.assert_close(out, reconstruction, atol=1e-5, rtol=1e-5)


def test_alpha_one_beta_one_is_plain_adain_stylisation(nets) -> None:
    enc, dec, st = nets
    x, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    f_c, s_stats = enc(x), style_stats(enc(s))
    out = apply_sassl(x, f_c, stats_code(f_c), torch.stack(s_stats, 1), _params(2, 1.0, 1.0), st)
    torch.testing.assert_close(out, dec(adain(f_c, *s_stats)).clamp(0, 1), atol=1e-5, rtol=1e-5)


def test_stats_blend_equals_the_reference_feature_blend(nets) -> None:
    """AdaIN is linear in its target statistics: blending codes = the port's alpha*AdaIN(f_c, f_s) + (1-alpha)*f_c."""
    enc, dec, st = nets
    f_c, f_s = enc(torch.rand(2, 3, 32, 32)), enc(torch.rand(2, 3, 32, 32))
    alpha = torch.tensor([0.2, 0.7])
    code = st.blend(stats_code(f_c), stats_code(f_s), alpha)
    reference = alpha[:, None, None, None] * adain(f_c, *style_stats(f_s)) + (1 - alpha[:, None, None, None]) * f_c
    torch.testing.assert_close(adain(f_c, code[:, 0], code[:, 1]), reference, atol=1e-4, rtol=1e-4)


def test_unapplied_samples_are_untouched_and_applied_ones_change(nets) -> None:
    enc, dec, st = nets
    x = torch.rand(4, 3, 32, 32)
    params = _params(4, 0.2, 0.3)
    params.applied = torch.tensor([True, False, True, False])
    f = enc(x)
    out = apply_sassl(x, f, stats_code(f), stats_code(f), params, st)
    assert torch.equal(out[1], x[1]) and torch.equal(out[3], x[3])
    assert not torch.equal(out[0], x[0]) and not torch.equal(out[2], x[2])


def test_in_batch_styles_never_pair_a_sample_with_itself() -> None:
    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 7, 64):
        for _ in range(20):
            idx = in_batch_styles(n, g)
            assert sorted(idx.tolist()) == list(range(n))
            assert (idx != torch.arange(n)).all()
    assert in_batch_styles(1).tolist() == [0]


def test_parameters_follow_the_requested_distribution_and_replay() -> None:
    p = sample_sassl_params(20000, torch.Generator().manual_seed(3), p=0.8, alpha=(0.1, 0.3), beta=(0.2, 0.25))
    assert abs(p.applied.float().mean().item() - 0.8) < 0.02
    assert 0.1 <= p.alpha.min() and p.alpha.max() <= 0.3 and 0.2 <= p.beta.min() and p.beta.max() <= 0.25
    again = sample_sassl_params(20000, torch.Generator().manual_seed(3), p=0.8, alpha=(0.1, 0.3), beta=(0.2, 0.25))
    assert all(torch.equal(getattr(p, k), getattr(again, k)) for k in ("applied", "alpha", "beta", "style_index"))
    ext = sample_sassl_params(100, torch.Generator().manual_seed(0), num_styles=5)
    assert ext.style_index.min() >= 0 and ext.style_index.max() < 5
    with pytest.raises(ValueError, match="alpha"):
        sample_sassl_params(4, alpha=(0.3, 0.1))


def test_precomputed_features_give_the_online_result(nets) -> None:
    enc, dec, st = nets
    x = torch.rand(4, 3, 32, 32)
    out_online, params = SASSL(st)(x, generator=torch.Generator().manual_seed(5))
    render_only = AdaINStylizer(None, dec, enc.fingerprint, "random")
    out_bank, _ = SASSL(render_only)(x, content=enc(x), params=params)
    torch.testing.assert_close(out_bank, out_online)
    bank = torch.stack([torch.rand(6, 512), torch.rand(6, 512) + 0.1], 1)
    out_ext, p_ext = SASSL(render_only)(x, content=enc(x), style_codes=bank, generator=torch.Generator().manual_seed(5))
    assert p_ext.style_index.max() < 6 and out_ext.shape == x.shape
    with pytest.raises(RuntimeError, match="without its VGG encoder"):
        SASSL(render_only)(x)


def _reference_vgg_state() -> dict[str, torch.Tensor]:
    """A state dict with the exact key layout of AdaIN's vgg_normalised.pth (to relu5_4)."""
    from sassl.style.vgg import _layers

    net = torch.nn.Sequential(*_layers("adain"))
    return net.state_dict()


def test_reference_vgg_state_dict_loads_by_key(tmp_path) -> None:
    state = _reference_vgg_state()
    assert "0.weight" in state and "51.weight" in state and state["0.weight"].shape == (3, 3, 1, 1)
    torch.save(state, tmp_path / "vgg_normalised.pth")
    enc = load_encoder(tmp_path / "vgg_normalised.pth")
    torch.testing.assert_close(enc.net[29].weight, state["29.weight"])
    assert enc(torch.rand(1, 3, 64, 64)).shape == (1, 512, 8, 8)
    assert enc.fingerprint == load_encoder(tmp_path / "vgg_normalised.pth").fingerprint


def test_torchvision_vgg19_weights_reproduce_torchvision_features(tmp_path) -> None:
    tv = torchvision.models.vgg19(weights=None).eval()
    torch.save(tv.state_dict(), tmp_path / "vgg19.pth")
    enc = load_encoder(tmp_path / "vgg19.pth")
    x = torch.rand(2, 3, 64, 64)
    norm = torchvision.transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    with torch.no_grad():
        expected = tv.features[:21](norm(x))
    torch.testing.assert_close(enc(x), expected, atol=1e-4, rtol=1e-4)


def test_reference_decoder_state_dict_loads_by_key(tmp_path) -> None:
    ref_keys = {f"{i}.{p}" for i in (1, 5, 8, 11, 14, 18, 21, 25, 28) for p in ("weight", "bias")}
    state = Decoder().net.state_dict()
    assert set(state) == ref_keys
    torch.save(state, tmp_path / "decoder.pth")
    dec, expected = load_decoder(tmp_path / "decoder.pth")
    assert expected is None
    assert dec(torch.rand(1, 512, 4, 4)).shape == (1, 3, 32, 32)


def test_wrong_weight_files_give_one_clear_error(tmp_path) -> None:
    bad = Decoder().net.state_dict()
    del bad["28.bias"]
    bad["1.weight"] = torch.zeros(256, 512, 1, 1)
    bad["extra.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(WeightsError) as err:
        load_decoder(tmp_path / "bad.pth")
    msg = str(err.value)
    assert "bad.pth" in msg and "missing keys [28.bias]" in msg and "unexpected keys [extra.weight]" in msg
    assert "1.weight (256, 512, 1, 1) != expected (256, 512, 3, 3)" in msg and "\n" not in msg
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="junk.pth: not a readable weights-only torch file"):
        load_encoder(tmp_path / "junk.pth")
    with pytest.raises(WeightsError, match="missing.pth: weight file not found"):
        load_decoder(tmp_path / "missing.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="other.pth: neither an AdaIN vgg_normalised"):
        load_encoder(tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="--allow-random-weights"):
        load_encoder("random")


def test_torchvision_shape_error_names_the_key_in_the_file(tmp_path) -> None:
    state = {f"features.{k}": v for k, v in torchvision.models.vgg19(weights=None).features.state_dict().items()}
    state["features.2.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / "vgg19.pth")
    with pytest.raises(WeightsError, match=r"vgg19.pth: .*features\.2\.weight \(64, 3, 3, 3\) != expected \(64, 64, 3, 3\)"):
        load_encoder(tmp_path / "vgg19.pth")


def test_random_weights_warn_loudly() -> None:
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS for the VGG encoder"):
        load_encoder("random", allow_random=True)
    with pytest.warns(UserWarning, match="RANDOM WEIGHTS for the AdaIN decoder"):
        load_decoder("random", allow_random=True)


def test_weight_files_are_never_unpickled(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"state_dict": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match="evil.pth"):
        load_decoder(tmp_path / "evil.pth")


def test_decoder_for_another_encoder_is_refused(tmp_path, nets) -> None:
    save_decoder(Decoder(), tmp_path / "decoder.pth", encoder_fingerprint="0123456789abcdef")
    spec = StylizerSpec("adain", encoder_weights="random", decoder=str(tmp_path / "decoder.pth"), allow_random_weights=True)
    # rendering alone needs no encoder: the recorded pairing is what a bank's fingerprint is checked against
    assert load_stylizer(spec, "render").fingerprint == "0123456789abcdef"
    with pytest.raises(WeightsError, match="trained for encoder 0123456789abcdef"):
        load_stylizer(spec)
    enc = load_encoder("random", allow_random=True)
    save_decoder(Decoder(), tmp_path / "ok.pth", encoder_fingerprint=enc.fingerprint)
    st = load_stylizer(StylizerSpec("adain", encoder_weights="random", decoder=str(tmp_path / "ok.pth"), allow_random_weights=True))
    assert st.fingerprint == enc.fingerprint and st.encoder is not None
    # a reference decoder.pth records no encoder: the encoder named by --encoder-weights identifies the pair
    torch.save(Decoder().net.state_dict(), tmp_path / "reference.pth")
    st = load_stylizer(StylizerSpec("adain", encoder_weights="random", decoder=str(tmp_path / "reference.pth"),
                                    allow_random_weights=True), "render")
    assert st.fingerprint == enc.fingerprint and st.encoder is None
    with pytest.raises(WeightsError, match="needs --decoder"):
        load_stylizer(StylizerSpec("adain", encoder_weights="random", allow_random_weights=True))
    with pytest.raises(WeightsError, match="unknown stylizer 'nope'"):
        load_stylizer(StylizerSpec("nope"))


def test_decoder_training_lowers_its_loss_and_resumes(tmp_path) -> None:
    content = write_image_folder(tmp_path / "content", classes=2, per_class=4, size=40)
    style = write_image_folder(tmp_path / "style", classes=1, per_class=4, size=40, flat=True)
    cfg = DecoderTrainConfig(
        content=str(content), style=str(style), out=str(tmp_path / "run"), encoder="random",
        allow_random_weights=True, steps=40, batch_size=4, lr=1e-3, load_size=40, crop=32,
        ckpt_every=20, workers=0, style_weight=0.1,
    )
    train_decoder(cfg)
    losses = [float(line.split('"loss": ')[1].split(",")[0]) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    dec, expected = load_decoder(tmp_path / "run/decoder.pth")
    assert expected == load_encoder("random", allow_random=True).fingerprint
    cfg.steps, cfg.resume = 45, True
    summary = train_decoder(cfg)
    assert summary["steps"] == 45 and summary["first"]["step"] == 41


def test_preview_pngs_have_the_expected_size(tmp_path, nets) -> None:
    contents, styles = torch.rand(3, 3, 32, 32), torch.rand(2, 3, 32, 32)
    grid, sweep = write_previews(nets[2], contents, styles, tmp_path / "preview.png")
    # make_grid: columns * (32 + 2) + 2 pixels wide
    assert Image.open(grid).size == (3 * 34 + 2, 4 * 34 + 2)
    assert Image.open(sweep).size == (5 * 34 + 2, 6 * 34 + 2)


def test_stylizer_cli_trains_and_previews(tmp_path) -> None:
    images = write_image_folder(tmp_path / "imgs", classes=2, per_class=2, size=40)
    runner = CliRunner()
    res = runner.invoke(main, ["stylizer", "train", "--content", str(images), "--style", str(images),
                               "--out", str(tmp_path / "dec"), "--encoder-weights", "random", "--allow-random-weights",
                               "--steps", "3", "--batch-size", "2", "--load-size", "40", "--crop", "32", "--workers", "0"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["stylizer", "preview", "--content", str(images), "--style", str(images),
                               "--out", str(tmp_path / "p.png"), "--stylizer", "adain", "--decoder", str(tmp_path / "dec/decoder.pth"),
                               "--encoder-weights", "random", "--allow-random-weights", "--size", "32",
                               "--n-content", "2", "--n-style", "3"])
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "p.png").size == (4 * 34 + 2, 3 * 34 + 2)
    res = runner.invoke(main, ["stylizer", "preview", "--content", str(images), "--style", str(images),
                               "--out", str(tmp_path / "q.png"), "--stylizer", "adain", "--decoder", "random",
                               "--encoder-weights", "random"])
    assert res.exit_code != 0 and "--allow-random-weights" in res.output
    # the default stylizer is Ghiasi's with the installed real weights: no flag, no warning
    res = runner.invoke(main, ["stylizer", "preview", "--content", str(images), "--style", str(images),
                               "--out", str(tmp_path / "g.png"), "--size", "32", "--n-content", "2", "--n-style", "3"])
    assert res.exit_code == 0, res.output
    assert "RANDOM" not in res.output and Image.open(tmp_path / "g.png").size == (4 * 34 + 2, 3 * 34 + 2)
