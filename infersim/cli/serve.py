"""`infersim serve`: request-level serving simulation and capacity planning from the shell."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from infersim.cli.common import (
    add_hw_args,
    add_power_cap_arg,
    add_runtime_arg,
    add_runtime_set_arg,
    fmt_si,
    hw_overrides,
    int_arg,
    knobs_text,
    nonneg_int,
    parse_runtime_set,
    print_diagnostics,
    print_json,
    print_table,
    runtime_knobs_field,
    runtime_label,
)
from infersim.cli.serve_lengths import (
    add_length_args,
    add_prefix_args,
    lengths_from_args,
    prefixes_from_args,
)
from infersim.cli.traces import add_trace_args, check_trace_args, write_serving_trace
from infersim.foundation.defaults import DEFAULT_OUTPUT, DEFAULT_PROMPT, DEFAULT_RUNTIME
from infersim.foundation.errors import InputError
from infersim.foundation.paths import check_output_file
from infersim.simulator.serving.config import KV_LINKS
from infersim.workloads.scenario import MOE_EXCHANGES


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="simulate serving a request stream (TTFT, TPOT, throughput, cost)",
        description="Simulate request-level serving: arrivals, batching policy, paged KV cache, "
        "replicas; report latency percentiles, throughput, goodput, energy and cost. With "
        "--find-max-rate, find the highest request rate meeting the SLOs.")
    p.add_argument("--model", default="llama-3.1-8b", help="library model or HF config.json")
    add_hw_args(p)
    add_power_cap_arg(p)
    d = p.add_argument_group("deployment")
    d.add_argument("--tp", type=int_arg, default=1, help="tensor-parallel chips per replica")
    d.add_argument("--pp", type=int_arg, default=1, help="pipeline stages per replica")
    d.add_argument("--ep", type=int_arg, default=1, help="expert-parallel degree")
    d.add_argument("--dp", type=int_arg, default=1,
                   help="data-parallel attention groups of --tp chips in a replica, sharing "
                        "the experts (MoE; --ep = tp x dp): TensorRT-LLM's "
                        "enable_attention_dp, SGLang's --enable-dp-attention")
    d.add_argument("--moe-exchange", default="auto", choices=MOE_EXCHANGES,
                   help="how the EP chips exchange a MoE layer's tokens (default auto: the "
                        "runtime's), as simulate's")
    d.add_argument("--routing-skew", type=float, default=None,
                   help="log-normal σ of the experts' routing popularity (default: the fitted "
                        "one; 0: uniform routing), as simulate's")
    d.add_argument("--replicas", type=int_arg, default=1, help="replicas behind the router")
    add_runtime_arg(d)
    add_runtime_set_arg(d)
    d.add_argument("--weights", default="bf16",
                   help="weight dtype (bf16, fp8, int8, int4...; checkpoint: as the model's "
                        "quantization_config stores them)")
    d.add_argument("--activations", default=None, help="activation dtype (default: bf16)")
    d.add_argument("--kv", default=None, help="KV-cache dtype (default: activation dtype)")
    d.add_argument("--lm-head", default=None,
                   help="lm_head weight dtype (default: the weights'; bf16 under a quantized "
                        "checkpoint, whose quantizers leave the output projection 16-bit)")
    d.add_argument("--gpu-memory-utilization", type=float, default=None,
                   help="fraction of memory the engine may use (default 0.9; engines that "
                        "size their KV cache from the memory left free, TensorRT-LLM, take "
                        "--runtime-set kv_free_fraction=F instead)")
    t = p.add_argument_group("traffic")
    t.add_argument("--arrival", default="poisson", choices=["poisson", "gamma", "trace",
                                                            "closed"],
                   help="arrival process (closed: --users each send after a response)")
    t.add_argument("--rate", type=float, default=1.0, help="requests per second (default 1)")
    t.add_argument("--cv", type=float, default=None,
                   help="gamma: inter-arrival CV (default 2)")
    t.add_argument("--arrival-trace", metavar="FILE.csv", dest="arrival_trace",
                   help="CSV with arrival_s,prompt_tokens,output_tokens (--arrival trace)")
    t.add_argument("--users", type=int_arg, default=None,
                   help="closed loop: concurrent users (default 10)")
    t.add_argument("--think", type=float, default=None,
                   help="closed loop: think time in s (default 0)")
    t.add_argument("--requests", type=int_arg, default=None,
                   help="requests to simulate (default 1000; trace: all rows)")
    add_length_args(t)
    s = p.add_argument_group("scheduler")
    s.add_argument("--policy", default="auto",
                   choices=["auto", "static", "continuous", "chunked", "disaggregated"],
                   help="auto (default): the runtime's own scheduling, chunked for engines "
                        "with in-flight batching (trtllm, trtllm-pytorch, vllm-v1), else "
                        "continuous; under chunked a prompt is split over steps unless the "
                        "runtime's chunked_context knob is 0 (TensorRT-LLM's default: whole "
                        "prompts; --runtime-set chunked_context=1 to split them)")
    s.add_argument("--max-batch", type=int_arg, default=256, help="max sequences per step")
    s.add_argument("--max-tokens", type=int_arg, default=8192,
                   help="max tokens per step (chunked: the token budget)")
    s.add_argument("--block-size", type=int_arg, default=16, help="KV block size in tokens")
    s.add_argument("--preemption", default="recompute", choices=["recompute", "swap"])
    s.add_argument("--admission", default="auto", choices=["auto", "on_demand", "reserve"],
                   help="when a request's KV fits: on_demand (the prompt's blocks, preempting "
                        "when out: vLLM, SGLang) or reserve (prompt + whole output up front, "
                        "never preempting: TensorRT-LLM's GUARANTEED_NO_EVICT); auto: the "
                        "runtime's own")
    s.add_argument("--scheduler-steps", type=int_arg, default=None,
                   help="decode steps per scheduling pass (vLLM --num-scheduler-steps) of a "
                   "GPU serving-engine runtime such as vllm-v0 (default: the runtime's own)")
    s.add_argument("--router", default="round_robin",
                   choices=["round_robin", "least_outstanding"])
    s.add_argument("--prefill-replicas", type=int_arg, default=1, help="disaggregated: prefill pool")
    s.add_argument("--decode-replicas", type=int_arg, default=1, help="disaggregated: decode pool")
    g = p.add_argument_group("heterogeneous disaggregation (--policy disaggregated)")
    g.add_argument("--decode-hw", default=None,
                   help="decode pool hardware (default: --hw), e.g. groq-576 or corsair-8")
    g.add_argument("--decode-tp", type=int_arg, default=None, help="decode pool TP (default --tp)")
    g.add_argument("--decode-pp", type=int_arg, default=None, help="decode pool PP (default --pp)")
    g.add_argument("--decode-weights", default=None, help="decode pool weights (default --weights)")
    g.add_argument("--decode-runtime", default=None,
                   help="decode pool runtime (default: the decode hardware kind's own; on "
                        "--hw itself, the prefill pool's, --runtime-set included)")
    g.add_argument("--decode-runtime-set", action="append", metavar="KNOB=VALUE",
                   dest="decode_runtime_set",
                   help="change a constant of the decode pool runtime's profile (repeatable), "
                        "as --runtime-set does for the prefill pool")
    g.add_argument("--kv-link", default=None, choices=sorted(KV_LINKS),
                   help="link carrying KV from prefill to decode (default: the prefill "
                   "system's fabric bandwidth per chip)")
    g.add_argument("--find-pool-sizes", action="store_true",
                   help="search the cheapest (prefill, decode) pool sizes meeting the SLOs "
                   "at --rate")
    g.add_argument("--max-replicas", type=int_arg, default=8,
                   help="--find-pool-sizes: largest pool tried (default 8)")
    add_prefix_args(t, s)
    o = p.add_argument_group("objectives and economics")
    o.add_argument("--slo-ttft", type=float, default=2.0, help="TTFT SLO in s (default 2)")
    o.add_argument("--slo-tpot", type=float, default=0.1, help="TPOT SLO in s (default 0.1)")
    o.add_argument("--slo-percentile", type=float, default=99.0,
                   help="percentile the SLOs apply to in --find-max-rate (default 99)")
    o.add_argument("--lifetime-years", type=float, default=4.0,
                   help="hardware amortization period (default 4)")
    o.add_argument("--usd-per-kwh", type=float, default=0.10, help="electricity price")
    sd = p.add_argument_group("speculative decoding (as simulate --phase spec_decode)")
    sd.add_argument("--spec-decode", default=None, metavar="DRAFTER",
                    help="draft:MODEL (a library draft model), mtp (the model's multi-token-"
                         "prediction module) or medusa (Medusa heads); default: off")
    sd.add_argument("--draft-len", "--spec-tokens", dest="draft_len", type=int_arg,
                    default=None, help="drafted tokens per step, K (default 4)")
    sd.add_argument("--acceptance", type=float, default=None,
                    help="per-token acceptance probability A (default 0.7)")
    p.add_argument("--find-max-rate", action="store_true",
                   help="bisect the highest --rate meeting --slo-ttft/--slo-tpot")
    p.add_argument("--seed", type=nonneg_int, default=0, help="random seed (default 0)")
    p.add_argument("--engine", choices=["auto", "compiled", "simpy"], default="auto",
                   help="simulation engine: compiled (Numba; replicas behind round robin, "
                        "continuous or chunked, no speculation, open loop), simpy "
                        "(everything), auto "
                        "(compiled where it applies, from 100,000 requests); the results are "
                        "the same")
    p.add_argument("--requests-csv", metavar="FILE", help="write per-request records to CSV")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_trace_args(p, chakra=False)
    p.set_defaults(func=cmd_serve)


def _traffic(a: argparse.Namespace, rate: float | None = None) -> Any:
    from infersim.simulator.serving import (
        ClosedLoop,
        Gamma,
        Poisson,
        TraceReplay,
        Traffic,
    )

    for flag, value, arrivals in (("--cv", a.cv, ("gamma",)), ("--users", a.users, ("closed",)),
                                  ("--think", a.think, ("closed",))):
        if value is not None and a.arrival not in arrivals:
            raise InputError(f"{flag} is only used with --arrival {' or '.join(arrivals)} (got "
                             f"--arrival {a.arrival}); drop {flag} or change --arrival")
    lengths = lengths_from_args(a)
    px = prefixes_from_args(a)
    r = a.rate if rate is None else rate
    if a.arrival == "trace":
        if not a.arrival_trace:
            raise InputError("--arrival trace needs --arrival-trace FILE.csv (columns "
                             "arrival_s,prompt_tokens,output_tokens)")
        return Traffic(TraceReplay(a.arrival_trace), lengths, a.requests, px)
    if a.arrival_trace:
        raise InputError("--arrival-trace FILE.csv is only used with --arrival trace")
    n = 1000 if a.requests is None else a.requests
    if a.arrival == "gamma":
        return Traffic(Gamma(r, 2.0 if a.cv is None else a.cv), lengths, n, px)
    if a.arrival == "closed":
        return Traffic(ClosedLoop(10 if a.users is None else a.users,
                                  0.0 if a.think is None else a.think), lengths, n, px)
    return Traffic(Poisson(r), lengths, n, px)


def _with_scheduler_steps(kind_model: Any, hw: Any, runtime: str, steps: int) -> Any:
    """The runtime's GPU profile with `scheduler_steps` set; InputError when steps < 1 or the
    runtime has no GPU profile (wafer and LPU compilers schedule the whole step)."""
    from infersim.hwmodels.spec import HardwareKind

    if steps < 1:
        raise InputError(f"--scheduler-steps: {steps} decode steps per pass; give 1 or more "
                         "(1 = schedule every step)")
    _, prof = kind_model.resolve_runtime(runtime, hw.name)
    if prof is None or prof.kind != HardwareKind.GPU:
        raise InputError(f"--scheduler-steps: runtime {runtime!r} on {hw.name} has no GPU "
                         "engine profile to set it on; use a GPU runtime such as vllm-v0, or "
                         "drop the flag")
    return prof.with_values(scheduler_steps=float(steps))


def cmd_serve(a: argparse.Namespace) -> int:
    from infersim.diagnostics import diagnose_serving
    from infersim.hwmodels import load_hardware
    from infersim.hwmodels.economics import Economics
    from infersim.simulator.serving import (
        Deployment,
        ServingPolicy,
        Slo,
        find_max_rate,
        serve,
    )
    from infersim.workloads import load_model

    if a.requests_csv:
        check_output_file("--requests-csv", a.requests_csv)
    check_trace_args(a)
    model = load_model(a.model)
    hw = load_hardware(a.hw, hw_overrides(a) or None)
    policy = ServingPolicy(a.policy, a.max_batch, a.max_tokens, a.block_size, a.preemption,
                           a.router, a.prefill_replicas, a.decode_replicas, a.prefix_caching,
                           _spec(a), a.admission)
    from infersim.hwmodels.registry import cost_model

    # the kind's default, shown by name: DEFAULT_RUNTIME on GPUs, the newest profile else
    kind_model = cost_model(hw)
    runtime = a.runtime or (DEFAULT_RUNTIME if not kind_model.profiles
                             else kind_model.runtimes()[0])
    knobs = parse_runtime_set(a.runtime_set)
    if a.scheduler_steps is not None and "scheduler_steps" in knobs:
        raise InputError("--scheduler-steps and --runtime-set scheduler_steps=... set the "
                         "same knob; give one")
    from infersim.hwmodels.runtime_knobs import changed_knobs, with_knobs

    runtime = with_knobs(hw, runtime, knobs)
    if a.scheduler_steps is not None:
        runtime = _with_scheduler_steps(kind_model, hw, runtime, a.scheduler_steps)
    if a.gpu_memory_utilization is not None:
        from infersim.simulator.serving.kvcache import kv_free_fraction

        free = kv_free_fraction(hw, runtime)
        if free > 0.0:
            name = getattr(runtime, "name", runtime)
            raise InputError(f"--gpu-memory-utilization: runtime {name} sizes its KV cache "
                             "from the memory the weights leave free; give --runtime-set "
                             "kv_free_fraction=F (TensorRT-LLM's kv_cache_free_gpu_mem_fraction, "
                             f"now {free:g}) instead")
    dep = Deployment(a.tp, a.pp, a.ep, a.replicas, runtime, a.weights, a.kv,
                     0.9 if a.gpu_memory_utilization is None else a.gpu_memory_utilization,
                     activations=a.activations, kv_link=a.kv_link,
                     lm_head=a.lm_head, dp=a.dp, moe_exchange=a.moe_exchange,
                     routing_skew=a.routing_skew)
    decode_hw, ddep = _decode_pool(a, hw, dep)
    slo = Slo(a.slo_ttft, a.slo_tpot, a.slo_percentile)
    eco = Economics(lifetime_years=a.lifetime_years, usd_per_kwh=a.usd_per_kwh)
    traffic = _traffic(a)

    def run(rate: float | None = None) -> Any:
        tr = traffic if rate is None else _traffic(a, rate)
        return serve(model, hw, tr, policy, deployment=dep, slo=slo, economics=eco, seed=a.seed,
                     event_log=bool(a.trace) and rate is None, decode_hw=decode_hw,
                     decode_deployment=ddep, engine=a.engine)

    if a.find_pool_sizes:
        return _pool_sizes(a, model, hw, traffic, policy, dep, decode_hw, ddep, slo, eco)

    if a.find_max_rate:
        if a.arrival not in ("poisson", "gamma"):
            raise InputError("--find-max-rate varies the rate of --arrival poisson or gamma")
        cap = find_max_rate(run, slo, guess_rps=a.rate)
        d = cap.to_dict()
        miss = (f"no rate tried meets the SLOs in steady state (lowest tried "
                f"{min(e[0] for e in cap.evaluations):.3g} req/s)")
        if not cap.max_rate_rps:
            d["warnings"] = [miss]
        if a.json:
            print_json(d)
        if not cap.max_rate_rps:
            return _fail(f"{model.name} on {hw.name}: {miss}; loosen --slo-ttft/--slo-tpot "
                         "or change the deployment")
        if a.json:
            return 0
        print(f"{model.name} on {hw.name}: highest rate meeting TTFT p{slo.percentile:g} ≤ "
              f"{a.slo_ttft} s and TPOT p{slo.percentile:g} ≤ {a.slo_tpot} s: "
              f"{cap.max_rate_rps:.3g} req/s ({len(cap.evaluations)} simulations)")
        print_table([{"rate_rps": f"{r:.4g}", "meets": ok, "ttft_s": tt, "tpot_s": tp}
                     for r, ok, tt, tp in cap.evaluations])
        return 0
    r = run()
    if r.feasible:
        write_serving_trace(a, r)
    if a.requests_csv:
        from infersim.foundation.io import atomic_write_text

        atomic_write_text(a.requests_csv, r.requests_frame().to_csv(index=False))
    d = r.to_dict()
    offered = a.rate if a.arrival in ("poisson", "gamma") else None
    d["offered_rate_rps"] = offered
    d["hardware_overrides"] = dict(hw.overrides)
    d["runtime"] = getattr(dep.runtime, "name", dep.runtime)
    d.update(runtime_knobs_field(dep.runtime))
    if a.scheduler_steps is not None:
        d["scheduler_steps"] = a.scheduler_steps
    if ddep is not None:
        d.update(decode_hardware=decode_hw.name, decode_tp=ddep.tp, decode_pp=ddep.pp,
                 decode_weights=ddep.weights,
                 decode_runtime=getattr(ddep.runtime, "name", ddep.runtime))
        if changed_knobs(ddep.runtime):
            d["decode_runtime_knobs"] = changed_knobs(ddep.runtime)
    d["weights"] = dep.weights
    d.update(tp=dep.tp, pp=dep.pp, ep=dep.ep, dp=dep.dp)  # the replica's parallelism
    prec = _precision(a)  # as `simulate` resolves them (defaults filled in)
    d["activations"], d["kv"] = prec.activations.value, prec.kv.value
    d["diagnostics"] = diagnose_serving(d, offered, r.per_request)
    if d["feasible"]:
        # placement findings of one decode step of the deployment (weights streamed from an
        # external memory, a model that fits on fewer chips), as `infersim simulate` reports
        from infersim.api import simulate

        step = simulate(model, hw, batch=1, context=DEFAULT_PROMPT if a.prompt is None
                        else max(a.prompt, 1), runtime=a.runtime, weights=a.weights,
                        activations=a.activations, kv=a.kv, lm_head=a.lm_head,
                        tp=a.tp, pp=a.pp, ep=a.ep, dp=a.dp)
        d["diagnostics"] += [x for x in step.diagnostics() if x["code"] != "chips_idle"]
    if a.json:
        print_json(d)
    else:
        # the label names what --scheduler-steps / --runtime-set changed: [scheduler_steps=4]
        _print_result(d, {**dataclasses.asdict(dep), "runtime": runtime_label(dep.runtime)},
                      hw.label, _traffic_label(a))
        if a.requests_csv:
            print(f"\nwrote {d['requests']} per-request records to {a.requests_csv}")
    if r.feasible and r.completed == 0:
        return _fail(d["warnings"][0])
    if not a.json:
        for w in d["warnings"]:
            print(f"infersim: warning: {w}", file=sys.stderr)
    return 0


def _spec(a: argparse.Namespace) -> Any:
    """The SpecDecode of --spec-decode / --draft-len / --acceptance (None: off)."""
    from infersim.workloads.scenario import SpecDecode

    v = a.spec_decode
    if v is None:
        if a.draft_len is not None or a.acceptance is not None:
            raise InputError("--draft-len/--acceptance need --spec-decode draft:MODEL, mtp or "
                             "medusa")
        return None
    low = v.strip().lower()
    if low in ("mtp", "medusa"):
        draft = "mtp" if low == "mtp" else None
    elif low.startswith("draft:") and v.strip()[6:]:
        draft = v.strip()[6:]
    else:
        raise InputError(f"--spec-decode {v!r}: use draft:MODEL (e.g. draft:llama-3.2-1b), "
                         f"mtp or medusa")
    kw: dict[str, Any] = {}
    if a.draft_len is not None:
        kw["draft_len"] = a.draft_len
    if a.acceptance is not None:
        kw["acceptance"] = a.acceptance
    return SpecDecode(draft, **kw)


def _decode_pool(a: argparse.Namespace, hw: Any, dep: Any) -> tuple[Any, Any]:
    """(decode hardware, decode Deployment) from the --decode-* flags; (None, None) if none."""
    from infersim.hwmodels import load_hardware
    from infersim.hwmodels.registry import cost_model

    flags = (a.decode_hw, a.decode_tp, a.decode_pp, a.decode_weights, a.decode_runtime,
             a.decode_runtime_set)
    if all(f is None for f in flags):
        return None, None
    if a.policy != "disaggregated":
        raise InputError("--decode-hw/--decode-tp/--decode-pp/--decode-weights/"
                         "--decode-runtime/--decode-runtime-set need --policy disaggregated")
    dhw = load_hardware(a.decode_hw) if a.decode_hw else hw
    km = cost_model(dhw)
    runtime = a.decode_runtime or (dep.runtime if dhw is hw else km.runtimes()[0] if km.profiles
                                   else DEFAULT_RUNTIME)
    from infersim.hwmodels.runtime_knobs import with_knobs

    runtime = with_knobs(dhw, runtime, parse_runtime_set(a.decode_runtime_set,
                                                         "--decode-runtime-set"),
                         "--decode-runtime-set")
    ddep = dataclasses.replace(dep, tp=a.decode_tp or dep.tp, pp=a.decode_pp or dep.pp,
                               runtime=runtime, weights=a.decode_weights or dep.weights)
    return dhw, ddep


def _pool_sizes(a: argparse.Namespace, model: Any, hw: Any, traffic: Any, policy: Any,
                dep: Any, decode_hw: Any, ddep: Any, slo: Any, eco: Any) -> int:
    from infersim.simulator.serving import find_pool_sizes, serve

    if a.policy != "disaggregated":
        raise InputError("--find-pool-sizes sizes the pools of --policy disaggregated")

    def run(npf: int, nd: int) -> Any:
        pol = dataclasses.replace(policy, prefill_replicas=npf, decode_replicas=nd)
        return serve(model, hw, traffic, pol, deployment=dep, slo=slo, economics=eco,
                     seed=a.seed, decode_hw=decode_hw, decode_deployment=ddep)

    best = find_pool_sizes(run, slo, max_replicas=a.max_replicas)
    if a.json:
        print_json(best.to_dict())
    if not best.prefill:
        return _fail(f"no pool sizes up to {a.max_replicas} + {a.max_replicas} meet the SLOs at "
                     f"{a.rate:g} req/s; raise --max-replicas, lower --rate or loosen the SLOs")
    if not a.json:
        r = best.result
        assert r is not None
        q = f"p{slo.percentile:g}"
        print(f"{model.name}, {r.hardware}, {a.rate:g} req/s: cheapest pools meeting TTFT "
              f"{q} ≤ {a.slo_ttft} s and TPOT {q} ≤ {a.slo_tpot} s: "
              f"{best.prefill} prefill + {best.decode} decode replicas, {r.chips} chips, "
              f"${r.cost_per_1m_tokens_usd:.4g} per 1M output tokens "
              f"({len(best.evaluations)} simulations)")
        print_table([{"prefill": npf, "decode": nd, "meets": ok, "ttft_s": tt, "tpot_s": tp}
                     for npf, nd, ok, tt, tp in best.evaluations])
    return 0


def _precision(a: argparse.Namespace) -> Any:
    from infersim.workloads.scenario import parse_precision

    return parse_precision(a.weights, a.activations, a.kv, a.lm_head)


def _fail(message: str) -> int:
    """A run that produced no answer: one line on stderr, exit 2 (the fix is in the input)."""
    print(f"infersim: error: {message}", file=sys.stderr)
    return 2


def _traffic_label(a: argparse.Namespace) -> str:
    prompt = DEFAULT_PROMPT if a.prompt is None else a.prompt
    output = DEFAULT_OUTPUT if a.output is None else a.output
    lengths = "" if a.arrival == "trace" and a.prompt is None else \
        f", prompt {prompt}, output {output}"
    if a.arrival == "closed":
        how = (f"closed loop, {10 if a.users is None else a.users} users, think "
               f"{0.0 if a.think is None else a.think:g} s")
    elif a.arrival == "trace":
        how = f"trace {a.arrival_trace}"
    else:
        how = f"{a.arrival} {a.rate:g} req/s"
    return how + lengths


def _print_result(d: dict[str, Any], dep: dict[str, Any], hw_label: str,
                  traffic: str) -> None:
    if "→" in d["hardware"]:  # heterogeneous pools: the result names both systems
        hw_label = d["hardware"]
    pools = f"{d['replicas']} replica(s) × tp {dep['tp']} pp {dep['pp']}"
    if dep.get("dp", 1) > 1:
        pools += f" dp {dep['dp']} ep {dep['ep']}"
    if "decode_tp" in d:
        runtime = knobs_text(d["decode_runtime"], d.get("decode_runtime_knobs", {}))
        pools = (f"prefill tp {dep['tp']} pp {dep['pp']}, decode tp {d['decode_tp']} pp "
                 f"{d['decode_pp']} {d['decode_weights']} weights runtime {runtime}")
    if "spec_drafter" in d:
        pools += (f", speculative {d['spec_drafter']} K={d['spec_draft_len']} "
                  f"A={d['spec_acceptance']:g}")
    print(f"{d['model']} on {hw_label} — {traffic}; policy {d['policy']}, {pools}, "
          f"{d['chips']} chips, "
          f"{dep['weights']} weights, {d['activations']} activations, {d['kv']} KV, "
          f"runtime {dep['runtime']}")
    if not d["feasible"]:
        print(f"  {d['reason']}")
        return
    print_diagnostics(d["diagnostics"])
    if not d["completed"]:
        return  # the caller reports why
    rows = []
    for name in ("ttft", "tpot", "itl", "e2e", "queue_delay"):
        rows.append({"metric": name + (" (per token)" if name == "itl" else ""), **{q: fmt_si(d[f"{name}_{q}_s"], "s")
                                        for q in ("mean", "p50", "p90", "p99")}})
    print_table(rows)
    print()
    print_table([
        {"metric": "requests completed", "value": f"{d['completed']} / {d['requests']}"
         + (f" ({d['rejected']} rejected)" if d["rejected"] else "")},
        {"metric": "duration", "value": fmt_si(d["duration_s"], "s")},
        {"metric": "throughput", "value": f"{fmt_si(d['throughput_tok_s'], 'tok/s')}, "
         f"{d['throughput_req_s']:.3g} req/s"},
        {"metric": "throughput per chip",
         "value": fmt_si(d["throughput_tok_s_per_chip"], "tok/s")},
        {"metric": f"goodput (TTFT ≤ {d['slo_ttft_s']} s, TPOT ≤ {d['slo_tpot_s']} s)",
         "value": f"{d['goodput_req_s']:.3g} req/s ({100 * d['slo_attainment']:.1f}%)"},
        {"metric": "utilization", "value": f"{100 * d['utilization']:.1f}%"},
        {"metric": "KV cache", "value": f"{d['kv_blocks']} blocks, peak "
         f"{100 * d['kv_peak_occupancy']:.1f}%, mean {100 * d['kv_mean_occupancy']:.1f}%, "
         f"{d['preemptions']} preemptions"},
        *([{"metric": "prefix cache", "value": f"{100 * d['prefix_token_hit_rate']:.1f}% of "
            f"prompt tokens hit ({100 * d['prefix_block_hit_rate']:.1f}% of blocks), peak "
            f"{d['prefix_cached_blocks_peak']:g} blocks cached "
            f"({fmt_si(d['prefix_cache_bytes_peak_per_chip'], 'B')} per chip)"}]
          if "prefix_token_hit_rate" in d else []),
        # windowed models: each layer group's reuse and cached blocks (its own layers)
        *({"metric": f"  {k[7:-7]} layers ({d[k]})", "value":
           f"{d[k[:-7] + '_hit_blocks']} blocks reused, peak "
           f"{d[k[:-7] + '_cached_blocks_peak']} cached "
           f"({fmt_si(d[k[:-7] + '_cache_bytes_peak_per_chip'], 'B')} per chip)"}
          for k in d if k.startswith("prefix_") and k.endswith("_layers")),
        *([{"metric": "speculative decoding", "value": f"K={d['spec_draft_len']}, A="
            f"{d['spec_acceptance']:g}: {d['spec_tokens_per_step']:.3f} tokens per verify step"
            f" (expected {d['spec_expected_tokens_per_step']:.3f}), "
            f"{100 * d['spec_accepted_share']:.1f}% of drafts accepted"}]
          if "spec_draft_len" in d else []),
        {"metric": "energy per output token (chips only)",
         "value": fmt_si(d["energy_per_token_j"], "J")},
        {"metric": "energy per output token (+ host & network)",
         "value": fmt_si(d["system_energy_per_token_j"], "J")},
        {"metric": "cost per 1M output tokens",
         "value": d.get("cost_note") or f"${d['cost_per_1m_tokens_usd']:.4g}"},
    ])
