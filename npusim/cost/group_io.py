"""Which tensors a fused group loads, stores and keeps on chip, and how row tiling scales
them: the bookkeeping the cost model prices a group with, grown one node at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from npusim.ir.ops import FULL

if TYPE_CHECKING:
    from npusim.cost.model import CostModel


class GroupIO:
    """Which tensors a group loads, stores and keeps on chip (tiling-independent)."""

    __slots__ = ("members", "loads", "load_aliases", "full_operands", "stores", "internal")

    def __init__(self):
        self.members: set[int] = set()
        self.loads: dict[str, int] = {}             # root -> bytes read from DRAM
        self.load_aliases: dict[str, list[str]] = {}  # root -> the names members read it by
        self.full_operands: set[str] = set()        # constants: weights and biases
        self.stores: dict[str, int] = {}            # written to DRAM
        self.internal: dict[str, int] = {}          # kept on chip

    @classmethod
    def of(cls, model: CostModel, members: tuple[int, ...]) -> GroupIO:
        io = cls()
        for i in reversed(members):
            io.prepend(model, i)
        return io

    def prepend(self, model: CostModel, i: int) -> None:
        """Add node i, which precedes every member in topological order: it cannot read a
        member's output, and the members' stores and internal tensors do not change."""
        p = model.problem
        self.members.add(i)
        if p.is_view[i]:
            return
        for tensor, nbytes in ((w.tensor, w.nbytes) for w in p.writes[i]):
            if self.loads.pop(tensor, None) is not None:
                self.load_aliases.pop(tensor)
            readers = p.readers.get(tensor, ())
            if tensor in p.outputs or any(j not in self.members for j in readers):
                self.stores[tensor] = nbytes
            else:
                self.internal[tensor] = nbytes
        for r in p.reads[i]:
            if r.nbytes > self.loads.get(r.root, -1):
                self.loads[r.root] = r.nbytes
            self.load_aliases.setdefault(r.root, []).append(r.tensor)
            if r.constant:
                self.full_operands.add(r.root)

    @property
    def has_full_operands(self) -> bool:
        return bool(self.full_operands)

    def max_row_tiles(self, model: CostModel) -> int:
        outs = self.stores or self.internal
        return max(1, min((model.rows[t] for t in outs), default=1))

    def tile_plan(self, model: CostModel, members: tuple[int, ...], t: int
                  ) -> dict[str, int] | None:
        """Rows of each tensor one (interior) tile touches, or None if not row-tileable."""
        if t == 1:
            return {}
        nodes = model.problem.graph.nodes
        demand: dict[str, int] = {o: -(-model.rows[o] // t) for o in self.stores}
        for i in reversed(members):
            wanted = [demand[o] for o in nodes[i].outputs if o in demand]
            if not wanted:
                continue
            d = FULL if FULL in wanted else max(wanted)
            if d == FULL:
                return None
            need = model.row_demand(i, d)
            if need is None:
                return None
            for tensor, rows in need.items():
                old = demand.get(tensor)
                demand[tensor] = FULL if FULL in (rows, old) else max(rows, old or 0)
        return demand

    def _rows(self, model: CostModel, plan: dict[str, int], names: list[str]) -> int:
        wanted = [plan.get(n, FULL) for n in names]
        return FULL if FULL in wanted else max(wanted)

    def working_set(self, model: CostModel, plan: dict[str, int], t: int, mode: str) -> float:
        """SRAM bytes the group needs at once with t row tiles: activations in the layout
        the unit stores them in (padding included), double-buffered tiles when t > 1."""
        rows_of_ = model.rows
        pad = model.padding.get
        buffers = 2 if t > 1 else 1
        ws = 0.0
        full = 0
        for root, nbytes in self.loads.items():
            rows = FULL if t == 1 else self._rows(model, plan, self.load_aliases[root])
            if root in self.full_operands:
                full += nbytes
            elif rows == FULL:
                ws += nbytes * pad(root, 1.0)  # every tile needs it whole: stays resident
            else:
                ws += buffers * nbytes * pad(root, 1.0) * rows / rows_of_[root]
        for tensor, nbytes in self.stores.items():
            rows = plan.get(tensor, FULL) if t > 1 else FULL
            h = rows_of_[tensor]
            ws += buffers * nbytes * pad(tensor, 1.0) * (h if rows == FULL else rows) / h
        for tensor, nbytes in self.internal.items():
            rows = plan.get(tensor, FULL) if t > 1 else FULL
            h = rows_of_[tensor]
            ws += nbytes * pad(tensor, 1.0) * (h if rows == FULL else rows) / h
        if mode == "resident":
            return ws + full
        return ws + 2 * max((model.weight_chunk[r] for r in self.full_operands), default=0.0)

    def bytes_moved(self, model: CostModel, plan: dict[str, int], t: int, mode: str
                    ) -> dict[str, tuple[float, int | None]]:
        """Per loaded tensor: (bytes read from DRAM over all t tiles, rows one tile reads or
        None when it reads the whole tensor). Halo rows are read again by every tile that
        needs them; a streamed weight is read once per tile."""
        out: dict[str, tuple[float, int | None]] = {}
        for root, nbytes in self.loads.items():
            rows = FULL if t == 1 else self._rows(model, plan, self.load_aliases[root])
            if root in self.full_operands:
                out[root] = (nbytes * (t if mode == "streamed" else 1), None)
            elif rows == FULL:
                out[root] = (nbytes, None)
            else:
                h = model.rows[root]
                out[root] = (nbytes * _rows_over_tiles(h, rows, t) / h, rows)
        return out

    def recompute_factor(self, model: CostModel, i: int, plan: dict[str, int], t: int
                         ) -> float:
        """Rows of node i's output computed over all tiles / rows it has."""
        if t == 1:
            return 1.0
        out = model.problem.graph.nodes[i].outputs[0]
        rows = plan.get(out)
        if rows is None or rows == FULL:
            return 1.0
        h = model.rows[out]
        return _rows_over_tiles(h, rows, t) / h


def _rows_over_tiles(h: int, rows: int, t: int) -> int:
    """Rows touched by t tiles that each touch `rows` of h: the first tile's rows plus, for
    each further tile, its overlap (halo) beyond an even share."""
    return min(t * rows, h + (t - 1) * max(0, rows - -(-h // t)))
