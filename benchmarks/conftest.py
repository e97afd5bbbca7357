"""Benchmark settings: numba's OpenMP workers must not spin while idle, or a busy second core
makes two-thread kernels slower than one (set before any kernel starts its thread pool)."""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
