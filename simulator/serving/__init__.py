"""Request-level serving simulation (simpy): traffic, policies, paged KV cache, metrics."""

from hwmodels.economics import Economics  # re-exported: the one cost-per-token model
from simulator.serving.capacity import CapacityResult, find_max_rate
from simulator.serving.config import (
    Deployment,
    Policy,
    Preemption,
    Router,
    ServingPolicy,
    Slo,
)
from simulator.serving.costs import MapperIterationCost
from simulator.serving.metrics import ServingResult
from simulator.serving.replica import IterationCost
from simulator.serving.serve import ReplicaSpec, serve, simulate_serving
from simulator.serving.traffic import (
    ClosedLoop,
    FixedLengths,
    Gamma,
    LengthSamples,
    Poisson,
    TraceReplay,
    Traffic,
    read_trace_csv,
)

__all__ = [
    "CapacityResult", "ClosedLoop", "Deployment", "Economics", "FixedLengths", "Gamma",
    "IterationCost", "LengthSamples", "MapperIterationCost", "Poisson", "Policy", "Preemption",
    "ReplicaSpec", "Router", "ServingPolicy", "ServingResult", "Slo", "TraceReplay", "Traffic",
    "find_max_rate", "read_trace_csv", "serve", "simulate_serving",
]
