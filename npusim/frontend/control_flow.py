"""Control flow made static: If with a constant condition takes its branch; Loop with a
constant trip count (priced in full: an upper bound if its body can stop early) and Scan over
a static axis are unrolled, each body inlined under the node's name so figures trace back."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

from npusim.errors import ShapeError
from npusim.ir.deferred import materialize

MAX_UNROLLED_NODES = 200_000


def expand_control_flow(nodes: list[onnx.NodeProto], consts: dict, types: Mapping
                        ) -> list[onnx.NodeProto] | None:
    """The nodes with every static If/Loop/Scan replaced by its body; None if none was."""
    out: list[onnx.NodeProto] = []
    changed = False
    for node in nodes:
        body = None
        if node.domain in ("", "ai.onnx"):
            if node.op_type == "If" and node.input[0] in consts:
                body = _inline_if(node, consts)
            elif node.op_type == "Loop":
                body = _unroll_loop(node, consts)
            elif node.op_type == "Scan":
                body = _unroll_scan(node, consts, types)
        if body is None:
            out.append(node)
        else:
            out.extend(body)
            changed = True
    return out if changed else None


def _graph_attr(node: onnx.NodeProto, name: str) -> onnx.GraphProto:
    return next(a.g for a in node.attribute if a.name == name)


def _ints(node: onnx.NodeProto, name: str) -> list[int] | None:
    a = next((a for a in node.attribute if a.name == name), None)
    return None if a is None else list(a.ints)


def _label(node: onnx.NodeProto) -> str:
    return node.name or f"{node.op_type}:{node.output[0]}"


def _inline_if(node, consts) -> list[onnx.NodeProto]:
    cond = bool(np.asarray(materialize(consts[node.input[0]])).reshape(-1)[0])
    branch = _graph_attr(node, "then_branch" if cond else "else_branch")
    prefix = f"{_label(node)}/{'then' if cond else 'else'}"
    out_map = {o.name: n for o, n in zip(branch.output, node.output)}
    return inline(branch, prefix, {}, out_map, consts)


def inline(body: onnx.GraphProto, prefix: str, bind: dict[str, str],
           out_map: dict[str, str], consts: dict) -> list[onnx.NodeProto]:
    """`body`'s nodes with its inputs bound (`bind`: body input -> outer tensor), its outputs
    renamed (`out_map`), and every other name it defines prefixed; outer names stay."""
    rename = dict(bind)
    for t in body.initializer:
        rename[t.name] = f"{prefix}/{t.name}"
        consts[rename[t.name]] = numpy_helper.to_array(t)
    local = {o for n in body.node for o in n.output if o}
    for name in local:
        rename[name] = out_map.get(name, f"{prefix}/{name}")
    nodes = []
    for n in body.node:
        if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
            from npusim.frontend import _constant_value
            consts[rename[n.output[0]]] = _constant_value(n)
            continue
        copy = onnx.NodeProto()
        copy.CopyFrom(n)
        copy.name = f"{prefix}/{n.name or n.op_type}"
        copy.input[:] = [rename.get(i, i) if i else i for i in n.input]
        copy.output[:] = [rename.get(o, o) if o else o for o in n.output]
        for a in copy.attribute:  # nested bodies read the renamed values by their old names
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                _rename_outer(g, rename)
        nodes.append(copy)
    for o in body.output:
        if o.name not in local and o.name in out_map:  # a pass-through output
            nodes.append(helper.make_node("Identity", [rename.get(o.name, o.name)],
                                          [out_map[o.name]], name=f"{prefix}/{o.name}"))
    return nodes


def _rename_outer(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    """Rename, in place, the outer-scope values a (nested) body reads, unless it shadows them."""
    local = {vi.name for vi in graph.input} | {t.name for t in graph.initializer}
    local |= {o for n in graph.node for o in n.output if o}
    outer = {k: v for k, v in rename.items() if k not in local}
    if not outer:
        return
    for n in graph.node:
        n.input[:] = [outer.get(i, i) if i else i for i in n.input]
        for a in n.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                _rename_outer(g, outer)
    for o in graph.output:
        o.name = outer.get(o.name, o.name)


def _trip_count(node, consts) -> int | None:
    m = node.input[0] if node.input else ""
    if not m or m not in consts:
        return None
    if len(node.input) > 1 and node.input[1]:
        if node.input[1] not in consts:
            return None
        if not bool(np.asarray(materialize(consts[node.input[1]])).reshape(-1)[0]):
            return 0
    return int(np.asarray(materialize(consts[m])).reshape(-1)[0])


def _unroll_loop(node, consts) -> list[onnx.NodeProto] | None:
    trips = _trip_count(node, consts)
    if trips is None:
        return None
    body = _graph_attr(node, "body")
    n_states = len(node.input) - 2
    _check_unroll(node, trips, body)
    states = list(node.input[2:])
    scans: list[list[str]] = [[] for _ in body.output[1 + n_states:]]
    nodes: list[onnx.NodeProto] = []
    for i in range(trips):
        prefix = f"{_label(node)}#{i}"
        it, cond = f"{prefix}/iter", f"{prefix}/cond"
        consts[it], consts[cond] = np.array(i, np.int64), np.array(True)
        bind = {body.input[0].name: it, body.input[1].name: cond}
        bind.update({b.name: s for b, s in zip(body.input[2:], states)})
        out_map = {o.name: f"{prefix}/{o.name}" for o in body.output}
        nodes += inline(body, prefix, bind, out_map, consts)
        states = [out_map[o.name] for o in body.output[1:1 + n_states]]
        for k, o in enumerate(body.output[1 + n_states:]):
            scans[k].append(out_map[o.name])
    label = _label(node)
    nodes += [helper.make_node("Identity", [s], [o], name=f"{label}/out{k}")
              for k, (s, o) in enumerate(zip(states, node.output))]
    for k, (parts, out) in enumerate(zip(scans, node.output[n_states:])):
        nodes += _stack(parts, out, 0, f"{label}/scan{k}", consts, node)
    return nodes


def _unroll_scan(node, consts, types) -> list[onnx.NodeProto] | None:
    body = _graph_attr(node, "body")
    n_scan = next(a.i for a in node.attribute if a.name == "num_scan_inputs")
    n_states = len(node.input) - n_scan
    scan_inputs = list(node.input[n_states:])
    in_axes = _ints(node, "scan_input_axes") or [0] * n_scan
    in_dirs = _ints(node, "scan_input_directions") or [0] * n_scan
    n_out = len(body.output) - n_states
    out_axes = _ints(node, "scan_output_axes") or [0] * n_out
    out_dirs = _ints(node, "scan_output_directions") or [0] * n_out
    vt = types.get(scan_inputs[0])
    if vt is None or vt.dims is None or not isinstance(vt.dims[in_axes[0] % len(vt.dims)], int):
        return None
    trips = vt.dims[in_axes[0] % len(vt.dims)]
    _check_unroll(node, trips, body)
    label, states = _label(node), list(node.input[:n_states])
    scans: list[list[str]] = [[] for _ in range(n_out)]
    nodes: list[onnx.NodeProto] = []
    for i in range(trips):
        prefix = f"{label}#{i}"
        bind = {b.name: s for b, s in zip(body.input[:n_states], states)}
        for k, (x, axis, rev) in enumerate(zip(scan_inputs, in_axes, in_dirs)):
            idx, elem = f"{prefix}/index{k}", f"{prefix}/elem{k}"
            consts[idx] = np.array(trips - 1 - i if rev else i, np.int64)
            nodes.append(helper.make_node("Gather", [x, idx], [elem], axis=axis,
                                          name=f"{prefix}/Gather{k}"))
            bind[body.input[n_states + k].name] = elem
        out_map = {o.name: f"{prefix}/{o.name}" for o in body.output}
        nodes += inline(body, prefix, bind, out_map, consts)
        states = [out_map[o.name] for o in body.output[:n_states]]
        for k, o in enumerate(body.output[n_states:]):
            scans[k].append(out_map[o.name])
    nodes += [helper.make_node("Identity", [s], [o], name=f"{label}/out{k}")
              for k, (s, o) in enumerate(zip(states, node.output))]
    for k, (parts, out) in enumerate(zip(scans, node.output[n_states:])):
        ordered = parts[::-1] if out_dirs[k] else parts
        nodes += _stack(ordered, out, out_axes[k], f"{label}/scan{k}", consts, node)
    return nodes


def _stack(parts: list[str], out: str, axis: int, prefix: str, consts, node
           ) -> list[onnx.NodeProto]:
    """Unsqueeze each per-iteration value at `axis` and concatenate them into `out`."""
    if not out:
        return []
    if not parts:
        raise ShapeError(f"{node.op_type} at node '{_label(node)}' runs no iteration, so its "
                         "scan outputs are empty")
    axes = f"{prefix}/axes"
    consts[axes] = np.array([axis], np.int64)
    nodes, pieces = [], []
    for i, p in enumerate(parts):
        pieces.append(f"{prefix}/piece{i}")
        nodes.append(helper.make_node("Unsqueeze", [p, axes], [pieces[-1]],
                                      name=f"{prefix}/Unsqueeze{i}"))
    nodes.append(helper.make_node("Concat", pieces, [out], axis=axis, name=f"{prefix}/Concat"))
    return nodes


def _check_unroll(node, trips: int, body: onnx.GraphProto) -> None:
    if trips < 0:
        raise ShapeError(f"{node.op_type} at node '{_label(node)}' has a negative trip count "
                         f"{trips}")
    if trips * max(len(body.node), 1) > MAX_UNROLLED_NODES:
        raise ShapeError(f"{node.op_type} at node '{_label(node)}' would unroll to "
                         f"{trips} x {len(body.node)} nodes (limit {MAX_UNROLLED_NODES})")
