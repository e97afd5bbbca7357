"""torchvision MobileNetV2 (width 1.0) emitted as ONNX.

Depthwise Conv (group=C), unfused BatchNormalization, ReLU6 as Clip(0, 6), inverted residuals.
"""

from __future__ import annotations

from ._builder import GraphBuilder

# expand ratio t, output channels c, repeats n, first stride s
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _conv_bn_act(g: GraphBuilder, x, c_in, c_out, k, scope, pname, *, stride=1, group=1):
    """torchvision Conv2dNormActivation at module scope ``scope``: .0 Conv, .1 BN, .2 ReLU6."""
    local = scope.rsplit("/", 1)[-1]
    x = g.conv(x, c_in, c_out, k, f"{scope}/{local}.0", f"{pname}.0", stride=stride, group=group)
    x = g.bn(x, c_out, f"{scope}/{local}.1", f"{pname}.1")
    return g.relu6(x, f"{scope}/{local}.2")


def build_mobilenetv2(*, batch: int, seed: int, weights: str, classes: int = 1000, size: int = 224,
                      doc: str = ""):
    g = GraphBuilder("mobilenetv2", seed=seed, weights=weights)
    x = g.input("input", [batch, 3, size, size])
    # features.0: stem conv 3x3 stride 2
    x = _conv_bn_act(g, x, 3, 32, 3, "/features/features.0", "features.0", stride=2)
    c = 32
    idx = 1
    for t, c_out, n, s in _SETTINGS:
        for i in range(n):
            stride = s if i == 0 else 1
            scope = f"/features/features.{idx}/conv"
            pname = f"features.{idx}.conv"
            hidden = c * t
            inp = x
            j = 0
            if t != 1:
                x = _conv_bn_act(g, x, c, hidden, 1, f"{scope}/conv.{j}", f"{pname}.{j}")
                j += 1
            x = _conv_bn_act(g, x, hidden, hidden, 3, f"{scope}/conv.{j}", f"{pname}.{j}",
                             stride=stride, group=hidden)
            j += 1
            x = g.conv(x, hidden, c_out, 1, f"{scope}/conv.{j}", f"{pname}.{j}", pad=0)
            x = g.bn(x, c_out, f"{scope}/conv.{j + 1}", f"{pname}.{j + 1}")
            if stride == 1 and c == c_out:
                x = g.node("Add", [inp, x], f"/features/features.{idx}")
            c = c_out
            idx += 1
    x = _conv_bn_act(g, x, c, 1280, 1, f"/features/features.{idx}", f"features.{idx}")
    x = g.node("GlobalAveragePool", [x], "")
    x = g.node("Flatten", [x], "", axis=1)
    # classifier.0 is Dropout (identity at inference), classifier.1 the Linear
    g.output(g.gemm(x, 1280, classes, "/classifier/classifier.1", "classifier.1", outputs=["logits"]))
    return g.build(doc)
