"""An op's MACs as a shape a MAC array or GEMM kernel maps: groups of products of output
positions x output channels x (input channels x kernel taps), and what a mapping returns."""

from __future__ import annotations

import math
from dataclasses import dataclass

from npusim.ir import Graph, Node

# Input position of the weight per conv op type (the data input is always 0).
_CONV_W = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3, "ConvTranspose": 1}
_MATMUL = ("MatMul", "Gemm", "MatMulInteger", "QLinearMatMul")


@dataclass(frozen=True, slots=True)
class MacShape:
    """`groups` independent products; each has `batch` x `rows` x `width` output positions,
    `out_channels` outputs per position, each reducing `in_channels` x kernel taps inputs."""

    batch: int
    groups: int
    rows: int
    width: int
    out_channels: int
    in_channels: int
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    weight_elements: int = 0
    input_elements: int = 0

    @property
    def taps(self) -> int:
        return self.kernel[0] * self.kernel[1]

    @property
    def m(self) -> int:
        """GEMM M: output positions."""
        return self.batch * self.rows * self.width

    @property
    def k(self) -> int:
        """GEMM K: the reduction length of one output."""
        return self.in_channels * self.taps

    @property
    def macs(self) -> int:
        return self.groups * self.m * self.out_channels * self.k


@dataclass(frozen=True, slots=True)
class MacTime:
    """Seconds of MAC work under one mapping, and what the mapping was."""

    seconds: float
    uses: tuple[str, ...]
    utilization: float
    mapping: str
    split: str | None = None
    extra_dram_bytes: float = 0.0


def mac_shape(node: Node, graph: Graph, macs: int) -> MacShape | None:
    """The MacShape of a conv or matmul node, or None when it cannot be read off the shapes
    (then the caller falls back to the ideal model). Checked against the registry's MACs."""
    try:
        shape = _conv(node, graph) if node.op_type in _CONV_W else \
            _matmul(node, graph, macs) if node.op_type in _MATMUL else None
    except (IndexError, ValueError, ZeroDivisionError, KeyError):
        return None
    return shape if shape is not None and shape.macs == macs else None


def _pair(values: tuple[int, ...]) -> tuple[int, int]:
    """Collapse N-d spatial dims to (all but the last, the last)."""
    return (math.prod(values[:-1]), values[-1]) if values else (1, 1)


def _conv(node: Node, graph: Graph) -> MacShape | None:
    x = graph.shape(node.inputs[0])
    w = graph.shape(node.inputs[_CONV_W[node.op_type]])
    y = graph.shape(node.outputs[0])
    if len(x) < 3 or len(w) != len(x):
        return None
    groups = int(node.attr("group", 1) or 1)
    kernel = _pair(tuple(w[2:]))
    strides = tuple(node.attr("strides") or (1,) * (len(w) - 2))
    if node.op_type == "ConvTranspose":
        # col2im view: every input position times (C_out/g x taps) outputs, K = C_in/g
        rows, width = _pair(tuple(x[2:]))
        return MacShape(x[0], groups, rows, width, w[1] * kernel[0] * kernel[1],
                        w[0] // groups, weight_elements=math.prod(w),
                        input_elements=math.prod(x))
    rows, width = _pair(tuple(y[2:]))
    return MacShape(y[0], groups, rows, width, w[0] // groups, w[1], kernel,
                    _pair(strides), math.prod(w), math.prod(x))


def _matmul(node: Node, graph: Graph, macs: int) -> MacShape | None:
    y = graph.shape(node.outputs[0])
    outputs = math.prod(y) if y else 1
    if not outputs or macs % outputs:
        return None
    k = macs // outputs
    n = y[-1] if y else 1
    m = y[-2] if len(y) >= 2 else 1
    batch = math.prod(y[:-2]) if len(y) > 2 else 1
    b = graph.shape(node.inputs[3 if node.op_type == "QLinearMatMul" else 1])
    a = graph.shape(node.inputs[0])
    return MacShape(batch, 1, 1, m, n, k, weight_elements=math.prod(b) if b else 1,
                    input_elements=math.prod(a) if a else 1)
