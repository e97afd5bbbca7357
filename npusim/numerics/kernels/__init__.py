"""Array kernels the executor calls: convolution / matmul accumulation, pooling, elementwise.

Integer kernels return exact accumulators: 8-bit convolutions through numba int32 kernels
(vnni.py with AVX-512 VNNI, channels-last; qconv.py elsewhere) where a static bound proves
int32 suffices, everything else through float BLAS in chunks that stay exact; float kernels
compute in the given dtype.
"""

import os

# numba's OpenMP layer spins idle threads by default; with any other busy process on the
# machine the spinning thread steals the core the other one needs, and 2-thread runs of
# the int8 kernels got 5-10x slower than 1 thread. Passive waiting costs ~0.1 ms a call.
# Read by libgomp when numba first loads it; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
