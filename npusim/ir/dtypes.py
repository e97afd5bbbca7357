"""Element types of IR tensors and of the precisions a chip computes in.

`DType` mirrors the ONNX TensorProto element types npusim understands; `Precision` is the
arithmetic a compute unit runs an op in (int8, int16, fp16, ...), which fixes how many bytes an
activation or weight occupies when the model is simulated at that precision.
"""

from __future__ import annotations

import enum

import numpy as np
import onnx


class DType(enum.Enum):
    FLOAT32 = onnx.TensorProto.FLOAT
    FLOAT16 = onnx.TensorProto.FLOAT16
    BFLOAT16 = onnx.TensorProto.BFLOAT16
    FLOAT64 = onnx.TensorProto.DOUBLE
    FLOAT8E4M3FN = onnx.TensorProto.FLOAT8E4M3FN
    FLOAT8E5M2 = onnx.TensorProto.FLOAT8E5M2
    INT4 = onnx.TensorProto.INT4
    UINT4 = onnx.TensorProto.UINT4
    INT8 = onnx.TensorProto.INT8
    UINT8 = onnx.TensorProto.UINT8
    INT16 = onnx.TensorProto.INT16
    UINT16 = onnx.TensorProto.UINT16
    INT32 = onnx.TensorProto.INT32
    UINT32 = onnx.TensorProto.UINT32
    INT64 = onnx.TensorProto.INT64
    UINT64 = onnx.TensorProto.UINT64
    BOOL = onnx.TensorProto.BOOL
    STRING = onnx.TensorProto.STRING

    @classmethod
    def from_onnx(cls, elem_type: int) -> DType:
        return cls(elem_type)

    @classmethod
    def from_numpy(cls, dtype: np.dtype) -> DType:
        return cls(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    @property
    def numpy(self) -> np.dtype:
        return onnx.helper.tensor_dtype_to_np_dtype(self.value)

    @property
    def bits(self) -> int:
        return _BITS[self]

    @property
    def itemsize(self) -> float:
        """Bytes per element (0.5 for 4-bit types)."""
        return self.bits / 8

    @property
    def is_float(self) -> bool:
        return self in _FLOATS


_FLOATS = frozenset({DType.FLOAT32, DType.FLOAT16, DType.BFLOAT16, DType.FLOAT64,
                     DType.FLOAT8E4M3FN, DType.FLOAT8E5M2})
_BITS = {
    DType.FLOAT32: 32, DType.FLOAT16: 16, DType.BFLOAT16: 16, DType.FLOAT64: 64,
    DType.FLOAT8E4M3FN: 8, DType.FLOAT8E5M2: 8, DType.INT4: 4, DType.UINT4: 4,
    DType.INT8: 8, DType.UINT8: 8, DType.INT16: 16, DType.UINT16: 16, DType.INT32: 32,
    DType.UINT32: 32, DType.INT64: 64, DType.UINT64: 64, DType.BOOL: 8, DType.STRING: 64,
}


class Precision(str, enum.Enum):
    """The arithmetic an op runs in on a compute unit."""

    INT4 = "int4"
    INT8 = "int8"
    INT16 = "int16"
    FP8 = "fp8"
    FP16 = "fp16"
    BF16 = "bf16"
    TF32 = "tf32"
    FP32 = "fp32"
    W4A16 = "w4a16"   # weight-only: int4 weights packed in DRAM, fp16 activations and math
    W8A16 = "w8a16"   # weight-only: int8 weights, fp16 activations and math

    @property
    def activation_bytes(self) -> float:
        """Bytes one activation or weight element occupies at this precision."""
        return _PRECISION_BYTES[self]

    @property
    def weight_bytes(self) -> float:
        """Bytes one weight element occupies in DRAM (packed for weight-only precisions)."""
        return _WEIGHT_BYTES.get(self, _PRECISION_BYTES[self])

    @property
    def compute(self) -> Precision:
        """The arithmetic the MACs run in: fp16 for weight-only precisions (the weights are
        dequantized on the fly), the precision itself otherwise."""
        return Precision.FP16 if self in _WEIGHT_BYTES else self

    @property
    def is_integer(self) -> bool:
        """Integer arithmetic: QDQ pairs fold into the kernels, biases are int32."""
        return self in (Precision.INT4, Precision.INT8, Precision.INT16)


_PRECISION_BYTES = {
    Precision.INT4: 0.5, Precision.INT8: 1, Precision.INT16: 2, Precision.FP8: 1,
    Precision.FP16: 2, Precision.BF16: 2, Precision.TF32: 4, Precision.FP32: 4,
    Precision.W4A16: 2, Precision.W8A16: 2,
}
_WEIGHT_BYTES = {Precision.W4A16: 0.5, Precision.W8A16: 1}
