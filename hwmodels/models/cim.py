"""Cost model of a compute-in-memory chip (analog flash/RRAM or SRAM CIM), kind `cim`.

Weight-stationary arrays (`CimParams`): a GEMM with a weight operand W[k, n] (per group) is
tiled onto arrays of R rows × C columns:

    weight slices  s = ceil(weight bits / bits_per_cell)        (columns per weight)
    input cycles   c = ceil(activation bits / input_bits_per_cycle)  (bit-serial inputs)
    arrays needed  A = ceil(k / R) × ceil(n·s / C) × groups
    usable arrays  U = floor(num_arrays × array_utilization)
    cycle time     t = ceil(C / adcs_per_array) × adc_time        (ADCs shared by columns;
                                                                   digital CIM: readout time)
    array passes   P = max(1, m_max × A / U)
    array time     = P × c × t

ADC power budget: every conversion costs E_adc (`CimParams.adc_conversion_j`: the quoted
energy scaled with resolution, or Walden's FoM × 2^bits), so ADCs converting at full rate
draw (conversions / array time) × E_adc (each ADC `adc_power_w`). The op's power comes out
of the chip's budget (power.tdp − power.idle − ADC static power): an array op whose
dynamic energy (ADC conversions foremost, plus DACs, MACs and buffer reads; reloads run
apart) would draw more runs its arrays slower, array time ≥ that energy / budget. More ADCs
per array shorten the cycle only until the chip's power is spent; without a TDP there is no
budget.

The array time is throughput-amortized: the m input vectors need m × A array-passes, spread
over all U usable arrays — the compiler replicates a small layer's weights into spare arrays,
or streams tokens through a layer pipeline whose layers together fill the chip (so summing
op times gives the pipelined step time) — but one vector always needs one full pass (a
decode token cannot be split). A > U means several rounds on the same arrays. m_max is the
busiest expert's token count for MoE (m × imbalance).
    ADC conversions = m × c × n·s × ceil(k / R) × groups   (each used column, each row tile,
                                                            each input cycle; 0 if adc_bits 0)
    DAC conversions = m × c × k × ceil(n·s / C) × groups   (each row driven per cycle)

Weights that are not resident — the fraction the mapper did not place
(1 - ctx.weights_on_chip) or that cannot fit (A > U: 1 - U/A) — are reloaded into the arrays
for this execution from the external level (LPDDR) at min(reload bandwidth, that level's
bandwidth); reloading is serial with compute (an array is written before it computes).

Everything else runs on the digital periphery (the vector unit): dynamic matmuls whose both
operands are activations (attention QK^T and AV cannot be stationary), norms, activations,
RoPE, embedding gathers. Collectives use the interconnect as in the other models.

    time = max(roofline floor terms, array time, periphery time, links) + reload time + hops
    energy = FLOPs × J/FLOP + bytes × 8 × main-level J/bit + ADC conv × E_adc
             + DAC conv × E_dac + reload bytes × 8 × (write J/bit + source J/bit)
             + wire bytes × 8 × link J/bit + (idle + ADC static power) × time

Never below `roofline_times`. Limits: fixed (not data-value-dependent) ADC energy — CiMLoop
reports 28%/70% avg/max error for that simplification on analog macros; no analog noise or
accuracy; weights are assumed programmed once per step when resident. A chip without
`CimParams` (conformance suite) prices every op on its compute units as a roofline.
"""

from __future__ import annotations

import math

from infersim.hwmodels.cost import Bound, CostContext, CostModelBase, OpCost
from infersim.hwmodels.models.common import collective_time, finish, mac_energy, op_peak
from infersim.hwmodels.models.roofline import roofline_times
from infersim.hwmodels.spec import CimParams, Hardware, HardwareKind, UnitType
from infersim.workloads.ops import CollectiveShape, MatmulShape, Op, OpKind

_STATIONARY_KINDS = frozenset({OpKind.MATMUL, OpKind.MOE_EXPERTS, OpKind.MOE_ROUTER})


class CimModel(CostModelBase):
    """Weight-stationary arrays with bit slicing, ADC/DAC conversions and weight reloads."""

    kind = HardwareKind.CIM

    def warnings(self, hw: Hardware) -> tuple[str, ...]:
        """An ADC narrower than a column's partial sum clips it (accuracy, not modelled)."""
        p = hw.chip.params
        if not isinstance(p, CimParams) or p.adc_bits <= 0:
            return ()
        need = p.partial_sum_bits()
        if p.adc_bits >= need:
            return ()
        return (f"{hw.chip.name}: {p.adc_bits}-bit ADCs cannot represent a column's partial "
                f"sum ({need} bits: {p.array_rows} rows x {p.input_bits_per_cycle}-bit input "
                f"x {p.bits_per_cell}-bit cell); outputs are clipped or the analog range is "
                "coarsened (accuracy loss, not modelled)",)

    def resident_weight_fraction(self, hw: Hardware, weight_bytes: float, kv_bytes: float,
                                 activation_bytes: float, weight_bits: int | None) -> float:
        """Weights live in the crossbar arrays (more low-bit weights fit); the rest reload
        from the external store."""
        p = hw.chip.params
        if not isinstance(p, CimParams):
            return super().resident_weight_fraction(hw, weight_bytes, kv_bytes,
                                                    activation_bytes, weight_bits)
        if weight_bytes <= 0:
            return 1.0
        cap = p.weight_capacity_bytes(weight_bits)
        # One account of every memory: when the level holding the arrays' weights also holds
        # KV or activations (d-Matrix: one 2 GB SRAM of DIMC arrays), those take their bytes
        # out of it first.
        from infersim.hwmodels.spec import TensorClass

        for m in hw.chip.memory:
            if m.external or TensorClass.WEIGHTS not in m.holds:
                continue
            shared = m.holds & {TensorClass.KV, TensorClass.ACTIVATIONS}
            if shared:
                left = m.capacity_bytes
                left -= kv_bytes if TensorClass.KV in shared else 0.0
                left -= activation_bytes if TensorClass.ACTIVATIONS in shared else 0.0
                cap = min(cap, max(0.0, left))
            break
        return max(0.0, min(1.0, cap / weight_bytes))

    def op_cost(self, op: Op, hw: Hardware, ctx: CostContext) -> OpCost:
        chip = hw.chip
        p = chip.params if isinstance(chip.params, CimParams) else None
        floor_c, floor_m, floor_comm = roofline_times(op, hw)
        shape = op.shape
        array_s = periph_s = reload_s = 0.0
        adc_conv = dac_conv = 0.0
        reload_bytes = 0.0
        detail: list[tuple[str, float]] = []
        ext = chip.external_memory
        if (p is not None and isinstance(shape, MatmulShape) and shape.weight_dtype is not None
                and op.kind in _STATIONARY_KINDS):
            slices = math.ceil(shape.weight_dtype.bits / p.bits_per_cell)
            cycles = math.ceil(op.dtype.bits / p.input_bits_per_cycle)
            row_tiles = math.ceil(shape.k / p.array_rows)
            col_tiles = math.ceil(shape.n * slices / p.array_cols)
            needed = row_tiles * col_tiles * shape.groups
            usable = max(1, int(p.num_arrays * p.array_utilization))
            t_cycle = math.ceil(p.array_cols / p.adcs_per_array) * p.adc_conversion_s()
            if t_cycle <= 0:
                t_cycle = 1.0 / chip.clock_hz
            m_max = shape.m * shape.imbalance if shape.groups > 1 else float(shape.m)
            passes = max(1.0, m_max * needed / usable)
            array_s = passes * cycles * t_cycle
            if p.adc_bits > 0:
                adc_conv = float(shape.m) * cycles * shape.n * slices * row_tiles * shape.groups
            dac_conv = float(shape.m) * cycles * shape.k * col_tiles * shape.groups
            resident = min(min(1.0, max(0.0, ctx.weights_on_chip)), usable / needed)
            reload_bytes = op.bytes.weight * (1.0 - resident)
            if reload_bytes > 0:
                bw = p.reload_bandwidth_Bps
                if ext is not None:
                    bw = min(bw, ext.bandwidth_Bps)
                reload_s = reload_bytes / bw
            detail += [("arrays_needed", float(needed)), ("array_passes", passes),
                       ("input_cycles", float(cycles)), ("weight_slices", float(slices)),
                       ("adc_conversions", adc_conv), ("reload_bytes", reload_bytes)]
        elif not isinstance(shape, CollectiveShape) and op.flops > 0:
            peak = op_peak(chip, op, UnitType.VECTOR)
            periph_s = op.flops / peak if peak > 0 else 0.0
        comm_s, hop_s, wire = collective_time(op, hw.fabric, floor_comm)
        reload_j = 0.0
        if p is not None and reload_bytes > 0:
            src = ext.energy_j_per_bit if ext is not None else 0.0
            reload_j = reload_bytes * 8 * (p.reload_energy_j_per_bit + src)
        fabric = hw.fabric
        unit = UnitType.MATRIX if array_s > 0 else UnitType.VECTOR
        energy = (op.flops * mac_energy(chip, op.dtype, unit)
                  + op.bytes.total * 8 * chip.main_memory.energy_j_per_bit
                  + (adc_conv * p.adc_conversion_j() + dac_conv * p.dac_energy_j
                     if p is not None else 0.0)
                  + reload_j
                  + (wire * 8 * fabric.energy_j_per_bit if fabric is not None else 0.0))
        if p is not None and adc_conv > 0:
            budget = chip.power.tdp_w - chip.power.idle_w - p.adc_static_power_w()
            if budget > 0:  # the op (its ADCs foremost) cannot draw more than the chip's power
                power_s = (energy - reload_j) / budget
                detail.append(("adc_power_limited", float(power_s > array_s)))
                array_s = max(array_s, power_s)
        array_bound = Bound.CONVERSION if p is not None and p.adc_bits > 0 else Bound.COMPUTE
        compute_s = max(floor_c, periph_s)
        terms = {Bound.COMPUTE: compute_s, Bound.MEMORY: floor_m, Bound.INTERCONNECT: comm_s}
        terms[array_bound] = max(terms.get(array_bound, 0.0), array_s)
        idle_w = chip.power.idle_w + (p.adc_static_power_w() if p is not None else 0.0)
        cost = finish(terms, hop_s, energy, idle_w,
                      compute_s=max(compute_s, array_s), memory_s=floor_m, comm_s=comm_s,
                      detail=tuple(detail))
        if reload_s <= 0:
            return cost
        # Reloads are serial with compute: they add to the time and can be the bound.
        t = cost.time_s + reload_s
        bound = Bound.MEMORY if reload_s > cost.time_s - cost.overhead_s else cost.bound
        return OpCost(t, energy + idle_w * t, bound, cost.compute_s,
                      floor_m + reload_s, comm_s, cost.overhead_s,
                      (*cost.detail, ("reload_s", reload_s)))

