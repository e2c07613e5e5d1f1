"""Collective algorithms: the one place that knows how chips exchange data (every kind uses it).

A collective over g chips in which each chip contributes m bytes (`CollectiveShape.bytes`) is
priced as `hops × hop latency + wire bytes / (chip injection bandwidth × efficiency)`. The
algorithms differ in hops and wire bytes:

| algorithm   | where                      | all-reduce hops | all-reduce wire bytes |
|-------------|----------------------------|-----------------|-----------------------|
| ring        | any fabric                 | 2(g−1)          | 2(g−1)/g·m (and (6 − 4/g)·m of loads + stores, `ring_copy_bytes`) |
| grid_ring   | mesh_2d / torus_2d / _3d   | 2·2(side−1)     | 2(g−1)/g·m            |
| hierarchical| dragonfly (diameter 3)     | 6               | 2(g−1)/g·m            |
| two_shot    | switch / all-to-all fabric | 2               | 2(g−1)/g·m            |
| one_shot    | switch / all-to-all fabric | 1               | (g−1)·m               |
| in_switch   | switch with reduction (NVLS)| 2              | m                     |
| direct      | switch / all-to-all (gather, scatter, all-to-all) | 1 | as ring   |
| p2p         | send/recv to one peer      | 1               | m                     |

A collective library may run a ring in a second, low-latency protocol (`LowLatency`: NCCL's
LL, whose flag-carrying 8-byte stores need no per-chunk handshake): a smaller per-step latency
at a fraction of the link bandwidth. `plans` then offers both rings and the fastest wins, as
NCCL's tuner picks LL for small messages and its bandwidth protocol for large ones.

`native_plan` is the fabric's own schedule (the topology's hop count with ring wire bytes);
`plans` adds the algorithms a switch offers. `floor_bytes` is the bound no algorithm beats.

Across nodes (`Hardware.scale_out`: nodes of c chips on the scale-up fabric, one network port
per chip), a group of g = n·c chips spanning n nodes runs hierarchically (`system_plan`),
each phase priced as above on its own fabric:

| collective     | phase 1 (scale-up, c chips) | phase 2 (network, n nodes, ring) | phase 3 (scale-up) |
|----------------|-----------------------------|----------------------------------|--------------------|
| all_reduce     | reduce-scatter of m         | all-reduce of m/c                | all-gather of m/c  |
| reduce_scatter | reduce-scatter of m         | reduce-scatter of m/c            | —                  |
| all_gather     | —                           | all-gather of m                  | all-gather of n·m  |
| all_to_all     | (c−1)/g·m over the scale-up fabric and (g−c)/g·m through the chip's own port, at the same time: the slower of the two |

A hierarchical MoE all-to-all (`CollectiveShape.routing`, DeepEP's normal kernels) moves
token rows, not (token, expert) pairs: with m = k rows' worth (k = top_k), a row r = m/k
and a token's experts on N̄ distinct nodes and R̄ distinct ranks in expectation
(`workloads.routing.destinations`), a chip sends r·N̄·(n−1)/n through its port (once per
remote destination node, to the chip of its own local index there) and r·R̄·(c−1)/c over
the scale-up fabric (the receiving chip forwards each row once to every destination rank
of its node but itself), at the same time; on one fabric it is an all-to-all of r·R̄.

Groups are placed node-contiguous (TP inside a node first), so a group of g ≤ c chips stays
on the scale-up fabric. A pipeline send is priced on the scale-up fabric (omitted: a stage
boundary that crosses nodes).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import Enum

from infersim.hwmodels.spec import Hardware, Interconnect, Topology
from infersim.workloads.ops import Collective, CollectiveShape
from infersim.workloads.routing import destinations


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
class LowLatency:
    """A ring protocol with its own per-step latency and share of the usable link bandwidth
    (the fabric's `latency_s` and full bandwidth are the bandwidth protocol's)."""

    hop_latency_s: float
    bandwidth_fraction: float


@dataclass(frozen=True, slots=True)
class CollectivePlan:
    """One algorithm's cost for this chip's part of a collective."""

    algorithm: Algorithm
    hops: int
    wire_bytes: float  # bytes this chip sends
    bandwidth_s: float  # wire bytes over the usable injection bandwidth
    latency_s: float  # hops × per-hop latency
    protocol: str = "bandwidth"  # "low_latency" for a ring in the `LowLatency` protocol

    @property
    def time_s(self) -> float:
        return self.bandwidth_s + self.latency_s


def message_bytes(shape: CollectiveShape) -> float:
    """The message per chip that the schedules move: `shape.bytes`, but for a hierarchical
    MoE all-to-all (`shape.routing`) on one fabric the token rows once per destination rank
    (a token's row × its expected distinct ranks, `workloads.routing.destinations`) instead
    of once per (token, expert) pair."""
    r = shape.routing
    if r is None or shape.collective != Collective.ALL_TO_ALL or shape.group_size <= 1:
        return shape.bytes
    _nodes, ranks = destinations(r.experts, r.top_k, shape.group_size, 1, r.n_group,
                                 r.topk_group)
    return shape.bytes / r.top_k * ranks


def floor_bytes(shape: CollectiveShape) -> float:
    """Fewest bytes one chip must send or receive (its busier link direction) for ANY
    algorithm, in-network reduction included (data taken as incompressible):
    all_gather (g−1)·m (every chip receives the others' parts); reduce_scatter and all_to_all
    (g−1)/g·m (a chip must send its data for the g−1 other shards); all_reduce m (every chip
    receives m reduced values and sends its own m once, which in-switch reduction reaches);
    send_recv m."""
    g, m = shape.group_size, message_bytes(shape)
    if g <= 1:
        return 0.0
    c = shape.collective
    if c == Collective.ALL_GATHER:
        return (g - 1) * m
    if c in (Collective.REDUCE_SCATTER, Collective.ALL_TO_ALL):
        return (g - 1) / g * m
    return m


def ring_copy_bytes(shape: CollectiveShape) -> float:
    """Bytes one GPU's ring all-reduce kernel loads and stores (its channels' thread blocks
    run NCCL's ring primitives, src/device/all_reduce.h `runRing`, github.com/NVIDIA/nccl,
    each step on a chunk of m/g): one `send` (read the input, write the peer's buffer: 2
    chunk moves), g−2 `recvReduceSend` (read input and FIFO, write the peer: 3), one
    `recvReduceCopySend` (3 + the output: 4), g−2 `recvCopySend` (read FIFO, write output
    and peer: 3), one `recv` (2): (6g − 4)/g · m = (6 − 4/g)·m, against the ring's
    2(g−1)/g · m wire bytes; 0 for other collectives (not bounded here)."""
    g = shape.group_size
    if shape.collective != Collective.ALL_REDUCE or g <= 1:
        return 0.0
    return (6.0 - 4.0 / g) * shape.bytes


def ring_wire_bytes(shape: CollectiveShape) -> float:
    """Bytes one chip sends in the bandwidth-optimal ring (or direct) schedule."""
    g, b = shape.group_size, message_bytes(shape)
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


def engine_allreduce_s(base_s: float, peer_s: float, s_per_byte: float,
                       shape: CollectiveShape) -> float:
    """An inference engine's own all-reduce kernel on one switched node (vLLM's custom
    all-reduce, TensorRT-LLM's one-/two-shot kernels): a fixed cost, `peer_s` for each of
    the g−1 peers (one more buffer to read, one more flag to wait for) and the ring's wire
    bytes at the kernel's own rate, `s_per_byte` (a few thread blocks, not the links, set
    it). The form `validation.fitting.custom_allreduce` fits to measured latencies."""
    return base_s + peer_s * (shape.group_size - 1) + s_per_byte * ring_wire_bytes(shape)


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
          efficiency: float, hop_latency_s: float | None = None,
          floor_s: float = 0.0) -> CollectivePlan:
    """`floor_s`: the least bandwidth time (a ring kernel's own loads and stores)."""
    bw = fabric.chip_bandwidth_Bps * efficiency
    hop = fabric.latency_s if hop_latency_s is None else hop_latency_s
    return CollectivePlan(algo, hops, wire, max(wire / bw if bw > 0 else 0.0, floor_s),
                          hops * hop, "bandwidth" if hop_latency_s is None else "low_latency")


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
          in_switch_efficiency: float = 0.0,
          low_latency: LowLatency | None = None,
          in_switch_latency_s: float | None = None,
          ring_copy_Bps: float = 0.0) -> list[CollectivePlan]:
    """Every algorithm the fabric offers for this collective (the caller keeps the fastest).

    Any fabric can run a ring (also in the `low_latency` protocol when given); a switched
    fabric adds its direct schedules (two-shot, one-shot all-reduce; one-step
    gather/scatter/all-to-all) and, on a switch that reduces in the network
    (`in_switch_efficiency` > 0, NVLink SHARP), the in-switch all-reduce, whose fixed
    latency is `in_switch_latency_s` when given (else two fabric steps). With
    `ring_copy_Bps` > 0 a ring all-reduce (either protocol) takes at least its kernel's
    loads and stores at that rate (`ring_copy_bytes`): its bandwidth time is the slower of
    the links and its channels' memory traffic."""
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
        copy = ring_copy_bytes(shape) / ring_copy_Bps if ring_copy_Bps > 0.0 else 0.0
        out = [_plan(Algorithm.RING, ring_steps, ring_wire_bytes(shape), fabric,
                     link_efficiency, floor_s=copy)]
        if low_latency is not None:
            out.append(_plan(Algorithm.RING, ring_steps, ring_wire_bytes(shape), fabric,
                             link_efficiency * low_latency.bandwidth_fraction,
                             low_latency.hop_latency_s, copy))
    if not switched:
        return out
    if coll == Collective.ALL_REDUCE:
        out.append(_plan(Algorithm.TWO_SHOT, 2, ring_wire_bytes(shape), fabric,
                         link_efficiency))
        out.append(_plan(Algorithm.ONE_SHOT, 1, (g - 1) * m, fabric, link_efficiency))
        if in_switch_efficiency > 0.0 and fabric.topology == Topology.SWITCH:
            nvls = _plan(Algorithm.IN_SWITCH, 2, m, fabric, in_switch_efficiency)
            if in_switch_latency_s is not None:
                nvls = replace(nvls, latency_s=in_switch_latency_s)
            out.append(nvls)
    else:
        out.append(_plan(Algorithm.DIRECT, 1, ring_wire_bytes(shape), fabric, link_efficiency))
    return out


def best_plan(shape: CollectiveShape, fabric: Interconnect, link_efficiency: float = 1.0,
              in_switch_efficiency: float = 0.0, *,
              allowed: Collection[Algorithm] | None = None,
              reduce_efficiency: float = 0.0,
              low_latency: LowLatency | None = None,
              in_switch_latency_s: float | None = None,
              ring_copy_Bps: float = 0.0) -> CollectivePlan | None:
    """The fastest of `plans` (None for a group of one); `allowed` restricts the algorithms
    to those the collective library implements (e.g. NCCL: ring, in-switch, p2p, direct);
    `reduce_efficiency` > 0 prices the reducing collectives (all-reduce, reduce-scatter)
    over links at that efficiency instead of `link_efficiency`; `low_latency` adds the ring
    in that protocol, `in_switch_latency_s` sets the in-switch all-reduce's fixed latency
    and `ring_copy_Bps` bounds a ring all-reduce by its kernel's loads and stores
    (`plans`)."""
    eff = link_efficiency
    if reduce_efficiency > 0.0 and shape.collective in (Collective.ALL_REDUCE,
                                                        Collective.REDUCE_SCATTER):
        eff = reduce_efficiency
    cands = plans(shape, fabric, eff, in_switch_efficiency, low_latency, in_switch_latency_s,
                  ring_copy_Bps)
    if allowed is not None:
        cands = [p for p in cands if p.algorithm in allowed]
    return min(cands, key=lambda p: (p.time_s, p.wire_bytes)) if cands else None


# Share of an InfiniBand NDR port's 50 GB/s that GPU-initiated all-to-all traffic reaches:
# DeepEP's internode normal kernels measure 43-47 GB/s of RDMA bandwidth on H800 with CX7
# 400 Gb/s NICs (https://github.com/deepseek-ai/DeepEP, README performance table) -> ~0.9.
NETWORK_EFFICIENCY = 0.9


def _phase(coll: Collective, m: float, g: int, fabric: Interconnect, eff: float,
           in_switch: float, allowed: Collection[Algorithm] | None,
           reduce_eff: float, low_latency: LowLatency | None = None,
           in_switch_latency_s: float | None = None,
           ring_copy_Bps: float = 0.0) -> CollectivePlan | None:
    return best_plan(CollectiveShape(coll, m, g), fabric, eff, in_switch, allowed=allowed,
                     reduce_efficiency=reduce_eff, low_latency=low_latency,
                     in_switch_latency_s=in_switch_latency_s, ring_copy_Bps=ring_copy_Bps)


def system_plan(shape: CollectiveShape, hw: Hardware, link_efficiency: float = 1.0,
                in_switch_efficiency: float = 0.0, *,
                allowed: Collection[Algorithm] | None = None,
                reduce_efficiency: float = 0.0,
                network_efficiency: float = NETWORK_EFFICIENCY,
                low_latency: LowLatency | None = None,
                in_switch_latency_s: float | None = None,
                ring_copy_Bps: float = 0.0) -> CollectivePlan | None:
    """The collective on `hw`: `best_plan` on the scale-up fabric when the group fits one node
    (or the system has no scale-out network), else the hierarchical schedule of the module
    docstring. None for a group of one or a system without links. `low_latency` is the
    scale-up fabric's low-latency ring protocol, `in_switch_latency_s` its in-switch
    all-reduce's fixed latency and `ring_copy_Bps` the chips' ring all-reduce copy rate
    (`plans`; the phases of a hierarchical all-reduce are reduce-scatter and all-gather,
    not bounded by it)."""
    fabric = hw.fabric
    if fabric is None:
        return None
    so = hw.scale_out
    g = shape.group_size
    coll = shape.collective
    if so is None or g <= so.chips_per_node or coll == Collective.SEND_RECV:
        return best_plan(shape, fabric, link_efficiency, in_switch_efficiency,
                         allowed=allowed, reduce_efficiency=reduce_efficiency,
                         low_latency=low_latency, in_switch_latency_s=in_switch_latency_s,
                         ring_copy_Bps=ring_copy_Bps)
    nodes = math.ceil(g / so.chips_per_node)
    c = g // nodes  # chips of the group in each node
    net = so.network
    m = shape.bytes
    ring = (Algorithm.RING,)

    def up(cl: Collective, size: float) -> CollectivePlan | None:
        return _phase(cl, size, c, fabric, link_efficiency, in_switch_efficiency, allowed,
                      reduce_efficiency, low_latency, in_switch_latency_s)

    def across(cl: Collective, size: float) -> CollectivePlan | None:
        return _phase(cl, size, nodes, net, network_efficiency, 0.0, ring, 0.0)

    if coll == Collective.ALL_TO_ALL:
        bw_up = fabric.chip_bandwidth_Bps * link_efficiency
        bw_net = net.chip_bandwidth_Bps * network_efficiency
        local = (c - 1) / g * m
        remote = (g - c) / g * m
        r = shape.routing
        if r is not None:  # once per destination node, then once per destination rank
            hit_nodes, hit_ranks = destinations(r.experts, r.top_k, g, nodes, r.n_group,
                                                r.topk_group)
            row = m / r.top_k
            remote = row * hit_nodes * (nodes - 1) / nodes
            local = row * hit_ranks * (c - 1) / c
        t_up = (local / bw_up if bw_up > 0 else 0.0) + (fabric.latency_s if c > 1 else 0.0)
        t_net = (remote / bw_net if bw_net > 0 else 0.0) + net.latency_s
        slow_lat = fabric.latency_s if t_up > t_net else net.latency_s
        t = max(t_up, t_net)
        return CollectivePlan(Algorithm.HIERARCHICAL, 1, local + remote, t - slow_lat,
                              slow_lat)
    if coll == Collective.ALL_REDUCE:
        phases = [up(Collective.REDUCE_SCATTER, m), across(Collective.ALL_REDUCE, m / c),
                  up(Collective.ALL_GATHER, m / c)]
    elif coll == Collective.REDUCE_SCATTER:
        phases = [up(Collective.REDUCE_SCATTER, m), across(Collective.REDUCE_SCATTER, m / c)]
    else:  # all-gather: each chip's part m
        phases = [across(Collective.ALL_GATHER, m), up(Collective.ALL_GATHER, nodes * m)]
    done = [p for p in phases if p is not None]
    return CollectivePlan(Algorithm.HIERARCHICAL, sum(p.hops for p in done),
                          sum(p.wire_bytes for p in done), sum(p.bandwidth_s for p in done),
                          sum(p.latency_s for p in done))
