"""Rewrite QOperator nodes (QLinearConv, QLinearMatMul and onnxruntime's com.microsoft QLinear*
ops, QGemm, MatMulIntegerToFloat) into standard DQ -> op -> Q form.

The frontend reads standard ONNX only; `fusion.fuse` turns each lowered group back into one
integer kernel, so QOperator and QDQ models run through the same code.
"""

from __future__ import annotations

import onnx
from onnx import helper

from npusim.errors import UnsupportedOpError

_MS = ("com.microsoft",)
_NOT_FUSED = frozenset({"MatMulIntegerToFloat"})  # lowered to integer + float ops for good


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
        if n.op_type not in _NOT_FUSED:
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


def _unary(op, *drop):
    def rule(n, name):
        if op == "Softmax" and _attrs(n).get("opset", 13) < 13 and _attrs(n).get("axis", 1) != -1:
            raise UnsupportedOpError(f"QLinearSoftmax node '{name}': opset < 13 semantics "
                                     "(softmax over the flattened trailing axes) are not "
                                     "supported")
        if _attrs(n).get("channels_last", 0):
            raise UnsupportedOpError(f"{n.op_type} node '{name}': channels_last=1 is not "
                                     "supported")
        x, sx, zx, sy, zy = (_inp(n, i) for i in range(5))
        return [_dq(f"{name}/dq_x", x, sx, zx, f"{name}/x_f"),
                helper.make_node(op, [f"{name}/x_f"], [f"{name}/y_f"], name=name,
                                 **_attrs(n, *drop)),
                _q(f"{name}/q", f"{name}/y_f", sy, zy, n.output[0])]
    return rule


def _concat(n, name):
    sy, zy = _inp(n, 0), _inp(n, 1)
    out, ins = [], []
    for k, i in enumerate(range(2, len(n.input), 3)):
        f = f"{name}/x{k}_f"
        out.append(_dq(f"{name}/dq_x{k}", n.input[i], n.input[i + 1], _inp(n, i + 2), f))
        ins.append(f)
    return out + [helper.make_node("Concat", ins, [f"{name}/y_f"], name=name, **_attrs(n)),
                  _q(f"{name}/q", f"{name}/y_f", sy, zy, n.output[0])]


def _where(n, name):
    c, x, sx, zx, y, sy, zy, sz, zz = (_inp(n, i) for i in range(9))
    return [_dq(f"{name}/dq_x", x, sx, zx, f"{name}/x_f"),
            _dq(f"{name}/dq_y", y, sy, zy, f"{name}/y_f"),
            helper.make_node("Where", [c, f"{name}/x_f", f"{name}/y_f"], [f"{name}/z_f"],
                             name=name),
            _q(f"{name}/q", f"{name}/z_f", sz, zz, n.output[0])]


def _matmul_integer_to_float(n, name):
    """A, B, a_scale, b_scale[, a_zp, b_zp, bias]: f32(acc) * f32(sa * sb) [+ bias]."""
    a, b, sa, sb, za, zb, bias = (_inp(n, i) for i in range(7))
    ins = [a, b] + ([za, zb] if (za or zb) else [])
    out = [helper.make_node("MatMulInteger", ins, [f"{name}/acc"], name=f"{name}/int"),
           helper.make_node("Cast", [f"{name}/acc"], [f"{name}/acc_f"], name=f"{name}/cast",
                            to=onnx.TensorProto.FLOAT),
           helper.make_node("Mul", [sa, sb], [f"{name}/scale"], name=f"{name}/scale")]
    y = n.output[0] if not bias else f"{name}/y_f"
    out.append(helper.make_node("Mul", [f"{name}/acc_f", f"{name}/scale"], [y], name=name))
    if bias:
        out.append(helper.make_node("Add", [y, bias], [n.output[0]], name=f"{name}/bias"))
    return out


_RULES = {
    ("", "QLinearConv"): _conv,
    ("", "QLinearMatMul"): _matmul,
    ("com.microsoft", "QLinearAdd"): _binary("Add"),
    ("com.microsoft", "QLinearMul"): _binary("Mul"),
    ("com.microsoft", "QLinearGlobalAveragePool"): _gap,
    ("com.microsoft", "QGemm"): _qgemm,
    ("com.microsoft", "QLinearSigmoid"): _unary("Sigmoid"),
    ("com.microsoft", "QLinearLeakyRelu"): _unary("LeakyRelu"),
    ("com.microsoft", "QLinearSoftmax"): _unary("Softmax", "opset"),
    ("com.microsoft", "QLinearAveragePool"): _unary("AveragePool", "channels_last"),
    ("com.microsoft", "QLinearConcat"): _concat,
    ("com.microsoft", "QLinearWhere"): _where,
    ("com.microsoft", "MatMulIntegerToFloat"): _matmul_integer_to_float,
}
