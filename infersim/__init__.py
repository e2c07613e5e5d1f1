"""infersim: accelerator simulator and design-space explorer for transformer inference.

    import infersim as isim
    hw = isim.load_hardware("h100-sxm")
    m = isim.load_model("llama-3.1-8b")
    r = isim.simulate(m, hw, phase="decode", batch=1, context=1024, runtime="graph")
    r.latency_s, r.tokens_per_s, r.energy_j, r.ops
    isim.predict_op(isim.ops.matmul(m=1, k=4096, n=6144, dtype="bf16"), hw)

The public names are loaded lazily, so that `infersim.errors` (used by every layer) imports
without pulling in the whole stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "InfersimError", "SimResult", "load_hardware", "load_model", "make_scenario", "ops",
    "plan", "predict_op", "serve", "simulate", "tune_runtime",
]

if TYPE_CHECKING:
    from infersim import ops
    from infersim.api import (
        SimResult,
        load_hardware,
        load_model,
        make_scenario,
        predict_op,
        serve,
        simulate,
        tune_runtime,
    )
    from infersim.foundation.errors import InfersimError
    from infersim.planner import plan


def __getattr__(name: str) -> Any:
    if name == "ops":
        import infersim.ops as ops_mod

        return ops_mod
    if name == "InfersimError":
        from infersim.foundation.errors import InfersimError

        return InfersimError
    if name == "plan":
        from infersim.planner import plan

        return plan
    if name in __all__:
        import infersim.api as api

        return getattr(api, name)
    raise AttributeError(f"module 'infersim' has no attribute {name!r}")
