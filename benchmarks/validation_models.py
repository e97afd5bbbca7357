"""The models of the calibration set as ONNX files, for `benchmarks/validation.py`.

Built from timm / ultralytics / a YOLOX-S module written here (the `validate` extra: torch,
timm, ultralytics; never needed by the tests), exported once with random weights, stripped to
ConstantOfShape placeholders (latency depends on shapes, not values) and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# calibration.csv `model` -> (how it is built, input side)
TIMM = {"resnet18": "resnet18", "mobilenetv2": "mobilenetv2_100", "repvgg_a0": "repvgg_a0",
        "efficientformer_l1": "efficientformer_l1"}
ZOO = {"resnet50", "retinanet"}
YOLOV8 = {"yolov8n", "yolov8x"}


def cached_model(model: str, size: int, cache: Path) -> str:
    """`zoo:NAME` for a zoo model, else the path of the cached light ONNX export."""
    if model in ZOO:
        return f"zoo:{model}"
    path = cache / f"{model}_{size}.onnx"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        (cache / ".gitignore").write_text("*\n")  # exports never enter git
        export(build_torch(model), size, path)
    return str(path)


def build_torch(model: str):
    """The torch module that calibration.csv's `model` names."""
    builders: dict[str, Callable] = {"yolox_s_leaky": yolox_s_leaky}
    builders.update({m: (lambda m=m: _timm(TIMM[m])) for m in TIMM})
    builders.update({m: (lambda m=m: _yolov8_cut(m)) for m in YOLOV8})
    if model not in builders:
        raise SystemExit(f"validation: no builder for calibration model '{model}'")
    return builders[model]().eval()


def export(module, size: int, path: Path) -> None:
    import torch
    tmp = path.with_suffix(".full.onnx")
    with torch.no_grad():
        torch.onnx.export(module, torch.zeros(1, 3, size, size), str(tmp), opset_version=17,
                          input_names=["input"], dynamo=False)
    full = onnx.load(str(tmp))
    onnx.save(lighten(full), str(path))
    tmp.unlink()


def lighten(model: onnx.ModelProto, min_elements: int = 16) -> onnx.ModelProto:
    """Float initializers of `min_elements` or more become ConstantOfShape nodes (the zoo's
    `light` weights): the graph keeps every shape and op, the file stays small."""
    graph = model.graph
    keep, nodes = [], []
    for init in graph.initializer:
        dims = list(init.dims)
        if init.data_type != TensorProto.FLOAT or int(np.prod(dims or [1])) < min_elements:
            keep.append(init)
            continue
        shape_name = f"{init.name}__SHAPE"
        keep.append(numpy_helper.from_array(np.asarray(dims, dtype=np.int64), shape_name))
        value = helper.make_tensor("", TensorProto.FLOAT, [1], [0.01])
        nodes.append(helper.make_node("ConstantOfShape", [shape_name], [init.name],
                                      name=f"/{init.name}/ConstantOfShape", value=value))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)
    return model


def _timm(name: str):
    import timm
    from timm.utils.model import reparameterize_model
    # repvgg_a0 as deployed: the 3x3 + 1x1 + identity branches fused into one 3x3 conv
    return reparameterize_model(timm.create_model(name, pretrained=False))


def _yolov8_cut(name: str):
    """Ultralytics YOLOv8 (from its yaml, no weights) cut after the per-level box (cv2) and
    class (cv3) convs of the Detect head, as the D-Robotics tables deploy it: no DFL, no
    decode; the six maps are the outputs."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    class Cut(torch.nn.Module):
        def __init__(self, det):
            super().__init__()
            self.layers, self.save = det.model, det.save

        def forward(self, x):
            y = []
            for m in self.layers[:-1]:
                if m.f != -1:
                    x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
                x = m(x)
                y.append(x if m.i in self.save else None)
            head = self.layers[-1]
            xs = [x if j == -1 else y[j] for j in head.f]
            return tuple(out for i in range(head.nl)
                         for out in (head.cv2[i](xs[i]), head.cv3[i](xs[i])))

    return Cut(DetectionModel(f"{name}.yaml", verbose=False))


def yolox_s_leaky():
    """YOLOX-S (Megvii's YOLOX, depth 0.33, width 0.50): CSPDarknet with Focus stem and SPP,
    PAFPN, decoupled head (80 classes), every activation LeakyReLU(0.1); the output is the
    exported inference tensor 1 x 8400 x 85 (reg, sigmoid obj, sigmoid cls), no decode."""
    import torch
    from torch import nn

    def conv(cin, cout, k=1, s=1):
        return nn.Sequential(nn.Conv2d(cin, cout, k, s, (k - 1) // 2, bias=False),
                             nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03), nn.LeakyReLU(0.1))

    class Bottleneck(nn.Module):
        def __init__(self, c, shortcut):
            super().__init__()
            self.cv1, self.cv2, self.add = conv(c, c, 1), conv(c, c, 3), shortcut

        def forward(self, x):
            y = self.cv2(self.cv1(x))
            return x + y if self.add else y

    class CSP(nn.Module):
        def __init__(self, cin, cout, n, shortcut=True):
            super().__init__()
            h = cout // 2
            self.cv1, self.cv2, self.cv3 = conv(cin, h), conv(cin, h), conv(2 * h, cout)
            self.m = nn.Sequential(*(Bottleneck(h, shortcut) for _ in range(n)))

        def forward(self, x):
            return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))

    class Focus(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv(12, 32, 3)

        def forward(self, x):
            return self.conv(torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2],
                                        x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1))

    class SPP(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.cv1, self.cv2 = conv(c, c // 2), conv(c // 2 * 4, c)
            self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in (5, 9, 13))

        def forward(self, x):
            x = self.cv1(x)
            return self.cv2(torch.cat([x] + [p(x) for p in self.pools], 1))

    class YoloxS(nn.Module):
        def __init__(self, classes=80):
            super().__init__()
            self.stem = Focus()
            self.dark2 = nn.Sequential(conv(32, 64, 3, 2), CSP(64, 64, 1))
            self.dark3 = nn.Sequential(conv(64, 128, 3, 2), CSP(128, 128, 3))
            self.dark4 = nn.Sequential(conv(128, 256, 3, 2), CSP(256, 256, 3))
            self.dark5 = nn.Sequential(conv(256, 512, 3, 2), SPP(512), CSP(512, 512, 1, False))
            self.lateral0, self.c3_p4 = conv(512, 256), CSP(512, 256, 1, False)
            self.reduce1, self.c3_p3 = conv(256, 128), CSP(256, 128, 1, False)
            self.bu2, self.c3_n3 = conv(128, 128, 3, 2), CSP(256, 256, 1, False)
            self.bu1, self.c3_n4 = conv(256, 256, 3, 2), CSP(512, 512, 1, False)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.stems = nn.ModuleList(conv(c, 128) for c in (128, 256, 512))
            self.cls = nn.ModuleList(nn.Sequential(conv(128, 128, 3), conv(128, 128, 3))
                                     for _ in range(3))
            self.reg = nn.ModuleList(nn.Sequential(conv(128, 128, 3), conv(128, 128, 3))
                                     for _ in range(3))
            self.cls_pred = nn.ModuleList(nn.Conv2d(128, classes, 1) for _ in range(3))
            self.reg_pred = nn.ModuleList(nn.Conv2d(128, 4, 1) for _ in range(3))
            self.obj_pred = nn.ModuleList(nn.Conv2d(128, 1, 1) for _ in range(3))

        def forward(self, x):
            x3 = self.dark3(self.dark2(self.stem(x)))
            x4 = self.dark4(x3)
            x5 = self.dark5(x4)
            f0 = self.lateral0(x5)
            f1 = self.reduce1(self.c3_p4(torch.cat([self.up(f0), x4], 1)))
            p3 = self.c3_p3(torch.cat([self.up(f1), x3], 1))
            p4 = self.c3_n3(torch.cat([self.bu2(p3), f1], 1))
            p5 = self.c3_n4(torch.cat([self.bu1(p4), f0], 1))
            outs = []
            for i, p in enumerate((p3, p4, p5)):
                s = self.stems[i](p)
                r, c = self.reg[i](s), self.cls[i](s)
                out = torch.cat([self.reg_pred[i](r), self.obj_pred[i](r).sigmoid(),
                                 self.cls_pred[i](c).sigmoid()], 1)
                outs.append(out.flatten(2))
            return torch.cat(outs, 2).permute(0, 2, 1)

    return YoloxS()
