"""The closed loop: predict measured kernels and transformer steps with a calibrated spec.

Kernel rows become `workloads.ops` operators (the one home of FLOP/byte formulas) and are
priced by the hardware's cost model through `infersim.api.predict_op`; transformer rows
become scenarios of `validation.transformer.SMALL_LLAMA`, traced by `workloads.build_trace`
and mapped by `mapper.map_trace` under the `graph` runtime (one kernel per trace op, no
host-launch model: the CPU runs its kernels itself), exactly what `infersim simulate` does.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from infersim.hwmodels.spec import Hardware
from infersim.validation.kernels.cases import Case, Kernel
from infersim.workloads import ops as O
from infersim.workloads.dtypes import DType
from infersim.workloads.ops import Op, OpKind


def kernel_op(kernel: str, dtype: str, n: int, m: int = 0, k: int = 0) -> Op:
    """The operator a measured kernel call performs (bytes by the STREAM convention for the
    elementwise kernels; GEMM's B and attention's K/V as weights and KV cache)."""
    kern = Kernel(kernel)
    dt = DType.parse(dtype)
    if kern == Kernel.GEMM:  # B is a weight matrix (cold in the measurement, as in a model)
        return O.matmul(m, k, n, dt, name="gemm")
    if kern == Kernel.ATTENTION:
        return Case(kern, dtype, n=n, m=m).attention_op()
    if kern == Kernel.EMPTY:
        return O.vector(OpKind.ELEMENTWISE, 1, dt, inputs=0.0, outputs=0.0, flops_per_elem=0.0,
                        name="empty")
    reads, writes, fpe = Case.elementwise_shape(kern)
    return O.vector(OpKind.ELEMENTWISE, n, dt, inputs=float(reads), outputs=float(writes),
                    flops_per_elem=fpe, name=kern.value)


def predict_kernel_rows(df: pd.DataFrame, hw: Hardware) -> pd.Series:
    """Predicted seconds per call for every kernel row of a measurement table."""
    from infersim.api import predict_op

    out = []
    for r in df.itertuples(index=False):
        op = kernel_op(r.kernel, r.dtype, int(r.n), int(r.m), int(r.k))
        out.append(predict_op(op, hw, "graph"))
    return pd.Series(out, index=df.index, dtype=float)


def transformer_scenario(phase: str, tokens: int) -> dict[str, Any]:
    """Keyword arguments of `infersim.api.simulate` for one measured step (fp32 throughout,
    batch 1)."""
    kw: dict[str, Any] = {"phase": phase, "batch": 1, "weights": "fp32",
                          "activations": "fp32", "kv": "fp32", "runtime": "graph"}
    if phase == "prefill":
        kw["prompt"] = tokens
    else:
        kw["context"] = tokens
    return kw


def predict_transformer_rows(df: pd.DataFrame, hw: Hardware) -> pd.Series:
    """Predicted seconds per step for every transformer row (phase, tokens)."""
    from infersim.api import load_model, simulate
    from infersim.validation.transformer import SMALL_LLAMA

    model = load_model(dict(SMALL_LLAMA))
    out = [simulate(model, hw, **transformer_scenario(str(r.phase), int(r.tokens))).latency_s
           for r in df.itertuples(index=False)]
    return pd.Series(out, index=df.index, dtype=float)
