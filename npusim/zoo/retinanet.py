"""The MLPerf Inference RetinaNet (torchvision retinanet_resnext50_32x4d_fpn, 264 OpenImages classes).

ResNeXt-50 32x4d body, FPN P3-P7 (P6/P7 from P5), shared heads; raw logits and box deltas, no decode/NMS.
"""

from __future__ import annotations

from ._builder import GraphBuilder
from .resnet import resnet_body

_ANCHORS = 9  # 3 scales x 3 aspect ratios per location
_FPN = 256


def _down(h: int) -> int:
    """Spatial size after a stride-2 conv/pool with 'same' padding (ceil(h / 2))."""
    return (h + 1) // 2


def _head(g: GraphBuilder, feats, sizes, *, batch, k, kind):
    """RetinaNet{Classification,Regression}Head: weights shared across levels, output [N, sum HWA, k]."""
    scope = f"/head/{kind}"
    pname = f"head.{kind}"
    last = "cls_logits" if kind == "classification_head" else "bbox_reg"
    outs = []
    for x, (h, w) in zip(feats, sizes):
        for i in range(4):
            s = f"{scope}/conv/conv.{i}"
            x = g.conv(x, _FPN, _FPN, 3, f"{s}/conv.{i}.0", f"{pname}.conv.{i}.0", bias=True, reuse=True)
            x = g.relu(x, f"{s}/conv.{i}.1")
        x = g.conv(x, _FPN, _ANCHORS * k, 3, f"{scope}/{last}", f"{pname}.{last}", bias=True, reuse=True)
        # view(N, A, K, H, W) -> permute(0, 3, 4, 1, 2) -> reshape(N, -1, K)
        x = g.reshape(x, [batch, _ANCHORS, k, h, w], scope)
        x = g.node("Transpose", [x], scope, perm=[0, 3, 4, 1, 2])
        outs.append(g.reshape(x, [batch, -1, k], scope))
    return g.node("Concat", outs, scope, axis=1)


def build_retinanet(*, batch: int, seed: int, weights: str, classes: int = 264, size: int = 800,
                    doc: str = ""):
    g = GraphBuilder("retinanet", seed=seed, weights=weights)
    x = g.input("input", [batch, 3, size, size])
    feats, chans = resnet_body(g, x, block="bottleneck", layers=(3, 4, 6, 3), groups=32,
                               width_per_group=4, scope="/backbone/body", pname="backbone.body")
    c3_c5, c3_c5_ch = feats[1:], chans[1:]  # returned_layers = [2, 3, 4]
    hw = [_down(_down(size))]  # after conv1 and maxpool: C2
    for _ in range(3):
        hw.append(_down(hw[-1]))
    hw = hw[1:]  # C3, C4, C5

    # FPN top-down path (torchvision FeaturePyramidNetwork with LastLevelP6P7(256, 256))
    fpn, fp = "/backbone/fpn", "backbone.fpn"

    def inner(i, t):
        return g.conv(t, c3_c5_ch[i], _FPN, 1, f"{fpn}/inner_blocks.{i}/inner_blocks.{i}.0",
                      f"{fp}.inner_blocks.{i}.0", pad=0, bias=True)

    def layer(i, t):
        return g.conv(t, _FPN, _FPN, 3, f"{fpn}/layer_blocks.{i}/layer_blocks.{i}.0",
                      f"{fp}.layer_blocks.{i}.0", bias=True)

    last_inner = inner(2, c3_c5[2])
    results = [layer(2, last_inner)]
    for i in (1, 0):
        lateral = inner(i, c3_c5[i])
        top_down = g.resize_nearest(last_inner, fpn, sizes=[batch, _FPN, hw[i], hw[i]])
        last_inner = g.node("Add", [lateral, top_down], fpn)
        results.insert(0, layer(i, last_inner))
    p5 = results[-1]  # in_channels == out_channels, so P6 is computed from P5
    p6 = g.conv(p5, _FPN, _FPN, 3, f"{fpn}/extra_blocks/p6", f"{fp}.extra_blocks.p6", stride=2, bias=True)
    p7 = g.conv(g.relu(p6, f"{fpn}/extra_blocks"), _FPN, _FPN, 3, f"{fpn}/extra_blocks/p7",
                f"{fp}.extra_blocks.p7", stride=2, bias=True)
    levels = results + [p6, p7]
    sizes = [(h, h) for h in hw] + [(_down(hw[2]), _down(hw[2])), (_down(_down(hw[2])),) * 2]

    cls = _head(g, levels, sizes, batch=batch, k=classes, kind="classification_head")
    box = _head(g, levels, sizes, batch=batch, k=4, kind="regression_head")
    g.output(cls, "cls_logits")
    g.output(box, "bbox_regression")
    return g.build(doc)


def anchors_per_image(size: int = 800) -> int:
    """Number of anchors RetinaNet places on a square ``size`` image (120087 at 800)."""
    h = _down(_down(size))
    total = 0
    for _ in range(5):
        h = _down(h)
        total += h * h
    return total * _ANCHORS
