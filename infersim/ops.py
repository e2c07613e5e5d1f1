"""Operator constructors for `predict_op` (re-exported from workloads.ops)."""

from infersim.workloads.ops import Collective, OpKind, attention, collective, matmul, vector

__all__ = ["Collective", "OpKind", "attention", "collective", "matmul", "vector"]
