"""Software stacks as a design axis: a runtime profile with some of its named constants changed.

A runtime profile (`cost.RuntimeProfile`) is a base launch mode plus named constants. On GPUs
the names are the engine knobs of `models.gpu.engines.KNOBS` (per-step CPU time, CUDA-graph
batch cap, fusions, attention and grouped-GEMM efficiency, front-end cost per streamed chunk,
multi-step scheduling, ...); any registered engine (`trtllm`, `vllm-v0`, `sglang`, ...) can
have any of them changed. On a kind with its own compiled software (wafer, LPU, systolic,
mesh, SoC) a profile's constants are its fitted figures, and only the names the profile
itself sets can change (e.g. `phase_overhead_s` of `cerebras-2024-10`). Hardware stays in the
chip spec (`--set`); this is the commands' `--runtime-set` (`--decode-runtime-set` for a
disaggregated decode pool), a study's `runtime_knobs.<name>`, the explorer's software knobs
and `infersim.tune_runtime`, all through `with_knobs`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from infersim.foundation.errors import InputError
from infersim.foundation.suggest import did_you_mean
from infersim.hwmodels.cost import Runtime, RuntimeProfile
from infersim.hwmodels.spec import Hardware, HardwareKind


def knob_names(profile: RuntimeProfile) -> tuple[str, ...]:
    """The constants of `profile` that may change: every GPU engine knob, or the names a
    compiled kind's profile sets."""
    if profile.kind is HardwareKind.GPU:
        from infersim.hwmodels.models.gpu.engines import KNOBS

        return tuple(KNOBS)
    return tuple(k for k, _ in profile.values)


def _default(profile: RuntimeProfile, name: str) -> float | None:
    """The GPU engine knob's default (None on other kinds, whose profiles set their own)."""
    if profile.kind is not HardwareKind.GPU:
        return None
    from infersim.hwmodels.models.gpu.engines import KNOBS

    return KNOBS[name][0] if name in KNOBS else None


def _sentinel(profile: RuntimeProfile, name: str) -> float | None:
    """The "use the chip's figure" value a GPU knob accepts besides ≥ 0 (its default -1)."""
    default = _default(profile, name)
    return default if default is not None and default < 0 else None


# knobs that are a share of something (at most 1)
SHARE_KNOBS = frozenset({"kv_free_fraction"})


def tune_runtime(hw: Hardware, runtime: str | Runtime | RuntimeProfile | None,
                 knobs: Mapping[str, Any], flag: str = "--runtime-set") -> RuntimeProfile:
    """The profile `runtime` resolves to on `hw` with `knobs` (name -> number) changed.

    InputError (one line naming `flag`, the knob and the fix) for a runtime without a
    profile (CPU and CIM kinds run framework runtimes with no software constants), an
    unknown name, or a value that is not a finite number ≥ 0 (GPU knobs whose default is -1,
    "the chip's figure", also take -1)."""
    from infersim.hwmodels.registry import cost_model

    _, prof = cost_model(hw).resolve_runtime(runtime, hw.name)
    shown = (f"runtime {getattr(runtime, 'name', runtime)!r}" if runtime
             else "the default runtime")
    if prof is None:
        raise InputError(f"{flag}: {shown} on {hw.name} ({hw.chip.kind.value}) has no "
                         "software profile whose constants could change; drop the flag "
                         "(hardware figures change with --set)")
    allowed = knob_names(prof)
    out: dict[str, float] = {}
    for name, value in knobs.items():
        if name not in allowed:
            hint = did_you_mean(name, allowed)
            raise InputError(f"{flag} {str(name)[:40]}: not a constant of runtime {prof.name!r}; "
                             f"{hint or 'use one of ' + ', '.join(allowed)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{flag} {name}={str(value)[:30]}: expected a number (switches "
                             "take 1 or 0)")
        v = float(value)
        sentinel = _sentinel(prof, name)
        if not math.isfinite(v) or (v < 0 and v != sentinel):
            also = f" or {sentinel:g} (the chip's figure)" if sentinel is not None else ""
            raise InputError(f"{flag} {name}={str(value)[:30]}: give a finite number ≥ 0{also}")
        if name in SHARE_KNOBS and v > 1.0:
            raise InputError(f"{flag} {name}={str(value)[:30]}: a share of memory; give a "
                             "number from 0 to 1")
        out[name] = v
    return prof.with_values(**out) if out else prof


def with_knobs(hw: Hardware, runtime: Any, knobs: Mapping[str, Any],
               flag: str = "--runtime-set") -> Any:
    """`runtime` as given when `knobs` is empty (a name, None for the kind's default, or a
    profile), else `tune_runtime`'s profile: what every door (CLI, study point, explorer
    request, serving what-if) passes on."""
    return tune_runtime(hw, runtime, knobs, flag) if knobs else runtime


def changed_knobs(profile: Any) -> dict[str, float]:
    """{name: value} of the constants in which `profile` differs from the registered
    profile of its name (what `tune_runtime` changed); {} for a name or an unknown profile."""
    if not isinstance(profile, RuntimeProfile):
        return {}
    base = _registered(profile)
    if base is None:
        return {}
    before = dict(base.values)
    return {k: v for k, v in profile.values if before.get(k, _default(profile, k)) != v}


def _registered(profile: RuntimeProfile) -> RuntimeProfile | None:
    from infersim.hwmodels.registry import MODELS

    if profile.kind is HardwareKind.GPU:
        from infersim.hwmodels.models.gpu.engines import lookup

        return lookup(profile.name)
    return MODELS[profile.kind].profiles.get(profile.name)


def catalog() -> list[RuntimeProfile]:
    """Every software profile: the GPU engines (registration order), then each statically
    scheduled kind's compiled profiles (newest first)."""
    from infersim.hwmodels.models.gpu.engines import engines
    from infersim.hwmodels.registry import MODELS

    out = list(engines().values())  # the GPU kind registers its engines there, not in profiles
    for m in MODELS.values():
        out += list(m.profiles.values())
    return out


def profile_named(name: str) -> RuntimeProfile:
    """The profile called `name` (a GPU alias such as `fused` too); InputError with the
    close spellings otherwise."""
    from infersim.hwmodels.models.gpu.engines import ALIASES, lookup

    prof = lookup(name)
    if prof is not None:
        return prof
    for p in catalog():
        if p.name == name:
            return p
    names = [p.name for p in catalog()] + list(ALIASES)
    hint = did_you_mean(name, names)
    raise InputError(f"runtime {name[:40]!r}: no such software profile; "
                     f"{hint or 'see `infersim runtimes list`'}")


def knob_rows(profile: RuntimeProfile) -> list[dict[str, Any]]:
    """One row per constant of `profile`: name, value, default and whether the profile sets
    it (GPU engines: every knob of `engines.KNOBS` with its meaning; a compiled profile: the
    values it sets)."""
    set_here = dict(profile.values)
    if profile.kind is not HardwareKind.GPU:
        return [{"knob": k, "value": v, "default": None, "set": True, "meaning": ""}
                for k, v in profile.values]
    from infersim.hwmodels.models.gpu.engines import KNOBS

    return [{"knob": k, "value": set_here.get(k, default), "default": default,
             "set": k in set_here, "meaning": meaning}
            for k, (default, meaning) in KNOBS.items()]
