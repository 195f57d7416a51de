"""Reading the weights of a quantized ONNX graph without running it.

Magenta's Ghiasi et al. networks are published as int8 TFLite models; the copies sassl loads are those
models converted to ONNX (tf2onnx), where every weight is an int8 (bias: int32) initializer behind a
``DequantizeLinear`` node and every activation is wrapped in a Quantize/Dequantize pair. sassl runs
its own float PyTorch modules instead (batched, any size, CUDA, autocast), so it only needs the
weights: this module turns a graph into dequantized convolutions plus the attributes the loader
must check (kernel, stride, groups, padding), and keeps a record of which initializers were used so
that a graph with weights the modules do not account for is refused instead of silently half-loaded.

Only the ``onnx`` package (protobuf parsing) is needed; onnxruntime is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from sassl.weights import WeightsError

# Inputs that configure an op rather than feed it data: quantisation scales and zero points, shapes,
# pad amounts, resize factors, clip bounds. Every other initializer is data and must be used.
_AUX_INPUTS = {"QuantizeLinear", "DequantizeLinear", "Reshape", "Pad", "Resize", "Clip"}
# Ops that only move or (de)quantize a tensor: walked through when looking for a conv's padding.
_PASS_THROUGH = {"QuantizeLinear", "DequantizeLinear", "Transpose", "Identity"}


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int = 1) -> np.ndarray:
    """ONNX ``DequantizeLinear``: ``(q - zero_point) * scale`` in float32, exactly as the spec says.

    Per-axis parameters (1-D ``scale``) broadcast along ``axis`` (conv weights: axis 0, one scale per
    output channel); the subtraction is done in int64 so int32 biases do not overflow.
    """
    q = np.asarray(q)
    scale = np.asarray(scale, dtype=np.float32)
    zp = np.zeros((), np.int64) if zero_point is None else np.asarray(zero_point).astype(np.int64)
    if scale.ndim == 1 and q.ndim > 0:
        shape = [1] * q.ndim
        shape[axis % q.ndim] = -1
        scale = scale.reshape(shape)
        zp = zp.reshape(shape) if zp.ndim == 1 else zp
    return ((q.astype(np.int64) - zp).astype(np.float32) * scale).astype(np.float32)


def read_onnx(path: str | Path) -> onnx.ModelProto:
    """Parse an ONNX file (no external data, nothing executed); every failure is one WeightsError line."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: ONNX file not found")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for truncated or foreign bytes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path}: not a readable ONNX file, truncated or corrupt ({first})") from None
    if not model.graph.node:
        raise WeightsError(f"{path}: not a readable ONNX file (no graph nodes; truncated or empty)")
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise WeightsError(f"{path}: weights stored in external files are not supported ({external[0]}, ...)")
    return model


@dataclass(frozen=True)
class ConvLayer:
    """One ``Conv`` node of the graph with its weights dequantized to float32.

    ``name`` is the name of the weight initializer (TensorFlow's variable name, e.g.
    ``MobilenetV2/expanded_conv_3/depthwise/depthwise_weights``). ``pads`` is the conv's own padding
    attribute (top, left, bottom, right), ``input_pad`` the reflect/constant ``Pad`` node in front of it
    (mode and the nonzero pad amounts), if any.
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray | None
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    pads: tuple[int, int, int, int]
    input_pad: tuple[str, tuple[int, ...]] | None
    input_hw: tuple[int, int] | None


class GraphWeights:
    """The constants of one ONNX graph, read on demand, with a record of which initializers were used.

    :meth:`constant` folds ``DequantizeLinear`` of initializers into float arrays; :meth:`conv_layers`
    reads every convolution; :meth:`unused` lists the data initializers nothing has read, which the
    loader turns into an error (a graph with weights the modules would silently ignore is another model).
    """

    def __init__(self, model: onnx.ModelProto, path: str | Path) -> None:
        self.path = Path(path)
        self.graph = model.graph
        self.model = model
        self._arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.producer = {out: node for node in model.graph.node for out in node.output}
        # Data: initializers some node computes with, and those no node reads (unused by definition).
        referenced = {name for node in model.graph.node for name in node.input}
        self._data = set(self._arrays) - referenced
        for node in model.graph.node:
            for i, name in enumerate(node.input):
                if name in self._arrays and not (node.op_type in _AUX_INPUTS and i > 0):
                    self._data.add(name)
        self._used: set[str] = set()

    def fail(self, what: str) -> WeightsError:
        return WeightsError(f"{self.path}: {what}")

    def constant(self, name: str) -> np.ndarray | None:
        """The float value of ``name`` if it is an initializer or a dequantized initializer, else None."""
        if name in self._arrays:
            self._used.add(name)
            return self._arrays[name]
        node = self.producer.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.input[0] not in self._arrays:
            return None
        if not all(i in self._arrays for i in node.input if i):
            return None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        zp = self._arrays[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        self._used.add(node.input[0])
        return dequantize(self._arrays[node.input[0]], self._arrays[node.input[1]], zp, axis)

    def source(self, name: str) -> str:
        """The initializer behind a (dequantized) constant: the name TensorFlow gave the variable."""
        node = self.producer.get(name)
        if node is not None and node.op_type == "DequantizeLinear" and node.input[0] in self._arrays:
            return node.input[0]
        return name

    def input_pad(self, name: str) -> tuple[str, tuple[int, ...]] | None:
        """The ``Pad`` node feeding tensor ``name`` through (de)quantize/transpose nodes, if any."""
        node = self.producer.get(name)
        while node is not None and node.op_type in _PASS_THROUGH:
            node = self.producer.get(node.input[0])
        if node is None or node.op_type != "Pad":
            return None
        pads = self.constant(node.input[1]) if len(node.input) > 1 else None
        mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")
        amounts = () if pads is None else tuple(int(p) for p in np.asarray(pads).ravel() if p)
        return mode, amounts

    def conv_layers(self) -> list[ConvLayer]:
        """Every ``Conv`` of the graph, weights dequantized, in graph order."""
        hw = _input_sizes(self.model)
        layers = []
        for node in self.graph.node:
            if node.op_type != "Conv":
                continue
            weight = self.constant(node.input[1])
            if weight is None:
                raise self.fail(f"convolution {node.name or node.output[0]} has no constant weight")
            bias = self.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise self.fail(f"convolution {self.source(node.input[1])} uses auto_pad, not explicit pads")
            pads = tuple(int(p) for p in attrs.get("pads", [0, 0, 0, 0]))
            layers.append(
                ConvLayer(
                    name=self.source(node.input[1]),
                    weight=weight,
                    bias=bias,
                    kernel=tuple(int(k) for k in attrs.get("kernel_shape", weight.shape[2:])),
                    stride=tuple(int(s) for s in attrs.get("strides", [1, 1])),
                    dilation=tuple(int(d) for d in attrs.get("dilations", [1, 1])),
                    groups=int(attrs.get("group", 1)),
                    pads=pads,  # ONNX order: (top, left, bottom, right)
                    input_pad=self.input_pad(node.input[0]),
                    input_hw=hw.get(node.input[0]),
                )
            )
        return layers

    def unused(self) -> list[str]:
        """Data initializers (weights, biases, constants an op computes with) that nothing has read."""
        return sorted(self._data - self._used)


def _input_sizes(model: onnx.ModelProto) -> dict[str, tuple[int, int]]:
    """(H, W) of every 4-D tensor whose shape ONNX shape inference knows (the graph's fixed sizes)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # a graph shape inference cannot follow: the pads are then checked by size-free rules
        return {}
    sizes = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.input):
        dims = [d.dim_value for d in info.type.tensor_type.shape.dim]
        if len(dims) == 4 and all(dims):
            sizes[info.name] = (dims[2], dims[3])
    return sizes
