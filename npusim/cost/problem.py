"""The prepared problem: one graph on one chip at a per-node precision, and every fact about
it that pricing, planning and scheduling read (computed once, here, and never again).

Facts per node: its work (MACs, vector ops, accesses), whether it is a view (moves no data),
the unit that runs it and its compute time there. Facts per tensor: the stored tensor behind
any chain of views (its root), its producer and readers, its bytes at its precision, its
rows (for row tiling), the chunk a weight streams in, and the layout it takes in memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from npusim.cost.compute import ComputeTime, compute_time
from npusim.cost.qdq import qdq_precisions
from npusim.errors import UnsupportedOpError
from npusim.hw.layout import Layout, layout_rule, tensor_layout
from npusim.hw.schema import Chip, ComputeUnit
from npusim.ir import Access, FusionKind, Graph, OpWork, Precision, Role, op_work
from npusim.ir.layer_names import resolve_layers
from npusim.ir.ops import rows_of

_QDQ = frozenset({"QuantizeLinear", "DequantizeLinear"})


def is_view(work: OpWork, precision: Precision) -> bool:
    """Ops that move no data: shape-only ops, and at an integer precision a QDQ model's
    Quantize/DequantizeLinear, which a compiler folds into the integer kernels."""
    return work.kind is FusionKind.SHAPE_ONLY or (precision.is_integer
                                                  and work.op_type in _QDQ)


def assign_unit(op_type: str, node_name: str, chip: Chip, precision: Precision
                ) -> ComputeUnit:
    """The first unit in the chip's order that runs this op type at this precision."""
    for unit in chip.ordered_units:
        if unit.runs(op_type) and precision.compute in unit.macs_per_cycle:
            return unit
    offered = ", ".join(f"{u.name} ({'/'.join(p.value for p in u.precisions)})"
                        for u in chip.ordered_units)
    raise UnsupportedOpError(f"no unit of chip '{chip.name}' runs {op_type} node "
                             f"'{node_name}' in {precision.value}; units: {offered}")


def math_precision(unit: ComputeUnit, work: OpWork, precision: Precision) -> Precision:
    """The arithmetic an op's MACs run in: fp32 convs and matmuls run on TF32 tensor cores
    where the unit's builder does so (TensorRT's default); otherwise the precision itself."""
    build = unit.build
    if (build is not None and build.fp32_math == "tf32" and precision is Precision.FP32
            and work.macs and Precision.TF32 in unit.macs_per_cycle):
        return Precision.TF32
    return precision.compute


def element_bytes(graph: Graph, tensor: str, precision: Precision, role: Role | None = None
                  ) -> float:
    """Bytes per element of `tensor` at `precision`: float tensors take the precision's
    width (a bias: int32 under integer precisions); integer and bool tensors keep theirs."""
    dtype = graph.tensor(tensor).dtype
    if not dtype.is_float:
        return dtype.itemsize
    if role is Role.BIAS and precision.is_integer:
        return 4
    if role is Role.WEIGHT:
        return precision.weight_bytes  # packed int4 / int8 for weight-only precisions
    return precision.activation_bytes


def tensor_bytes(graph: Graph, access: Access, precision: Precision) -> int:
    """Bytes of one access (all or part of a tensor) at a precision."""
    return int(round(access.elements * element_bytes(graph, access.tensor, precision,
                                                     access.role)))


@dataclass(frozen=True, slots=True)
class Read:
    """One input a node reads: by the name it uses, and the stored tensor behind views."""

    tensor: str
    root: str
    nbytes: int
    constant: bool


@dataclass(frozen=True, slots=True)
class Write:
    tensor: str
    nbytes: int


@dataclass(frozen=True, slots=True, eq=False)
class Problem:
    """A graph, a chip and a precision per node, with the facts every later stage reads.
    Node facts are tuples indexed like `graph.nodes`; tensor facts are keyed by name."""

    graph: Graph
    chip: Chip
    model: str
    precision: Precision                       # the default; `precisions` has every node's
    precisions: Mapping[str, Precision]
    index: Mapping[str, int]
    work: tuple[OpWork, ...]
    is_view: tuple[bool, ...]
    unit: tuple[ComputeUnit | None, ...]
    compute: tuple[ComputeTime | None, ...]
    reads: tuple[tuple[Read, ...], ...]
    writes: tuple[tuple[Write, ...], ...]
    root: Mapping[str, str]                    # a view's output -> the stored tensor
    producer: Mapping[str, int]                # stored tensor -> the non-view node writing it
    readers: Mapping[str, frozenset[int]]      # stored tensor -> non-view nodes reading it
    outputs: frozenset[str]                    # stored tensors behind the graph outputs
    rows: Mapping[str, int]
    weight_chunk: Mapping[str, float]          # weight -> bytes of one output-channel block
    layouts: Mapping[str, Layout]              # activation -> layout on the unit producing it
    padding: Mapping[str, float]               # activation -> aligned / valid bytes (>= 1)
    estimated: Mapping[str, str]               # profile figures marked estimated
    float_islands: tuple[str, ...] = ()        # QDQ-model nodes left outside Q/DQ: float
    builder_choices: Mapping[str, Precision] = field(  # int8 layers the builder keeps higher
        default_factory=lambda: MappingProxyType({}))
    chosen: frozenset[str] = frozenset()       # nodes whose precision a precision map set

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: self.graph.shape(name) for name in self.graph.inputs}

    @property
    def uniform(self) -> bool:
        return all(p is self.precision for p in self.precisions.values())

    def precision_of(self, i: int) -> Precision:
        return self.precisions[self.graph.nodes[i].name]

    def root_of(self, tensor: str) -> str:
        return self.root.get(tensor, tensor)

    def padded(self, tensor: str, nbytes: float) -> int:
        """`nbytes` of `tensor` scaled by its layout's padding (weights keep their size)."""
        return math.ceil(nbytes * self.padding.get(tensor, 1.0))

    def stored_bytes(self, tensor: str) -> int:
        """Bytes of a whole stored tensor at the precision of the node producing it (of its
        first reader for graph inputs and constants)."""
        node = self.producer.get(tensor)
        if node is None:
            node = min(self.readers.get(tensor, ()), default=None)
        precision = self.precision if node is None else self.precision_of(node)
        return math.ceil(self.graph.tensor(tensor).size
                         * element_bytes(self.graph, tensor, precision))


def prepare_problem(graph: Graph, chip: Chip, precision: Precision,
                    precisions: Mapping[str, Precision] | None = None,
                    model: str | None = None) -> Problem:
    """Compute every fact of (graph, chip, precision per node) once. `precisions` maps layer
    names (node names, merged or fused-group names) to a precision other than the default;
    an unknown name is a user error. A QDQ model's float islands run in float."""
    nodes = graph.nodes
    index = {n.name: i for i, n in enumerate(nodes)}
    work = tuple(op_work(n, graph) for n in nodes)
    # a QDQ model's own precisions first (float islands), then the user's, which win
    inferred = qdq_precisions(graph, chip, precision, work)
    explicit = {name: Precision(p) for name, p in resolve_layers(
        graph, precisions or {}, f"precision map for {model or graph.name}").items()}
    chosen = {n.name: precision for n in nodes} | inferred | explicit
    prec = [chosen[n.name] for n in nodes]
    views = [is_view(w, p) for w, p in zip(work, prec)]
    units: list[ComputeUnit | None] = [None] * len(nodes)
    for i, n in enumerate(nodes):
        if not views[i]:
            units[i], prec[i] = _as_built(n, chip, prec[i], n.name in explicit)
            chosen[n.name] = prec[i]
            views[i] = units[i] is None  # the builder elides it: no copy, no kernel
    views = tuple(views)
    units = tuple(units)
    compute = tuple(None if v else compute_time(w, graph, u, math_precision(u, w, p), chip)
                    for w, v, u, p in zip(work, views, units, prec))
    root: dict[str, str] = {}
    producer: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for out in n.outputs:
            if not out:
                continue
            if views[i] and n.inputs and n.inputs[0]:
                root[out] = root.get(n.inputs[0], n.inputs[0])
            else:
                producer[out] = i
    reads, writes = [], []
    readers: dict[str, set[int]] = {}
    model_inputs, behind_outputs = set(graph.inputs), _behind_outputs(graph, index, views)

    def moved_at(i: int, tensor: str, bound: set[str]) -> Precision:
        """The precision node i moves `tensor` at: its unit's I/O precision for a model input
        or output the builder binds so (`bound`), else the node's."""
        io = _io_precision(units[i])
        return io if io is not None and tensor in bound else prec[i]

    for i in range(len(nodes)):
        rs = []
        for a in work[i].reads:
            r = root.get(a.tensor, a.tensor)
            # a weight read through views (e.g. a DequantizeLinear) is still a weight
            rs.append(Read(a.tensor, r, tensor_bytes(graph, a, moved_at(i, r, model_inputs)),
                           graph.tensor(r).is_constant))
        rs = tuple(rs)
        reads.append(rs)
        writes.append(tuple(Write(a.tensor, tensor_bytes(
            graph, a, moved_at(i, a.tensor, behind_outputs))) for a in work[i].writes))
        if not views[i]:
            for r in rs:
                readers.setdefault(r.root, set()).add(i)
    weight_chunk = {r.root: _weight_chunk(graph, units[i], r)
                    for i, rs in enumerate(reads) for r in rs if r.constant}
    bound = model_inputs | behind_outputs
    layouts = _layouts(graph, chip, units, prec, producer, readers,
                       lambda i, t: moved_at(i, t, bound))
    return Problem(
        graph=graph, chip=chip, model=model or graph.name, precision=precision,
        precisions=MappingProxyType(chosen), index=MappingProxyType(index), work=work,
        is_view=views, unit=units, compute=compute, reads=tuple(reads), writes=tuple(writes),
        root=MappingProxyType(root), producer=MappingProxyType(producer),
        readers=MappingProxyType({t: frozenset(r) for t, r in readers.items()}),
        outputs=frozenset(root.get(t, t) for t in graph.outputs),
        rows=MappingProxyType({name: rows_of(graph, name) for name in graph.tensors}),
        weight_chunk=MappingProxyType(weight_chunk),
        layouts=MappingProxyType(layouts), chosen=frozenset(explicit),
        padding=MappingProxyType({t: lay.aligned_bytes / lay.valid_bytes
                                  for t, lay in layouts.items()
                                  if lay.valid_bytes and lay.aligned_bytes != lay.valid_bytes}),
        estimated=MappingProxyType(chip.estimated_figures()),
        float_islands=tuple(n.name for i, n in enumerate(nodes) if n.name in inferred
                            and n.name not in explicit and not views[i]
                            and not prec[i].is_integer))


def _io_precision(unit: ComputeUnit | None) -> Precision | None:
    """The precision `unit`'s builder binds model inputs and outputs at (None: the layer's)."""
    return unit.build.io_precision if unit is not None and unit.build is not None else None


def _behind_outputs(graph: Graph, index: Mapping[str, int], views) -> set[str]:
    """The model outputs and every activation a chain of views makes one of them (each input
    of an in-place Concat, the tensor under a Reshape): what the engine writes as outputs."""
    behind, stack = set(graph.outputs), list(graph.outputs)
    while stack:
        p = graph.producer(stack.pop())
        if p is None or not views[index[p.name]]:
            continue
        for t in p.inputs:
            if t and not graph.tensor(t).is_constant and t not in behind:
                behind.add(t)
                stack.append(t)
    return behind


def _as_built(node, chip: Chip, precision: Precision, explicit: bool
              ) -> tuple[ComputeUnit | None, Precision]:
    """The unit that runs a node and the precision it runs at, as the unit's builder makes
    it: an int8 build keeps its fallback ops in a higher precision (unless the user chose
    the node's precision), and an op the builder runs in place has no unit (None)."""
    unit = assign_unit(node.op_type, node.name, chip, precision)
    build = unit.build
    if build is None:
        return unit, precision
    if precision is Precision.INT8 and node.op_type in build.int8_fallback and not explicit:
        precision = build.fallback_precision
        unit = assign_unit(node.op_type, node.name, chip, precision)
    if unit.build is not None and node.op_type in unit.build.in_place:
        return None, precision
    return unit, precision


def _weight_chunk(graph: Graph, unit: ComputeUnit | None, read: Read) -> float:
    """Bytes of one block of output channels of a weight (what streams at a time)."""
    shape = graph.shape(read.tensor)
    channels = shape[0] if len(shape) == 4 else shape[-1] if shape else 1
    block = (int(unit.fusion.weight_block_channels.value)
             if unit is not None and unit.fusion is not None else channels)
    return read.nbytes / math.ceil(max(channels, 1) / max(block, 1))


def _layouts(graph: Graph, chip: Chip, units, prec, producer, readers,
             moved_at: Callable[[int, str], Precision]) -> dict[str, Layout]:
    """Layout of every stored activation: the producing unit's native format (the first
    reader's for graph inputs), at the precision that node moves it at (its own, or the I/O
    precision of a model input or output the unit's builder binds)."""
    layouts = {}
    for tensor in sorted(set(producer) | set(readers)):
        if graph.tensor(tensor).is_constant:
            continue
        node = producer.get(tensor)
        if node is None:
            node = min(readers[tensor])
        unit = units[node]
        rule = layout_rule(chip, unit.name if unit is not None else None, prec[node].compute)
        layouts[tensor] = tensor_layout(tensor, graph.shape(tensor), element_bytes(
            graph, tensor, moved_at(node, tensor)), rule)
    return layouts
