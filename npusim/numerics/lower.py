"""Rewrite QOperator nodes (QLinearConv, QLinearMatMul and onnxruntime's com.microsoft
QLinearAdd / QLinearMul / QLinearGlobalAveragePool / QGemm) into standard DQ -> op -> Q form.

The frontend reads standard ONNX only; `fusion.fuse` turns each lowered group back into one
integer kernel, so QOperator and QDQ models run through the same code.
"""

from __future__ import annotations

import onnx
from onnx import helper

from npusim.errors import UnsupportedOpError

_MS = ("com.microsoft",)


def lower_qoperators(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, frozenset[str]]:
    """A copy of `proto` in QDQ form, and the names of the nodes that stand for a QOperator."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    nodes: list[onnx.NodeProto] = []
    cores: set[str] = set()
    changed = False
    for i, n in enumerate(model.graph.node):
        name = n.name or f"{n.op_type}:{n.output[0]}"
        rule = _RULES.get((n.domain if n.domain != "ai.onnx" else "", n.op_type))
        if rule is None:
            if n.domain in _MS:
                raise UnsupportedOpError(f"unsupported op '{n.op_type}' (domain '{n.domain}') "
                                         f"at node '{name}'")
            nodes.append(n)
            continue
        changed = True
        cores.add(name)
        nodes.extend(rule(n, name))
    if not changed:
        return proto, frozenset()
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    keep = [o for o in model.opset_import if o.domain not in _MS]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    return model, frozenset(cores)


def _attrs(n: onnx.NodeProto, *skip: str) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in n.attribute if a.name not in skip}


def _inp(n, i):
    return n.input[i] if i < len(n.input) else ""


def _dq(name, x, s, zp, out, axis=None):
    kw = {} if axis is None else {"axis": axis}
    return helper.make_node("DequantizeLinear", [x, s, zp] if zp else [x, s], [out],
                            name=name, **kw)


def _q(name, x, s, zp, out):
    return helper.make_node("QuantizeLinear", [x, s, zp] if zp else [x, s], [out], name=name)


def _binary(op):
    def rule(n, name):
        a, sa, za, b, sb, zb, sc, zc = (_inp(n, i) for i in range(8))
        fa, fb, fc = f"{name}/a_f", f"{name}/b_f", f"{name}/c_f"
        return [_dq(f"{name}/dq_a", a, sa, za, fa), _dq(f"{name}/dq_b", b, sb, zb, fb),
                helper.make_node(op, [fa, fb], [fc], name=name),
                _q(f"{name}/q", fc, sc, zc, n.output[0])]
    return rule


def _gap(n, name):
    if _attrs(n).get("channels_last", 0):
        raise UnsupportedOpError(f"QLinearGlobalAveragePool node '{name}': channels_last=1 "
                                 "is not supported")
    x, sx, zx, sy, zy = (_inp(n, i) for i in range(5))
    return [_dq(f"{name}/dq_x", x, sx, zx, f"{name}/x_f"),
            helper.make_node("GlobalAveragePool", [f"{name}/x_f"], [f"{name}/y_f"], name=name),
            _q(f"{name}/q", f"{name}/y_f", sy, zy, n.output[0])]


def _conv(n, name):
    x, sx, zx, w, sw, zw, sy, zy, b = (_inp(n, i) for i in range(9))
    out = [_dq(f"{name}/dq_x", x, sx, zx, f"{name}/x_f"),
           _dq(f"{name}/dq_w", w, sw, zw, f"{name}/w_f", axis=0)]
    ins = [f"{name}/x_f", f"{name}/w_f"]
    if b:
        out += [helper.make_node("Mul", [sx, sw], [f"{name}/b_scale"], name=f"{name}/b_scale"),
                _dq(f"{name}/dq_b", b, f"{name}/b_scale", "", f"{name}/b_f", axis=0)]
        ins.append(f"{name}/b_f")
    out += [helper.make_node("Conv", ins, [f"{name}/y_f"], name=name, **_attrs(n)),
            _q(f"{name}/q", f"{name}/y_f", sy, zy, n.output[0])]
    return out


def _matmul(n, name):
    a, sa, za, b, sb, zb, sy, zy = (_inp(n, i) for i in range(8))
    return [_dq(f"{name}/dq_a", a, sa, za, f"{name}/a_f"),
            _dq(f"{name}/dq_b", b, sb, zb, f"{name}/b_f", axis=-1),
            helper.make_node("MatMul", [f"{name}/a_f", f"{name}/b_f"], [f"{name}/y_f"],
                             name=name),
            _q(f"{name}/q", f"{name}/y_f", sy, zy, n.output[0])]


def _qgemm(n, name):
    a, sa, za, b, sb, zb, c, sy, zy = (_inp(n, i) for i in range(9))
    attrs = _attrs(n)
    out = [_dq(f"{name}/dq_a", a, sa, za, f"{name}/a_f"),
           _dq(f"{name}/dq_b", b, sb, zb, f"{name}/b_f",
               axis=0 if attrs.get("transB", 0) else 1)]
    ins = [f"{name}/a_f", f"{name}/b_f"]
    if c:
        out += [helper.make_node("Mul", [sa, sb], [f"{name}/c_scale"], name=f"{name}/c_scale"),
                _dq(f"{name}/dq_c", c, f"{name}/c_scale", "", f"{name}/c_f", axis=0)]
        ins.append(f"{name}/c_f")
    y = n.output[0] if not sy else f"{name}/y_f"
    out.append(helper.make_node("Gemm", ins, [y], name=name, **attrs))
    if sy:
        out.append(_q(f"{name}/q", y, sy, zy, n.output[0]))
    return out


_RULES = {
    ("", "QLinearConv"): _conv,
    ("", "QLinearMatMul"): _matmul,
    ("com.microsoft", "QLinearAdd"): _binary("Add"),
    ("com.microsoft", "QLinearMul"): _binary("Mul"),
    ("com.microsoft", "QLinearGlobalAveragePool"): _gap,
    ("com.microsoft", "QGemm"): _qgemm,
}
