"""Model zoo: real architectures (ResNet, MobileNetV2, YOLOv5s, BERT, ViT, UNet, RetinaNet, a
Llama-style decoder with KV cache) as ONNX.

Built in code: opset 17 / IR 8, fully static, deterministic, with random or "light" weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from npusim.errors import NpusimError

from .decoder import build_decoder
from .mobilenet import build_mobilenetv2
from .resnet import build_resnet
from .retinanet import anchors_per_image, build_retinanet
from .transformer import build_bert, build_vit
from .unet import build_unet
from .yolo import build_yolo

__all__ = ["DEFAULT_INPUT_SHAPES", "build", "describe", "format_shapes", "input_shapes", "names",
           "param_count"]

WEIGHT_MODES = ("random", "light")


@dataclass(frozen=True)
class _Entry:
    summary: str                                   # what it is; shapes are appended by describe()
    builder: Callable[..., onnx.ModelProto]
    defaults: dict[str, object]                    # overridable keywords and their defaults
    inputs: Callable[[int, dict], dict[str, tuple[int, ...]]]
    outputs: Callable[[int, dict], str]
    check: Callable[[dict], str | None] = lambda o: None  # returns a problem, or None
    fixed: dict[str, object] = field(default_factory=dict)  # builder keywords not overridable


def _image(b, o):
    return {"input": (b, 3, o["size"], o["size"])}


def _tokens(b, o):
    shapes = {"input_ids": (b, o["seq"])}
    if o.get("attention_mask"):
        shapes["attention_mask"] = (b, o["seq"])
    return shapes


def _decoder_io(b, o):
    kv = o["kv_heads"] or o["heads"]
    shapes = {"input_ids": (b, o["seq"]), "position_ids": (b, o["seq"])}
    for i in range(o["layers"]):
        for kind in ("key", "value"):
            shapes[f"past_key_values.{i}.{kind}"] = (b, kv, o["past"], o["hidden"] // o["heads"])
    return shapes


def _decoder_outputs(b, o):
    kv, d, total = o["kv_heads"] or o["heads"], o["hidden"] // o["heads"], o["past"] + o["seq"]
    return f"logits:{b}x{o['seq']}x{o['vocab']} present.N.key/value:{b}x{kv}x{total}x{d}"


def _decoder_check(o):
    if o["hidden"] % o["heads"]:
        return f"hidden={o['hidden']} must be divisible by heads={o['heads']}"
    if o["kv_heads"] and o["heads"] % o["kv_heads"]:
        return f"heads={o['heads']} must be a multiple of kv_heads={o['kv_heads']}"
    return None


def _multiple(key, k, minimum=None):
    def check(o):
        if o[key] % k:
            return f"{key}={o[key]} must be a multiple of {k}"
        if minimum is not None and o[key] < minimum:
            return f"{key}={o[key]} must be at least {minimum}"
        return None
    return check


def _heads_divide(o):
    if o["hidden"] % o["heads"]:
        return f"hidden={o['hidden']} must be divisible by heads={o['heads']}"
    return None


def _vit_check(o):
    if o["size"] % o["patch"]:
        return f"size={o['size']} must be a multiple of patch={o['patch']}"
    return _heads_divide(o)


_ZERO_OK = frozenset({"past", "kv_heads", "intermediate"})  # 0: empty cache, or "derive it"

_BERT_KEYS = ("layers", "hidden", "heads", "seq", "vocab", "intermediate", "attention_mask")

_REGISTRY: dict[str, _Entry] = {
    "decoder": _Entry(
        "Hugging Face style decoder-only LLM (Llama-like: embedding, RMSNorm, attention with "
        "past_key_values inputs and present outputs, SwiGLU MLP, lm_head), seq new tokens "
        "after past cached ones (prefill: past=0; decode step: seq=1, past=K)",
        build_decoder,
        {"layers": 2, "hidden": 256, "heads": 4, "kv_heads": 0, "intermediate": 0,
         "vocab": 32000, "seq": 16, "past": 16},
        _decoder_io, _decoder_outputs, _decoder_check, {"name": "decoder"}),
    "resnet18": _Entry(
        "torchvision ResNet-18 ImageNet classifier (11,689,512 params), Conv+BN+Relu unfused",
        build_resnet, {"classes": 1000, "size": 224}, _image,
        lambda b, o: f"logits:{b}x{o['classes']}", _multiple("size", 1, 32), {"name": "resnet18"}),
    "resnet50": _Entry(
        "torchvision ResNet-50 v1.5 ImageNet classifier (25,557,032 params), Conv+BN+Relu unfused",
        build_resnet, {"classes": 1000, "size": 224}, _image,
        lambda b, o: f"logits:{b}x{o['classes']}", _multiple("size", 1, 32), {"name": "resnet50"}),
    "mobilenetv2": _Entry(
        "torchvision MobileNetV2 1.0 classifier (3,504,872 params), depthwise convs, ReLU6 as Clip",
        build_mobilenetv2, {"classes": 1000, "size": 224}, _image,
        lambda b, o: f"logits:{b}x{o['classes']}", _multiple("size", 1, 32)),
    "yolo": _Entry(
        "YOLOv5s-style detector (C3/CSP backbone, SPPF, PAN neck, SiLU as x*Sigmoid(x)); "
        "outputs are the raw stride 8/16/32 head maps, no box decode and no NMS",
        build_yolo, {"classes": 80, "size": 640, "width": 0.5, "depth": 0.33}, _image,
        lambda b, o: " ".join(f"p{i + 3}:{b}x{3 * (o['classes'] + 5)}x{o['size'] // s}x{o['size'] // s}"
                              for i, s in enumerate((8, 16, 32))),
        _multiple("size", 32, 32)),
    "bert": _Entry(
        "Hugging Face BERT-base encoder (BertModel without pooler: 12 layers, hidden 768, 12 heads, "
        "FFN 3072, vocab 30522), erf GELU, LayerNormalization",
        build_bert,
        {"layers": 12, "hidden": 768, "heads": 12, "seq": 128, "vocab": 30522, "intermediate": 0,
         "attention_mask": False},
        _tokens, lambda b, o: f"last_hidden_state:{b}x{o['seq']}x{o['hidden']}", _heads_divide,
        {"name": "bert"}),
    "bert-large": _Entry(
        "Hugging Face BERT-large encoder (BertModel without pooler: 24 layers, hidden 1024, 16 heads, "
        "FFN 4096, vocab 30522); use weights='light' to keep it small",
        build_bert,
        {"layers": 24, "hidden": 1024, "heads": 16, "seq": 384, "vocab": 30522, "intermediate": 0,
         "attention_mask": False},
        _tokens, lambda b, o: f"last_hidden_state:{b}x{o['seq']}x{o['hidden']}", _heads_divide,
        {"name": "bert-large"}),
    "vit": _Entry(
        "torchvision ViT-B/16 classifier (86,567,656 params): 16x16 patch Conv, class token, "
        "12 pre-norm encoder layers sharing BERT's layer code",
        build_vit,
        {"layers": 12, "hidden": 768, "heads": 12, "intermediate": 0, "patch": 16, "size": 224,
         "classes": 1000},
        _image, lambda b, o: f"logits:{b}x{o['classes']}", _vit_check),
    "unet": _Entry(
        "UNet segmenter: 4 levels of 2x[Conv3x3+BN+Relu]+MaxPool, bottleneck, 4 ConvTranspose 2x2 "
        "+ Concat-skip levels, base 32 channels",
        build_unet, {"base": 32, "classes": 2, "size": 256}, _image,
        lambda b, o: f"logits:{b}x{o['classes']}x{o['size']}x{o['size']}", _multiple("size", 16, 16)),
    "retinanet": _Entry(
        "MLPerf Inference RetinaNet (torchvision retinanet_resnext50_32x4d_fpn, 264 OpenImages "
        "classes): ResNeXt-50 32x4d, FPN P3-P7, shared 4-conv heads; raw class logits and box "
        "deltas, no anchor decode and no NMS (and no resize/normalize transform)",
        build_retinanet, {"classes": 264, "size": 800}, _image,
        lambda b, o: (f"cls_logits:{b}x{anchors_per_image(o['size'])}x{o['classes']} "
                      f"bbox_regression:{b}x{anchors_per_image(o['size'])}x4"),
        _multiple("size", 1, 64)),
}


def names() -> tuple[str, ...]:
    """Names of all zoo models, sorted."""
    return tuple(sorted(_REGISTRY))


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NpusimError(f"unknown zoo model {name!r}; available: {', '.join(names())}") from None


def _check_int(key: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise NpusimError(f"zoo: {key} must be an integer >= {minimum}, got {value!r}")


def _resolve(name: str, batch: int, overrides: dict) -> tuple[_Entry, dict]:
    entry = _entry(name)
    _check_int("batch", batch)
    for key, value in overrides.items():
        if key not in entry.defaults:
            allowed = ", ".join(sorted(entry.defaults)) or "none"
            raise NpusimError(f"zoo model {name!r} has no override {key!r}; allowed: {allowed}")
        default = entry.defaults[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise NpusimError(f"zoo: {name} override {key} must be True or False, got {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise NpusimError(f"zoo: {name} override {key} must be a positive number, got {value!r}")
        else:
            _check_int(f"{name} override {key}", value, 0 if key in _ZERO_OK else 1)
    opts = {**entry.defaults, **overrides}
    for key, value in list(opts.items()):
        if isinstance(value, np.integer):
            opts[key] = int(value)
    problem = entry.check(opts)
    if problem:
        raise NpusimError(f"zoo model {name!r}: {problem}")
    return entry, opts


def build(
    name: str, *, batch: int = 1, seed: int = 0, weights: str = "random", **overrides
) -> onnx.ModelProto:
    """Build zoo model ``name`` as an ONNX ModelProto (opset 17, IR 8, static shapes).

    ``weights="random"``: deterministic weights from ``np.random.default_rng(seed)``: Kaiming-normal
    convs/linears (gain calibrated on a probe so activations stay O(1), see ``_builder``), BN gamma
    ~U(0.5,1.5), beta ~N(0,0.1), running_mean ~N(0,0.1), running_var ~U(0.5,1.5).
    ``weights="light"``: every weight is a ConstantOfShape(0.02) node fed by an int64 shape
    initializer, as onnx's backend "light" models, so huge models stay a few kilobytes.
    ``overrides`` are model-specific (see ``describe``), e.g. ``build("bert", layers=2, seq=16)``.
    """
    entry, opts = _resolve(name, batch, overrides)
    _check_int("seed", seed, 0)
    if weights not in WEIGHT_MODES:
        raise NpusimError(f"zoo: weights must be one of {', '.join(WEIGHT_MODES)}, got {weights!r}")
    kwargs = {k: v for k, v in opts.items() if not (k == "intermediate" and v == 0)}
    return entry.builder(batch=batch, seed=seed, weights=weights, doc=describe(name),
                         **entry.fixed, **kwargs)


def input_shapes(name: str, *, batch: int = 1, **overrides) -> dict[str, tuple[int, ...]]:
    """Input name -> static shape for ``build(name, batch=batch, **overrides)``."""
    entry, opts = _resolve(name, batch, overrides)
    return entry.inputs(batch, opts)


def format_shapes(shapes: dict[str, tuple[int, ...]]) -> str:
    """``{"input": (1, 3, 224, 224)}`` -> ``"input:1x3x224x224"`` (space separated)."""
    return " ".join(f"{k}:{'x'.join(str(d) for d in v)}" for k, v in shapes.items())


def describe(name: str) -> str:
    """One line: what the model is, its default input shape(s) and output(s), its overrides."""
    entry = _entry(name)
    opts = dict(entry.defaults)
    dtype = "int64" if "seq" in opts else "float32"
    overrides = ", ".join(f"{k}={v!r}" for k, v in opts.items() if k != "intermediate")
    return (f"{name}: {entry.summary}; input {format_shapes(entry.inputs(1, opts))} {dtype} "
            f"-> {entry.outputs(1, opts)}; overrides: {overrides}")


DEFAULT_INPUT_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    n: _REGISTRY[n].inputs(1, dict(_REGISTRY[n].defaults)) for n in sorted(_REGISTRY)
}


def param_count(model: onnx.ModelProto) -> int:
    """Learned parameters of a zoo model, counted as torch does.

    Float initializers plus float tensors made by ConstantOfShape from an initializer shape
    ("light" weights); BatchNormalization running mean/var are buffers and are not counted.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    buffers = {n.input[i] for n in graph.node if n.op_type == "BatchNormalization" for i in (3, 4)}
    total = 0
    for t in graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT and t.name not in buffers:
            total += math.prod(t.dims)
    for n in graph.node:
        if n.op_type != "ConstantOfShape" or n.input[0] not in inits or n.output[0] in buffers:
            continue
        value = next((a.t for a in n.attribute if a.name == "value"), None)
        if value is not None and value.data_type == onnx.TensorProto.FLOAT:
            total += int(np.prod(numpy_helper.to_array(inits[n.input[0]])))
    return total
