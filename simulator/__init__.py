"""Simulator layer: op-level timelines of one step and request-level serving (simpy DES).

    from infersim.simulator import simulate_timeline, serve
    tl = simulate_timeline(schedule, micro_batches=4)     # Timeline: .to_frame(), .plot(path)
    r = serve("llama-3.1-70b", "dgx-h100", Traffic(Poisson(20), FixedLengths(1024, 256), 10000),
              deployment=Deployment(tp=8))                 # ServingResult: .to_dict()
"""

from infersim.simulator.serving import (
    Admission,
    ClosedLoop,
    Deployment,
    Economics,
    FixedLengths,
    Gamma,
    LengthSamples,
    Poisson,
    Policy,
    Preemption,
    Router,
    ServingPolicy,
    ServingResult,
    Slo,
    TraceReplay,
    Traffic,
    find_max_rate,
    serve,
    simulate_serving,
)
from infersim.simulator.timeline import Lane, Timeline, simulate_timeline

__all__ = [
    "Admission", "ClosedLoop", "Deployment", "Economics", "FixedLengths", "Gamma", "Lane", "LengthSamples",
    "Poisson", "Policy", "Preemption", "Router", "ServingPolicy", "ServingResult", "Slo",
    "Timeline", "TraceReplay", "Traffic", "find_max_rate", "serve", "simulate_serving",
    "simulate_timeline",
]
