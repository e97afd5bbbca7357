"""Probe semantics and second-moment rules the zoo's GraphBuilder uses to scale random weights.

`evaluate` pushes a [samples, channels] probe through one op; `M2_RULES` estimate E[x^2] where
no probe exists.
"""

from __future__ import annotations

import math

import numpy as np

_ELEMENTWISE = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": np.divide,
    "Relu": lambda x: np.maximum(x, 0),
    "Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}

# E[gamma^2 / var] for gamma ~ U(0.5, 1.5), var ~ U(0.5, 1.5): (13/12) * ln 3
BN_GAIN = 13.0 / 12.0 * math.log(3.0)


def _erf_m2(m2: float) -> float:
    """E[erf(z)^2] for z ~ N(0, m2)."""
    return 2.0 / math.pi * math.asin(2.0 * m2 / (1.0 + 2.0 * m2))


def _sigmoid_m2(m2: float) -> float:
    """E[sigmoid(x)^2] for x ~ N(0, m2), via sigmoid(x) ~ (1 + erf(x sqrt(pi) / 4)) / 2."""
    return 0.25 + 0.25 * _erf_m2(m2 * math.pi / 16.0)


# second moment of an op's output from its inputs' second moments (weight ops are set by helpers)
M2_RULES = {
    "Add": lambda m: sum(m),
    "Sub": lambda m: sum(m),
    "Mul": lambda m: math.prod(m),
    "Div": lambda m: m[0] / m[1],
    "Relu": lambda m: m[0] / 2.0,
    "Clip": lambda m: min(m[0] / 2.0, 36.0),
    "Sigmoid": lambda m: _sigmoid_m2(m[0]),
    "Erf": lambda m: _erf_m2(m[0]),
    "MaxPool": lambda m: 2.0 * m[0],
    "GlobalAveragePool": lambda m: m[0] / math.pi,
    "Concat": lambda m: sum(m) / len(m),
}



def _taps(x: np.ndarray, n: int, center: int, rng: np.random.Generator) -> np.ndarray:
    """[n, P, C]: tap ``center`` is ``x`` itself, the others random permutations of it."""
    return np.stack([x if i == center else x[rng.permutation(x.shape[0])]
                     for i in range(n)])

def evaluate(op: str, vals: list, attrs: dict, rng: np.random.Generator) -> np.ndarray | None:
    """Probe semantics of ``op`` on [samples, channels] arrays (spatial dims are samples)."""
    if op in ("Conv", "MaxPool"):
        kh, kw = attrs["kernel_shape"]
        taps = _taps(vals[0], kh * kw, (kh // 2) * kw + kw // 2, rng)
        if op == "MaxPool":
            return taps.max(axis=0)
        w = vals[1]
        groups = attrs.get("group", 1)
        cout, cin_g = w.shape[0], w.shape[1]
        n_taps, n = kh * kw, taps.shape[1]
        # [G, P, taps * cin_g] @ [G, taps * cin_g, cout_g]
        t = taps.reshape(n_taps, n, groups, cin_g).transpose(2, 1, 0, 3).reshape(groups, n, -1)
        wg = w.reshape(groups, cout // groups, cin_g, n_taps).transpose(0, 3, 2, 1)
        y = np.matmul(t, wg.reshape(groups, n_taps * cin_g, cout // groups))
        y = y.transpose(1, 0, 2).reshape(n, cout)
        return y + vals[2] if len(vals) > 2 else y
    if op == "ConvTranspose":  # kernel == stride: each output pixel sees one tap
        x, w, b = vals
        k = w.shape[2] * w.shape[3]
        taps = w.reshape(w.shape[0], w.shape[1], k)
        which = np.arange(x.shape[0]) % k
        y = np.empty((x.shape[0], w.shape[1]), dtype=np.float32)
        for i in range(k):
            y[which == i] = x[which == i] @ taps[:, :, i]
        return y + b
    if op == "BatchNormalization":
        x, g, b, mean, var = vals
        return (x - mean) / np.sqrt(var + attrs.get("epsilon", 1e-5)) * g + b
    if op == "Gemm":
        return vals[0] @ vals[1].T + vals[2]
    if op == "GlobalAveragePool":
        return vals[0].mean(axis=0, keepdims=True)
    if op == "Concat":
        return np.concatenate(vals, axis=1)
    if op in ("Resize", "Flatten", "Identity"):
        return vals[0]
    if op == "Clip":
        return np.clip(vals[0], vals[1], vals[2])
    fn = _ELEMENTWISE.get(op)
    return fn(*vals) if fn else None
