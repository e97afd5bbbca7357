"""A YOLOv5s (v6.x yaml) style detector emitted as ONNX: CSP/C3 backbone, SPPF, PAN neck, 3 heads.

SiLU is spelled x * Sigmoid(x) as exporters emit it; outputs are raw head maps (no decode, no NMS).
"""

from __future__ import annotations

import math

from ._builder import GraphBuilder

_BN_EPS = 1e-3
_BN_MOMENTUM = 0.97  # torch momentum 0.03


def _make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x / divisor) * divisor)


class _Yolo:
    def __init__(self, g: GraphBuilder, width: float, depth: float):
        self.g, self.width, self.depth = g, width, depth

    def ch(self, c: int) -> int:
        return _make_divisible(c * self.width, 8)

    def n(self, n: int) -> int:
        return max(round(n * self.depth), 1) if n > 1 else n

    def conv(self, x, c1, c2, k, s, scope, pname, p=None):
        """yolov5 Conv: Conv2d(bias=False) + BatchNorm2d + SiLU."""
        g = self.g
        x = g.conv(x, c1, c2, k, f"{scope}/conv", f"{pname}.conv", stride=s,
                   pad=k // 2 if p is None else p)
        x = g.bn(x, c2, f"{scope}/bn", f"{pname}.bn", eps=_BN_EPS, momentum=_BN_MOMENTUM)
        return g.silu(x, f"{scope}/act")

    def bottleneck(self, x, c1, c2, shortcut, scope, pname):
        y = self.conv(x, c1, c2, 1, 1, f"{scope}/cv1", f"{pname}.cv1")  # e=1.0 inside C3
        y = self.conv(y, c2, c2, 3, 1, f"{scope}/cv2", f"{pname}.cv2")
        if shortcut and c1 == c2:
            y = self.g.node("Add", [x, y], scope)
        return y

    def c3(self, x, c1, c2, n, shortcut, scope, pname):
        c_ = c2 // 2
        a = self.conv(x, c1, c_, 1, 1, f"{scope}/cv1", f"{pname}.cv1")
        for i in range(n):
            a = self.bottleneck(a, c_, c_, shortcut, f"{scope}/m/m.{i}", f"{pname}.m.{i}")
        b = self.conv(x, c1, c_, 1, 1, f"{scope}/cv2", f"{pname}.cv2")
        y = self.g.node("Concat", [a, b], scope, axis=1)
        return self.conv(y, 2 * c_, c2, 1, 1, f"{scope}/cv3", f"{pname}.cv3")

    def sppf(self, x, c1, c2, k, scope, pname):
        c_ = c1 // 2
        x = self.conv(x, c1, c_, 1, 1, f"{scope}/cv1", f"{pname}.cv1")
        ys = [x]
        for _ in range(3):
            ys.append(self.g.node("MaxPool", [ys[-1]], f"{scope}/m", ceil_mode=0, dilations=[1, 1],
                                  kernel_shape=[k, k], pads=[k // 2] * 4, strides=[1, 1]))
        y = self.g.node("Concat", ys, scope, axis=1)
        return self.conv(y, c_ * 4, c2, 1, 1, f"{scope}/cv2", f"{pname}.cv2")


def build_yolo(*, batch: int, seed: int, weights: str, classes: int = 80, size: int = 640,
               width: float = 0.5, depth: float = 0.33, doc: str = ""):
    g = GraphBuilder("yolo", seed=seed, weights=weights)
    y = _Yolo(g, width, depth)
    x = g.input("input", [batch, 3, size, size])

    def m(i):
        return f"/model.{i}", f"model.{i}"

    c = [0] * 24
    out = [None] * 24
    # backbone
    out[0] = y.conv(x, 3, y.ch(64), 6, 2, *m(0), p=2); c[0] = y.ch(64)
    out[1] = y.conv(out[0], c[0], y.ch(128), 3, 2, *m(1)); c[1] = y.ch(128)
    out[2] = y.c3(out[1], c[1], y.ch(128), y.n(3), True, *m(2)); c[2] = y.ch(128)
    out[3] = y.conv(out[2], c[2], y.ch(256), 3, 2, *m(3)); c[3] = y.ch(256)
    out[4] = y.c3(out[3], c[3], y.ch(256), y.n(6), True, *m(4)); c[4] = y.ch(256)
    out[5] = y.conv(out[4], c[4], y.ch(512), 3, 2, *m(5)); c[5] = y.ch(512)
    out[6] = y.c3(out[5], c[5], y.ch(512), y.n(9), True, *m(6)); c[6] = y.ch(512)
    out[7] = y.conv(out[6], c[6], y.ch(1024), 3, 2, *m(7)); c[7] = y.ch(1024)
    out[8] = y.c3(out[7], c[7], y.ch(1024), y.n(3), True, *m(8)); c[8] = y.ch(1024)
    out[9] = y.sppf(out[8], c[8], y.ch(1024), 5, *m(9)); c[9] = y.ch(1024)
    # PAN head
    out[10] = y.conv(out[9], c[9], y.ch(512), 1, 1, *m(10)); c[10] = y.ch(512)
    out[11] = g.resize_nearest(out[10], "/model.11", scales=[1.0, 1.0, 2.0, 2.0]); c[11] = c[10]
    out[12] = g.node("Concat", [out[11], out[6]], "/model.12", axis=1); c[12] = c[11] + c[6]
    out[13] = y.c3(out[12], c[12], y.ch(512), y.n(3), False, *m(13)); c[13] = y.ch(512)
    out[14] = y.conv(out[13], c[13], y.ch(256), 1, 1, *m(14)); c[14] = y.ch(256)
    out[15] = g.resize_nearest(out[14], "/model.15", scales=[1.0, 1.0, 2.0, 2.0]); c[15] = c[14]
    out[16] = g.node("Concat", [out[15], out[4]], "/model.16", axis=1); c[16] = c[15] + c[4]
    out[17] = y.c3(out[16], c[16], y.ch(256), y.n(3), False, *m(17)); c[17] = y.ch(256)
    out[18] = y.conv(out[17], c[17], y.ch(256), 3, 2, *m(18)); c[18] = y.ch(256)
    out[19] = g.node("Concat", [out[18], out[14]], "/model.19", axis=1); c[19] = c[18] + c[14]
    out[20] = y.c3(out[19], c[19], y.ch(512), y.n(3), False, *m(20)); c[20] = y.ch(512)
    out[21] = y.conv(out[20], c[20], y.ch(512), 3, 2, *m(21)); c[21] = y.ch(512)
    out[22] = g.node("Concat", [out[21], out[10]], "/model.22", axis=1); c[22] = c[21] + c[10]
    out[23] = y.c3(out[22], c[22], y.ch(1024), y.n(3), False, *m(23)); c[23] = y.ch(1024)
    # Detect: one 1x1 Conv (with bias) per level to na * (nc + 5) channels
    no = 3 * (classes + 5)
    for i, (src, name) in enumerate(((17, "p3"), (20, "p4"), (23, "p5"))):
        y_i = g.conv(out[src], c[src], no, 1, f"/model.24/m.{i}", f"model.24.m.{i}", bias=True)
        g.output(y_i, name)
    return g.build(doc)
