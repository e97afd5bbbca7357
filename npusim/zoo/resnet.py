"""torchvision ResNet-18/50 (v1.5) and the ResNeXt-50 32x4d body, emitted as ONNX.

Conv (no bias), BatchNormalization and Relu stay unfused; the body is shared with RetinaNet.
"""

from __future__ import annotations

from ._builder import GraphBuilder

# block kind, blocks per stage
_CONFIGS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _basic_block(g: GraphBuilder, x, c_in, planes, stride, scope, pname):
    out = g.conv(x, c_in, planes, 3, f"{scope}/conv1", f"{pname}.conv1", stride=stride)
    out = g.bn(out, planes, f"{scope}/bn1", f"{pname}.bn1")
    out = g.relu(out, f"{scope}/relu")
    out = g.conv(out, planes, planes, 3, f"{scope}/conv2", f"{pname}.conv2")
    out = g.bn(out, planes, f"{scope}/bn2", f"{pname}.bn2")
    identity = x
    if stride != 1 or c_in != planes:
        identity = g.conv(x, c_in, planes, 1, f"{scope}/downsample/downsample.0",
                          f"{pname}.downsample.0", stride=stride, pad=0)
        identity = g.bn(identity, planes, f"{scope}/downsample/downsample.1", f"{pname}.downsample.1")
    out = g.node("Add", [out, identity], scope)
    return g.relu(out, f"{scope}/relu"), planes


def _bottleneck(g: GraphBuilder, x, c_in, planes, stride, scope, pname, groups=1, width_per_group=64):
    width = int(planes * (width_per_group / 64.0)) * groups
    c_out = planes * 4
    out = g.conv(x, c_in, width, 1, f"{scope}/conv1", f"{pname}.conv1", pad=0)
    out = g.bn(out, width, f"{scope}/bn1", f"{pname}.bn1")
    out = g.relu(out, f"{scope}/relu")
    out = g.conv(out, width, width, 3, f"{scope}/conv2", f"{pname}.conv2", stride=stride, group=groups)
    out = g.bn(out, width, f"{scope}/bn2", f"{pname}.bn2")
    out = g.relu(out, f"{scope}/relu")
    out = g.conv(out, width, c_out, 1, f"{scope}/conv3", f"{pname}.conv3", pad=0)
    out = g.bn(out, c_out, f"{scope}/bn3", f"{pname}.bn3")
    identity = x
    if stride != 1 or c_in != c_out:
        identity = g.conv(x, c_in, c_out, 1, f"{scope}/downsample/downsample.0",
                          f"{pname}.downsample.0", stride=stride, pad=0)
        identity = g.bn(identity, c_out, f"{scope}/downsample/downsample.1", f"{pname}.downsample.1")
    out = g.node("Add", [out, identity], scope)
    return g.relu(out, f"{scope}/relu"), c_out


def resnet_body(
    g: GraphBuilder,
    x: str,
    *,
    block: str,
    layers: tuple[int, ...],
    groups: int = 1,
    width_per_group: int = 64,
    scope: str = "",
    pname: str = "",
) -> tuple[list[str], list[int]]:
    """Stem + layer1..layer4. Returns the outputs of each stage (C2..C5) and their channels."""
    x = g.conv(x, 3, 64, 7, f"{scope}/conv1", _join(pname, "conv1"), stride=2, pad=3)
    x = g.bn(x, 64, f"{scope}/bn1", _join(pname, "bn1"))
    x = g.relu(x, f"{scope}/relu")
    x = g.node("MaxPool", [x], f"{scope}/maxpool", ceil_mode=0, dilations=[1, 1],
               kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    c = 64
    feats, chans = [], []
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
        layer = f"layer{i + 1}"
        for j in range(n):
            stride = 2 if (i > 0 and j == 0) else 1
            bscope = f"{scope}/{layer}/{layer}.{j}"
            bp = _join(pname, f"{layer}.{j}")
            if block == "basic":
                x, c = _basic_block(g, x, c, planes, stride, bscope, bp)
            else:
                x, c = _bottleneck(g, x, c, planes, stride, bscope, bp, groups, width_per_group)
        feats.append(x)
        chans.append(c)
    return feats, chans


def _classifier(g: GraphBuilder, x: str, c: int, classes: int) -> str:
    x = g.node("GlobalAveragePool", [x], "/avgpool")
    x = g.node("Flatten", [x], "", axis=1)
    return g.gemm(x, c, classes, "/fc", "fc", outputs=["logits"])


def build_resnet(name: str, *, batch: int, seed: int, weights: str, classes: int = 1000,
                 size: int = 224, doc: str = ""):
    block, layers = _CONFIGS[name]
    g = GraphBuilder(name, seed=seed, weights=weights)
    x = g.input("input", [batch, 3, size, size])
    feats, chans = resnet_body(g, x, block=block, layers=layers)
    g.output(_classifier(g, feats[-1], chans[-1], classes))
    return g.build(doc)


def build_resnext50_32x4d(*, batch: int = 1, seed: int = 0, weights: str = "random",
                          classes: int = 1000, size: int = 224):
    """torchvision resnext50_32x4d classifier (not in the zoo list; used to check the body)."""
    g = GraphBuilder("resnext50_32x4d", seed=seed, weights=weights)
    x = g.input("input", [batch, 3, size, size])
    feats, chans = resnet_body(g, x, block="bottleneck", layers=(3, 4, 6, 3), groups=32,
                               width_per_group=4)
    g.output(_classifier(g, feats[-1], chans[-1], classes))
    return g.build("torchvision resnext50_32x4d")
