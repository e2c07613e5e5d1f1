"""Request-level serving simulation (simpy): traffic, policies, paged KV cache, metrics."""

from infersim.hwmodels.economics import Economics  # re-exported: the one cost-per-token model
from infersim.simulator.serving.capacity import (
    CapacityResult,
    PoolSizes,
    find_max_rate,
    find_pool_sizes,
)
from infersim.simulator.serving.config import (
    KV_LINKS,
    Admission,
    Deployment,
    Policy,
    Preemption,
    Router,
    ServingPolicy,
    Slo,
)
from infersim.simulator.serving.costs import MapperIterationCost
from infersim.simulator.serving.metrics import ServingResult
from infersim.simulator.serving.replica import IterationCost
from infersim.simulator.serving.serve import ReplicaSpec, serve, simulate_serving
from infersim.simulator.serving.traffic import (
    ClosedLoop,
    FixedLengths,
    Gamma,
    LengthSamples,
    Lognormal,
    Poisson,
    Prefixes,
    SampledLengths,
    TraceReplay,
    Traffic,
    Uniform,
    Zipf,
    read_trace_csv,
)

__all__ = [
    "KV_LINKS", "Admission", "CapacityResult", "ClosedLoop", "Deployment", "Economics", "FixedLengths",
    "Gamma", "IterationCost", "LengthSamples", "Lognormal", "MapperIterationCost", "Poisson",
    "Policy", "PoolSizes", "Preemption", "Prefixes", "ReplicaSpec", "Router", "SampledLengths",
    "ServingPolicy", "ServingResult", "Slo", "TraceReplay", "Traffic", "Uniform", "Zipf",
    "find_max_rate", "find_pool_sizes", "read_trace_csv", "serve", "simulate_serving",
]
