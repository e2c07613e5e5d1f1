"""`serve` runs on a fresh stack (foundation.fresh_stack) and gives the numbers it gives in place."""

from __future__ import annotations

from infersim.simulator.serving import (
    Deployment,
    FixedLengths,
    Poisson,
    ServingPolicy,
    Traffic,
    serve,
)


def test_serve_gives_the_same_numbers_on_a_fresh_stack_as_in_place():
    args = ("llama-3.1-8b", "h100-sxm", Traffic(Poisson(4.0), FixedLengths(512, 64), 50),
            ServingPolicy())
    kwargs = {"deployment": Deployment(runtime="vllm-v0"), "seed": 3}
    fresh = serve(*args, **kwargs)
    in_place = serve.__wrapped__(*args, **kwargs)  # type: ignore[attr-defined]
    assert fresh.completed == in_place.completed == 50
    assert (fresh.ttft, fresh.tpot, fresh.e2e, fresh.throughput_tok_s, fresh.energy_j) == \
        (in_place.ttft, in_place.tpot, in_place.e2e, in_place.throughput_tok_s,
         in_place.energy_j)
    assert fresh.ttft["p50"] > 0
