"""Array kernels the executor calls: convolution / matmul accumulation, pooling, elementwise.

Integer kernels return exact accumulators (int64) computed through float64 BLAS, which is
exact for every int8/int16 partial sum below 2^53; float kernels compute in the given dtype.
"""
