"""npusim's intermediate representation: tensors, nodes, graphs and the op registry."""

from npusim.ir.dtypes import DType, Precision
from npusim.ir.graph import Graph, Node, Tensor
from npusim.ir.ops import MAC_KINDS, Access, FusionKind, OpWork, Role, op_work, supported_ops

__all__ = ["MAC_KINDS", "Access", "DType", "FusionKind", "Graph", "Node", "OpWork", "Precision",
           "Role", "Tensor", "op_work", "supported_ops"]
