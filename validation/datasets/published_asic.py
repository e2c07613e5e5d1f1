"""Published inference results of the cloud ASIC kinds — TPU (`systolic`) and Tenstorrent
(`mesh`) — re-predicted, one fitted constant per kind.

Data: `validation/data/published/asic.csv` (source URL with commit, confidence, flags per row).

- `per_user` rows (tt-metal model-zoo README): tok/s/user = 1 / latency of one decode step
  at the row's batch and KV length, tensor-parallel over the row's chips.
- `serving` rows (jetstream-pytorch benchmark summary): output tok/s of a server holding
  `batch` sequences, each prefilled alone (JetStream prefills one prompt at a time) and then
  decoded with the others: B·OSL / (OSL·t_decode(B, ISL + OSL/2) + B·t_prefill(1, ISL)).
  The benchmark's ShareGPT lengths are not published with the table: ISL = OSL = 256
  (assumed, close to ShareGPT's mean turn lengths).

Storage formats (`mix` column, tt-metal rows): tt-metal keeps weights and KV in its block
floating-point formats, a 32 x 32 tile of 1,024 sign+mantissa fields sharing one exponent byte
per 16 values: Bfp8_b 1,024 + 64 = 1,088 B per tile (8.5 bits a value), Bfp4_b 512 + 64 = 576 B
(4.5 bits) (tt-metal `Tile::get_tile_size`, tt_metal/api/tt-metalium/tile.hpp). The demos'
performance preset (`ModelOptimizations.performance`, models/tt_transformers/tt/model_config.py)
stores FF1/FF3 (gate, up) in Bfp4_b and FF2 (down), QKV, O, the LM head and the KV cache in
Bfp8_b; Qwen2.5-7B keeps QKV, O and the KV cache in bf16 and its MLP in Bfp8_b. The row's
`mix` gives bits per value per tensor group; each op's weight (and KV) bytes are rescaled from
the row's nominal `weights` (`kv`) dtype to those bits before mapping.

int8 rows of JetStream: the profile's dequantization values (one vector-unit convert per int8
weight or KV value, per-token KV scale bytes) come from jetstream-pytorch's source, not from a
fit (`hwmodels/models/tiled.py`, `_JETSTREAM_DEQUANT`).

Fitted constants: the runtime profile of each kind has ONE constant, `op_overhead_s` (fixed
time of one compiled op: issue, synchronisation, pipeline fill), solved by bisection so that
the kind's `calibration` row is reproduced; every other row is held out. The shipped values
live in `hwmodels/models/tiled.py` (profiles jetstream-2024, tt-metal-2025); `--fit` re-solves
them (tests check the shipped values against the refit). A profile without a calibration row
is not fitted: `tt-galaxy-2025` (tt-metal's llama3_70b_galaxy demo, the Galaxy row) takes its
op overhead from that demo's measured per-op profile.

    python -m infersim.validation.datasets.published_asic          # error table + rows
    python -m infersim.validation.datasets.published_asic --fit    # re-solve the constants
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infersim.hwmodels import load_hardware
from infersim.hwmodels.cost import RuntimeProfile
from infersim.hwmodels.registry import MODELS

if TYPE_CHECKING:
    import pandas as pd

    from infersim.workloads.trace import Trace

NAME = "published_asic"
DESCRIPTION = ("Published TPU v5e (JetStream) and Tenstorrent Wormhole (tt-metal model zoo) "
               "inference results re-predicted; one fitted constant per kind")
DATA = Path(__file__).resolve().parents[1] / "data" / "published" / "asic.csv"
FIT_RANGE_S = (0.0, 1e-3)  # plausible fixed time of one compiled op
# Bits per stored value of tt-metal's formats (see the module docstring for the tile sizes).
TT_BITS = {"bf16": 16.0, "bfp8": 1088 * 8 / 1024, "bfp4": 576 * 8 / 1024}
# Tensor groups of the `mix` column -> op names of the trace (infersim.workloads.builder).
MIX_GROUPS = {"qkv": ("qkv_proj",), "o": ("o_proj",),
              "ff1_3": ("gate_up_proj", "up_proj", "experts_gate_up"),
              "ff2": ("down_proj", "experts_down"), "lm_head": ("lm_head",)}


def read_rows() -> list[dict[str, str]]:
    with DATA.open(newline="") as f:
        return list(csv.DictReader(f))


def profile_for(r: Mapping[str, str], overhead_s: float | None = None) -> RuntimeProfile:
    """The row's runtime profile; `overhead_s` replaces its op_overhead_s (fitting)."""
    hw = load_hardware(r["hardware"])
    prof = MODELS[hw.kind].resolve_runtime(r["runtime"], hw.name)[1]
    assert prof is not None
    return prof if overhead_s is None else prof.with_values(op_overhead_s=overhead_s)


def parse_mix(text: str, where: str = "mix") -> dict[str, float]:
    """`group=format;...` -> bits per value by tensor group (groups: MIX_GROUPS and kv);
    `where` names the row in the error message."""
    from infersim.foundation.errors import InputError

    out: dict[str, float] = {}
    for part in filter(None, (x.strip() for x in text.split(";"))):
        group, _, fmt = part.partition("=")
        if group not in (*MIX_GROUPS, "kv") or fmt not in TT_BITS:
            raise InputError(f"{DATA.name}: {where}: {part!r} is not group=format; fix: use "
                             f"groups {', '.join((*MIX_GROUPS, 'kv'))} and formats "
                             f"{', '.join(TT_BITS)}")
        out[group] = TT_BITS[fmt]
    return out


def apply_mix(trace: Trace, mix: Mapping[str, float]) -> Trace:
    """`trace` with each op's weight bytes (and KV bytes, group `kv`) rescaled from the
    scenario's nominal dtypes to the mix's bits per value."""
    if not mix:
        return trace
    prec = trace.scenario.precision
    ops = []
    for op in trace.ops:
        b = op.bytes
        is_bias = op.name.endswith("_bias")  # biases are in none of the preset's groups
        for group, names in MIX_GROUPS.items():
            if group in mix and b.weight and not is_bias and any(
                    op.name.startswith(n) or op.name.endswith(n) for n in names):
                nominal = (prec.expert_weights if op.name.startswith("experts")
                           else prec.weights).bits_per_weight
                b = dataclasses.replace(b, weight=b.weight * mix[group] / nominal)
        if "kv" in mix and (b.kv_read or b.kv_write):
            f = mix["kv"] / prec.kv.bits_per_weight
            b = dataclasses.replace(b, kv_read=b.kv_read * f, kv_write=b.kv_write * f)
        ops.append(op if b is op.bytes else dataclasses.replace(op, bytes=b))
    return dataclasses.replace(trace, ops=tuple(ops))


def _step(r: Mapping[str, str], prof: RuntimeProfile, **sc: Any) -> tuple[float, str]:
    from infersim.api import make_scenario
    from infersim.foundation.errors import InfersimError
    from infersim.mapper import map_trace
    from infersim.validation.datasets.published_e2e import hardware
    from infersim.workloads import build_trace

    try:
        trace = build_trace(r["model"], make_scenario(
            weights=r["weights"], activations=r["activations"], kv=r["kv"], tp=int(r["tp"]),
            **sc))
    except InfersimError as e:
        return math.nan, f"not predictable: {e}"
    trace = apply_mix(trace, parse_mix(r.get("mix", ""), f"row {r['id']}, column mix"))
    s = map_trace(trace, hardware(r["hardware"], int(r["chips"])), prof)
    if s.infeasible is not None:
        return math.nan, f"infeasible: {s.infeasible}"
    return s.latency_s, ""


def predict(r: Mapping[str, str], overhead_s: float | None = None) -> tuple[float, str]:
    """(predicted value in the row's unit, note); `overhead_s` replaces the profile's
    constant (fitting)."""
    prof = profile_for(r, overhead_s)
    b = int(r["batch"])
    if r["metric"] == "per_user":
        t, note = _step(r, prof, phase="decode", batch=b, context=int(r["context"]))
        return (1.0 / t if t > 0 else math.nan), note
    isl, osl = int(r["isl"]), int(r["osl"])
    ctx = int(r["context"]) or isl + osl // 2
    t_dec, n1 = _step(r, prof, phase="decode", batch=b, context=ctx)
    t_pre, n2 = _step(r, prof, phase="prefill", batch=1, prompt=isl)
    if not (t_dec > 0 and t_pre > 0):
        return math.nan, n1 or n2
    return b * osl / (osl * t_dec + b * t_pre), f"assumed ISL {isl}, OSL {osl}"


def fit(r: Mapping[str, str]) -> float:
    """The op_overhead_s (s) that reproduces calibration row `r` (bisection: the prediction
    falls monotonically as the overhead grows)."""
    target = float(r["measured"])
    lo, hi = FIT_RANGE_S
    if predict(r, lo)[0] < target or predict(r, hi)[0] > target:
        raise ValueError(f"{r['id']}: no op overhead in {FIT_RANGE_S} s reproduces {target}")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if predict(r, mid)[0] > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def calibration_rows() -> dict[str, dict[str, str]]:
    """Runtime profile name -> its calibration row."""
    return {r["runtime"]: r for r in read_rows() if r["split"] == "calibration"}


def load() -> pd.DataFrame:
    """Rows: dataset, group, case, predicted, measured, unit, notes (+ source, confidence)."""
    import pandas as pd

    rows = []
    for r in read_rows():
        pred, note = predict(r)
        kind = load_hardware(r["hardware"]).kind.value
        rows.append({"dataset": NAME, "group": f"{r['metric']} {kind} ({r['split']})",
                     "case": r["id"], "predicted": pred, "measured": float(r["measured"]),
                     "unit": r["unit"],
                     "notes": "; ".join(x for x in (f"weights {r['weights']}; {r['runtime']}",
                                                    r["notes"], note) if x),
                     "source": r["source"], "confidence": r["confidence"]})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    from infersim.validation.stats import print_rows

    ap = argparse.ArgumentParser(prog="python -m infersim.validation.datasets.published_asic")
    ap.add_argument("--fit", action="store_true", help="re-solve each profile's op overhead")
    args = ap.parse_args(argv)
    if args.fit:
        for name, r in calibration_rows().items():
            print(f"{name}: op_overhead_s = {fit(r):.4g} (fitted on {r['id']}, "
                  f"{r['measured']} {r['unit']})")
        return 0
    print_rows(load())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
