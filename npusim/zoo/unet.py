"""A classic UNet segmenter emitted as ONNX (Ronneberger et al., with BatchNorm, milesial-style names).

Four down levels of double conv + MaxPool, a bottleneck, four ConvTranspose + Concat-skip up levels.
"""

from __future__ import annotations

from ._builder import GraphBuilder


def _double_conv(g: GraphBuilder, x, c_in, c_out, scope, pname):
    """[Conv3x3 (no bias) + BN + Relu] x 2 as nn.Sequential children 0..5."""
    s, p = f"{scope}/double_conv", f"{pname}.double_conv"
    x = g.conv(x, c_in, c_out, 3, f"{s}/double_conv.0", f"{p}.0")
    x = g.bn(x, c_out, f"{s}/double_conv.1", f"{p}.1")
    x = g.relu(x, f"{s}/double_conv.2")
    x = g.conv(x, c_out, c_out, 3, f"{s}/double_conv.3", f"{p}.3")
    x = g.bn(x, c_out, f"{s}/double_conv.4", f"{p}.4")
    return g.relu(x, f"{s}/double_conv.5")


def build_unet(*, batch: int, seed: int, weights: str, base: int = 32, classes: int = 2, size: int = 256,
               doc: str = ""):
    g = GraphBuilder("unet", seed=seed, weights=weights)
    x = g.input("input", [batch, 3, size, size])
    chans = [base * 2**i for i in range(5)]  # 4 levels + bottleneck
    skips = []
    c = 3
    for i in range(4):
        x = _double_conv(g, x, c, chans[i], f"/down{i + 1}", f"down{i + 1}")
        c = chans[i]
        skips.append(x)
        x = g.node("MaxPool", [x], f"/pool{i + 1}", ceil_mode=0, dilations=[1, 1], kernel_shape=[2, 2],
                   pads=[0, 0, 0, 0], strides=[2, 2])
    x = _double_conv(g, x, c, chans[4], "/bottleneck", "bottleneck")
    c = chans[4]
    for i in range(4):
        lvl = 3 - i
        c_out = chans[lvl]
        scope, pname = f"/up{i + 1}", f"up{i + 1}"
        x = g.conv_transpose(x, c, c_out, 2, f"{scope}/up", f"{pname}.up")
        x = g.node("Concat", [skips[lvl], x], scope, axis=1)
        x = _double_conv(g, x, 2 * c_out, c_out, f"{scope}/conv", f"{pname}.conv")
        c = c_out
    x = g.conv(x, c, classes, 1, "/outc/conv", "outc.conv", pad=0, bias=True)
    g.output(x, "logits")
    return g.build(doc)
