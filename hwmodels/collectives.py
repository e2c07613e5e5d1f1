"""Collective algorithms: the one place that knows how chips exchange data (every kind uses it).

A collective over g chips in which each chip contributes m bytes (`CollectiveShape.bytes`) is
priced as `hops × hop latency + wire bytes / (chip injection bandwidth × efficiency)`. The
algorithms differ in hops and wire bytes:

| algorithm   | where                      | all-reduce hops | all-reduce wire bytes |
|-------------|----------------------------|-----------------|-----------------------|
| ring        | any fabric                 | 2(g−1)          | 2(g−1)/g·m            |
| grid_ring   | mesh_2d / torus_2d / _3d   | 2·2(side−1)     | 2(g−1)/g·m            |
| hierarchical| dragonfly (diameter 3)     | 6               | 2(g−1)/g·m            |
| two_shot    | switch / all-to-all fabric | 2               | 2(g−1)/g·m            |
| one_shot    | switch / all-to-all fabric | 1               | (g−1)·m               |
| in_switch   | switch with reduction (NVLS)| 2              | m                     |
| direct      | switch / all-to-all (gather, scatter, all-to-all) | 1 | as ring   |
| p2p         | send/recv to one peer      | 1               | m                     |

`native_plan` is the fabric's own schedule (the topology's hop count with ring wire bytes);
`plans` adds the algorithms a switch offers. `floor_bytes` is the bound no algorithm beats.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum

from infersim.hwmodels.spec import Interconnect, Topology
from infersim.workloads.ops import Collective, CollectiveShape


class Algorithm(str, Enum):
    RING = "ring"
    GRID_RING = "grid_ring"
    HIERARCHICAL = "hierarchical"
    TWO_SHOT = "two_shot"
    ONE_SHOT = "one_shot"
    IN_SWITCH = "in_switch"
    DIRECT = "direct"
    P2P = "p2p"


_SWITCHED = (Topology.SWITCH, Topology.ALL_TO_ALL)
_NATIVE = {Topology.RING: Algorithm.RING, Topology.MESH_2D: Algorithm.GRID_RING,
           Topology.TORUS_2D: Algorithm.GRID_RING, Topology.TORUS_3D: Algorithm.GRID_RING,
           Topology.DRAGONFLY: Algorithm.HIERARCHICAL,
           Topology.SWITCH: Algorithm.DIRECT, Topology.ALL_TO_ALL: Algorithm.DIRECT}


@dataclass(frozen=True, slots=True)
class CollectivePlan:
    """One algorithm's cost for this chip's part of a collective."""

    algorithm: Algorithm
    hops: int
    wire_bytes: float  # bytes this chip sends
    bandwidth_s: float  # wire bytes over the usable injection bandwidth
    latency_s: float  # hops × per-hop latency

    @property
    def time_s(self) -> float:
        return self.bandwidth_s + self.latency_s


def floor_bytes(shape: CollectiveShape) -> float:
    """Fewest bytes one chip must send or receive (its busier link direction) for ANY
    algorithm, in-network reduction included (data taken as incompressible):
    all_gather (g−1)·m (every chip receives the others' parts); reduce_scatter and all_to_all
    (g−1)/g·m (a chip must send its data for the g−1 other shards); all_reduce m (every chip
    receives m reduced values and sends its own m once, which in-switch reduction reaches);
    send_recv m."""
    g, m = shape.group_size, shape.bytes
    if g <= 1:
        return 0.0
    c = shape.collective
    if c == Collective.ALL_GATHER:
        return (g - 1) * m
    if c in (Collective.REDUCE_SCATTER, Collective.ALL_TO_ALL):
        return (g - 1) / g * m
    return m


def ring_wire_bytes(shape: CollectiveShape) -> float:
    """Bytes one chip sends in the bandwidth-optimal ring (or direct) schedule."""
    g, b = shape.group_size, shape.bytes
    if g <= 1:
        return 0.0
    c = shape.collective
    if c == Collective.ALL_REDUCE:
        return 2.0 * (g - 1) / g * b
    if c == Collective.ALL_GATHER:
        return (g - 1) * b
    if c in (Collective.REDUCE_SCATTER, Collective.ALL_TO_ALL):
        return (g - 1) / g * b
    return b


def topology_hops(topology: Topology, shape: CollectiveShape) -> int:
    """Latency-bound steps of the fabric's native schedule over `group_size` chips.

    ring: g−1 steps (all-reduce twice: reduce-scatter then all-gather); mesh_2d / torus_2d:
    a ring along each dimension of a √g × √g grid (torus rings are bidirectional: half the
    steps); torus_3d: the same along each of the three dimensions of a ∛g-sided cube (TPU
    v4/v5p ICI); dragonfly: its diameter, 3; switch / all-to-all: one direct exchange. A send_recv
    is one hop (pipeline neighbours are placed adjacent)."""
    g = shape.group_size
    if g <= 1:
        return 0
    c = shape.collective
    if c == Collective.SEND_RECV:
        return 1
    if topology == Topology.RING:
        steps = g - 1
    elif topology in (Topology.MESH_2D, Topology.TORUS_2D):
        side = math.ceil(math.sqrt(g))
        per_dim = side - 1 if topology == Topology.MESH_2D else math.ceil((side - 1) / 2)
        steps = max(1, 2 * per_dim)
    elif topology == Topology.TORUS_3D:
        side = 1
        while side ** 3 < g:
            side += 1
        steps = max(1, 3 * math.ceil((side - 1) / 2))
    elif topology == Topology.DRAGONFLY:
        steps = 3
    else:
        steps = 1
    return 2 * steps if c == Collective.ALL_REDUCE else steps


def _plan(algo: Algorithm, hops: int, wire: float, fabric: Interconnect,
          efficiency: float) -> CollectivePlan:
    bw = fabric.chip_bandwidth_Bps * efficiency
    return CollectivePlan(algo, hops, wire, wire / bw if bw > 0 else 0.0,
                          hops * fabric.latency_s)


def native_plan(shape: CollectiveShape, fabric: Interconnect,
                link_efficiency: float = 1.0) -> CollectivePlan:
    """The fabric's own schedule: its topology's hop count (at least one) with ring wire
    bytes."""
    algo = Algorithm.P2P if shape.collective == Collective.SEND_RECV else _NATIVE[fabric.topology]
    if algo is Algorithm.DIRECT and shape.collective == Collective.ALL_REDUCE:
        algo = Algorithm.TWO_SHOT
    hops = max(1, topology_hops(fabric.topology, shape))
    return _plan(algo, hops, ring_wire_bytes(shape), fabric, link_efficiency)


def plans(shape: CollectiveShape, fabric: Interconnect, link_efficiency: float = 1.0,
          in_switch_efficiency: float = 0.0) -> list[CollectivePlan]:
    """Every algorithm the fabric offers for this collective (the caller keeps the fastest).

    Any fabric can run a ring; a switched fabric adds its direct schedules (two-shot, one-shot
    all-reduce; one-step gather/scatter/all-to-all) and, on a switch that reduces in the
    network (`in_switch_efficiency` > 0, NVLink SHARP), the in-switch all-reduce."""
    g, m = shape.group_size, shape.bytes
    if g <= 1:
        return []
    coll = shape.collective
    if coll == Collective.SEND_RECV:
        return [_plan(Algorithm.P2P, 1, m, fabric, link_efficiency)]
    switched = fabric.topology in _SWITCHED
    ring_steps = g - 1 if coll != Collective.ALL_REDUCE else 2 * (g - 1)
    if coll == Collective.ALL_TO_ALL and switched:
        out = []
    else:
        out = [_plan(Algorithm.RING, ring_steps, ring_wire_bytes(shape), fabric,
                     link_efficiency)]
    if not switched:
        return out
    if coll == Collective.ALL_REDUCE:
        out.append(_plan(Algorithm.TWO_SHOT, 2, ring_wire_bytes(shape), fabric,
                         link_efficiency))
        out.append(_plan(Algorithm.ONE_SHOT, 1, (g - 1) * m, fabric, link_efficiency))
        if in_switch_efficiency > 0.0 and fabric.topology == Topology.SWITCH:
            out.append(_plan(Algorithm.IN_SWITCH, 2, m, fabric, in_switch_efficiency))
    else:
        out.append(_plan(Algorithm.DIRECT, 1, ring_wire_bytes(shape), fabric, link_efficiency))
    return out


def best_plan(shape: CollectiveShape, fabric: Interconnect, link_efficiency: float = 1.0,
              in_switch_efficiency: float = 0.0, *,
              allowed: Collection[Algorithm] | None = None,
              reduce_efficiency: float = 0.0) -> CollectivePlan | None:
    """The fastest of `plans` (None for a group of one); `allowed` restricts the algorithms
    to those the collective library implements (e.g. NCCL: ring, in-switch, p2p, direct);
    `reduce_efficiency` > 0 prices the reducing collectives (all-reduce, reduce-scatter)
    over links at that efficiency instead of `link_efficiency`."""
    eff = link_efficiency
    if reduce_efficiency > 0.0 and shape.collective in (Collective.ALL_REDUCE,
                                                        Collective.REDUCE_SCATTER):
        eff = reduce_efficiency
    cands = plans(shape, fabric, eff, in_switch_efficiency)
    if allowed is not None:
        cands = [p for p in cands if p.algorithm in allowed]
    return min(cands, key=lambda p: (p.time_s, p.wire_bytes)) if cands else None
