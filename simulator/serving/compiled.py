"""The serving engine of a replica as one compiled (Numba) loop: same model, same numbers.

`replica.Replica` with `schedulers.ContinuousReplica` / `ChunkedReplica` is the reference; this
module runs the same state machine over arrays, for the common case `why_not` allows (one
engine, continuous or chunked, no speculative decoding, no window-capped KV, open loop, no
event log, a `MapperIterationCost`), TensorRT-LLM's scheduling rules included: admission
`reserve` (`_rsv_blocked`, `_reserve`, `_unreserve`: blocks for a request's prompt and whole
output promised at admission, returned at its finish or preemption), whole prompts
(`chunked_context` 0: a prompt joins a mixed iteration whole or waits, `S[_CPF]`), the host's
walk of every held request (`held_request_s`, `_held`) and CUDA-graph padding of
generation-only iterations (table kind 6: the cost's own `n_dec_graph`); and attention data
parallelism, which changes only the pricing: each group's share of the tokens, the busiest
group's prompt work (`_busiest`, table kind 7: R_pf) with the others idle, and each group's
host floor. Every step is the reference's step in the same order:
`_reject_impossible`, the policy's iteration (admission, swap-in, decode blocks and
preemption, multi-iteration decode), pricing, commit; so the collector, the ITL and KV
samples, energy and the prefix-cache counters come out equal (ITL pairs in the same order).

Several replicas behind round robin run one at a time on the requests the router gives each
(`serve._run_compiled` merges them). The simpy engine ends a multi-iteration decode run at the
next event of any replica, this loop at its replica's own: where a run outlasts its start
time (early in a run) the clock t0 + (end − t0) can round differently, so times agree to a few
ulps there (and the ITL mean, summed in replica order, to rounding); counts, tokens and KV
occupancies agree exactly.

Clock: simpy adds each timeout's delay to its clock; so does this loop (t0 + (t1 − t0)),
arrivals included (the open-loop process's clock, `arrival_clock`). An arrival due exactly
when an iteration ends is seen by it when its timeout was scheduled no later than the
iteration's (simpy's event order).

Pricing: the table interpolation of `costs.MapperIterationCost` (brackets, `up`, `_lerp1`,
`_lerp2`, `s_pf` groups, `_decode_only`'s per-batch cell line, `floored`) with the same
arithmetic. Table nodes stay lazy: a hash table of nodes, and a node not there yet is computed
by the cost object's own node method (`_node`, through `numba.objmode`) and kept.

Compilation: `cache=True`; the first call in a checkout compiles (~22 s CPU on a 2.0 GHz
Xeon), later processes load the cache (~1 s). Helpers are called with typed (not literal)
arguments so each compiles once.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
from numba import njit, objmode

from infersim.simulator.serving.costs import MapperIterationCost
from infersim.simulator.serving.metrics import Collector
from infersim.simulator.serving.traffic import RequestTable

# int state (`S`)
(_FREE, _TOTAL, _WM, _BS, _EVICT, _NCACHED, _PEAK, _CQ0, _CQ1, _CQ2, _CQ3, _IT, _NDEC, _BSUM,
 _NFRESH, _FRN, _FINN, _VICN, _WH, _WN, _SH, _SN, _PFN, _LRUH, _NREC, _HFREE, _PNOW, _ITLN,
 _KVN, _KVLEN, _KVSTRIDE, _AI, _PREFIX, _SWAP, _CHUNKED, _MAXTOK, _MAXB, _HCOUNT, _LAG,
 _LAGN, _ALAG, _RSVON, _RSVD, _CPF, _WALK, _GPAD, _DP) = range(47)
_NS = 47
# float state (`F`)
(_NOW, _TDEC, _BUSY, _ENERGY, _EXTRA, _SWAPS, _IDLEW, _FCHUNK, _FEVERY, _FOUT, _ITS,
 _ITE, _FCALL, _FHELD) = range(14)
_NF = 14
# per-request int fields (`Q`)
(_P0, _PR, _OUT, _GEN, _DONE, _CACHE, _BLK, _BASE, _FIN, _G0, _SYSO, _SYSF, _OWN, _KEYED,
 _INDEC, _INFRESH, _DPOS, _RSV) = range(18)
_NQ = 18
_CONV_CAP = 1 << 62  # a conversation chain has no upper block limit
_KV_CAPACITY = 2048  # `metrics.BoundedSampler`'s default
# first sizes of the buffers the loop grows: ITL samples (~3.5 per request measured at 10^6
# requests), and the finish heap, fresh-decoder list and prefix-cache runs
_ITL_PER_REQUEST = 4
_ROWS = 64

# Slots of the run's node hash table (a power of 2, kept at most half full): 65,536 nodes,
# each a mapper call; the 10^6-request benchmark uses ~3,000.
NODE_SLOTS = 1 << 17


class NodeTableFull(RuntimeError):
    """The run needs more table nodes than the compiled engine holds (`simulate_serving` then
    runs it on the simpy engine, which gives the same result)."""


_ACTIVE = threading.local()  # .cost: the cost whose nodes `_node` computes (this thread)


def _node(kind: int, a: float, b: float, c: float) -> tuple[float, float]:
    """A table node from the active cost: its table's value, else its node method."""
    cost = _ACTIVE.cost
    ia, ib, ic = int(a), int(b), int(c)
    if kind == 0:
        v = cost._npf.get(ia) or cost._prefill_node(ia)
    elif kind == 1:
        v = cost._ndec.get(ia) or cost._decode_node(ia)
    elif kind == 2:
        v = cost._sdec.get((ia, ib)) or cost._sdec_node(ia, ib)
    elif kind == 5:  # A_pf (kinds 3, 4: S_pf on the token and chunk axes)
        v = cost._apf.get(ia) or cost._aprefill_node(ia)
    elif kind == 6:  # N_dec of a decode-only iteration at its padded CUDA-graph batch
        v = cost.n_dec_graph(ia)
    elif kind == 7:  # R_pf: N_pf's group-local part (attention data parallelism)
        v = cost._rpf.get(ia) or cost._rprefill_node(ia)
    else:
        v = cost._spf.get((ia, ib, ic)) or cost._spf_node(ia, ib, ic)
    return float(v[0]), float(v[1])


# ---- pricing (costs.MapperIterationCost, same arithmetic) -----------------------------------
@njit(cache=True)
def _tv(hk, hv, S, kind, i1, i2, i3, v1, v2, v3):  # type: ignore[no-untyped-def]
    """Node (kind, i1, i2, i3) of the lazy tables (node values v1..v3), computed on a miss."""
    key = ((kind * 4096 + i1) * 4096 + i2) * 4096 + i3
    mask = hk.shape[0] - 1
    x = (key ^ (key >> 29)) * 6364136223846793005  # mix every index bit (wraps)
    h = (x ^ (x >> 32)) & mask
    while True:
        k = hk[h]
        if k == key:
            return hv[h, 0], hv[h, 1]
        if k == -1:
            break
        h = (h + 1) & mask
    if 2 * (S[_HCOUNT] + 1) > hk.shape[0]:
        raise NodeTableFull("more table nodes than the compiled engine's node table holds")
    with objmode(t="float64", e="float64"):
        t, e = _node(kind, v1, v2, v3)
    hk[h] = key
    hv[h, 0] = t
    hv[h, 1] = e
    S[_HCOUNT] += 1
    return t, e


@njit(cache=True)
def _bracket(nodes, x):  # type: ignore[no-untyped-def]
    """(lower index, upper index, weight of the upper node) around x (`Axis.bracket`)."""
    n = nodes.shape[0]
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if nodes[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    if lo >= n or (lo == 0 and nodes[0] != x):
        raise ValueError("a value outside the table axis")
    if nodes[lo] == x:
        return lo, lo, 0.0
    return lo - 1, lo, (x - nodes[lo - 1]) / (nodes[lo] - nodes[lo - 1])


@njit(cache=True)
def _lerp1(hk, hv, S, kind, nodes, x):  # type: ignore[no-untyped-def]
    if x <= 0:
        return 0.0, 0.0
    i0, i1, w = _bracket(nodes, float(x))
    z = np.int64(0)  # typed, not literal: one compiled version of the callee
    a0, a1 = _tv(hk, hv, S, kind, i0, z, z, nodes[i0], 0.0, 0.0)
    if w == 0.0:
        return a0, a1
    b0, b1 = _tv(hk, hv, S, kind, i1, z, z, nodes[i1], 0.0, 0.0)
    return a0 + (b0 - a0) * w, a1 + (b1 - a1) * w


@njit(cache=True)
def _lerp2(hk, hv, S, kind, key, keyv, ax, ay, x, y):  # type: ignore[no-untyped-def]
    """`_lerp2`; key < 0: table (x, y) (S_dec), else (key, x, y) (S_pf)."""
    x0, x1, wx = _bracket(ax, float(x))
    y0, y1, wy = _bracket(ay, float(y))
    t = e = 0.0
    for j in range(2):
        xi = x0 if j == 0 else x1
        fx = 1.0 - wx if j == 0 else wx
        if fx == 0.0:
            continue
        for m in range(2):
            yi = y0 if m == 0 else y1
            fy = 1.0 - wy if m == 0 else wy
            if fy == 0.0:
                continue
            if key < 0:
                v0, v1 = _tv(hk, hv, S, kind, xi, yi, np.int64(0), ax[xi], ay[yi], 0.0)
            else:
                v0, v1 = _tv(hk, hv, S, kind, key, xi, yi, keyv, ax[xi], ay[yi])
            t += fx * fy * v0
            e += fx * fy * v1
    return t, e


@njit(cache=True)
def _s_pf(hk, hv, S, tok, seq, cached, chunk, snap, b, q, c):  # type: ignore[no-untyped-def]
    """`s_pf`: b identical chunks of q new tokens over c cached; snap: (tile, snap_above)
    of the tok and chunk_tok axes (`Axis.up`)."""
    tx0, tx1, wb = _bracket(seq, float(b))
    tile, above = (snap[2], snap[3]) if c else (snap[0], snap[1])
    uq = -(-q // tile) * tile if 0 < above < q else q
    kind = np.int64(4) if c else np.int64(3)
    ax = chunk if c else tok
    t = e = 0.0
    for j in range(2):
        bi = tx0 if j == 0 else tx1
        fb = 1.0 - wb if j == 0 else wb
        if fb == 0.0:
            continue
        vt, ve = _lerp2(hk, hv, S, kind, bi, seq[bi], ax, cached, float(uq), float(c))
        if uq != q:
            ve = _lerp2(hk, hv, S, kind, bi, seq[bi], ax, cached, float(q), float(c))[1]
        t += fb * vt
        e += fb * ve
    return t, e


@njit(cache=True)
def _busiest(cq, nch, d, dp):  # type: ignore[no-untyped-def]
    """`costs.busiest_group_tokens` of the chunks cq[:nch] and d decoders over dp groups."""
    loads = np.empty(dp, np.int64)
    for g in range(dp):
        loads[g] = d // dp + (1 if g < d % dp else 0)
    for q in np.sort(cq[:nch])[::-1]:  # largest first, on the least loaded group
        loads[np.argmin(loads)] += q
    return loads.max()


@njit(cache=True)
def _price(hk, hv, S, F, tok, seq, ctxn, cached, chunk, snap, cells, cell_ok,
           cq, cc, nch, emits, d, ctx, held):  # type: ignore[no-untyped-def]
    """`MapperIterationCost.__call__` of an iteration: chunks (cq, cc)[:nch], emits, d, ctx;
    held: the requests the host walks (`Replica.held`, 0 where it walks none)."""
    k0, k1, k2, k5, m1 = (np.int64(0), np.int64(1), np.int64(2), np.int64(5),
                          np.int64(-1))  # table kinds
    if d and nch == 0 and emits == 0:  # `_decode_only`
        x = ctx / d
        if not cell_ok[d] or not (cells[d, 0] <= x <= cells[d, 1]):
            i = 0
            lo_, hi_ = 0, ctxn.shape[0]
            while lo_ < hi_:  # bisect_right
                mid = (lo_ + hi_) // 2
                if x < ctxn[mid]:
                    hi_ = mid
                else:
                    lo_ = mid + 1
            i = lo_
            lo, hi = ctxn[i - 1], ctxn[i]
            if S[_GPAD]:  # `n_dec_graph`: the padded graph's batch (d < 4096^2)
                nt, ne = _tv(hk, hv, S, np.int64(6), d % 4096, d // 4096, np.int64(0),
                             float(d), 0.0, 0.0)
            else:
                nt, ne = _lerp1(hk, hv, S, k1, tok, d)
            t0, e0 = _lerp2(hk, hv, S, k2, m1, 0.0, seq, ctxn, float(d), lo)
            t1, e1 = _lerp2(hk, hv, S, k2, m1, 0.0, seq, ctxn, float(d), hi)
            t0, e0, t1, e1 = nt + t0, ne + e0, nt + t1, ne + e1
            cells[d, 0] = lo
            cells[d, 1] = hi
            cells[d, 2] = t0
            cells[d, 3] = (t1 - t0) / (hi - lo)
            cells[d, 4] = e0
            cells[d, 5] = (e1 - e0) / (hi - lo)
            cell_ok[d] = 1
        a = cells[d, 0]
        t = max(cells[d, 2] + cells[d, 3] * (x - a), 0.0)
        e = max(cells[d, 4] + cells[d, 5] * (x - a), 0.0)
    else:  # `_compose`
        p = 0
        t = e = 0.0
        for i in range(nch):
            p += cq[i]
        for i in range(nch):  # identical chunks priced as one batch, in first-seen order
            first = True
            for j in range(i):
                if cq[j] == cq[i] and cc[j] == cc[i]:
                    first = False
                    break
            if not first:
                continue
            b = 0
            for j in range(i, nch):
                if cq[j] == cq[i] and cc[j] == cc[i]:
                    b += 1
            st, se = _s_pf(hk, hv, S, tok, seq, cached, chunk, snap, np.int64(b), cq[i],
                           cc[i])
            t += st
            e += se
        dp = S[_DP]
        mean = -(-(p + d) // dp)  # each data-parallel group's share
        nt, ne = _lerp1(hk, hv, S, k0, tok, mean)
        t += nt
        e += ne
        if dp > 1 and p:  # the busiest group's local work; the other groups wait idle
            most = _busiest(cq, nch, d, dp)
            if most > mean:
                k7 = np.int64(7)
                wait = max(_lerp1(hk, hv, S, k7, tok, most)[0]
                           - _lerp1(hk, hv, S, k7, tok, mean)[0], 0.0)
                t += wait
                e += F[_IDLEW] * wait * (dp - 1) / dp
        if d + emits:
            dt, de = _lerp1(hk, hv, S, k1, tok, d + emits)
            pt, pe = _lerp1(hk, hv, S, k5, tok, -(-(d + emits) // dp))
            t += dt - pt
            e += de - pe
        if d:
            st, se = _lerp2(hk, hv, S, k2, m1, 0.0, seq, ctxn, float(d), ctx / d)
            t += st
            e += se
        t, e = max(t, 0.0), max(e, 0.0)
    # `floored`: the serving floor (`frontend_floor`; zeros where the kind has none), each
    # data-parallel group's host its own share
    dp = S[_DP]
    sd, sf = -(-d // dp), -(-emits // dp)
    chunks = sd / F[_FEVERY] + sf
    own = sd + sf
    sh = -(-held // dp)
    floor = max(F[_FCALL] * min(1.0, chunks) + F[_FCHUNK] * chunks,
                F[_FOUT] * own + F[_FHELD] * max(sh - own, 0.0))
    if floor > t:
        return floor, e + F[_IDLEW] * (floor - t)
    return t, e


# ---- KV blocks and the prefix cache (kv_pool.KvBlockPool / PrefixKvPool) ---------------------
@njit(cache=True)
def _blocks_for(S, tokens):  # type: ignore[no-untyped-def]
    bs = S[_BS]
    return -(-tokens // bs)


@njit(cache=True)
def _can_admit(S, blocks):  # type: ignore[no-untyped-def]
    return S[_FREE] - blocks >= S[_WM]


@njit(cache=True)
def _top(ch, hx, hc, hn, key):  # type: ignore[no-untyped-def]
    """`_Chain.top`: the largest held extent, else the chain's base."""
    h = ch[key, 3]
    if h < 0:
        return ch[key, 1]
    best = hx[h]
    h = hn[h]
    while h >= 0:
        if hx[h] > best:
            best = hx[h]
        h = hn[h]
    return best


@njit(cache=True)
def _hold(S, ch, hx, hc, hn, key, old, new):  # type: ignore[no-untyped-def]
    """`PrefixKvPool._hold`: a holder's extent moves from old to new (base = none)."""
    base = ch[key, 1]
    if old > base:
        prev = -1
        h = ch[key, 3]
        while hx[h] != old:
            prev = h
            h = hn[h]
        hc[h] -= 1
        if hc[h] == 0:
            if prev < 0:
                ch[key, 3] = hn[h]
            else:
                hn[prev] = hn[h]
            hn[h] = S[_HFREE]
            S[_HFREE] = h
    if new > base:
        h = ch[key, 3]
        while h >= 0 and hx[h] != new:
            h = hn[h]
        if h >= 0:
            hc[h] += 1
        else:
            h = S[_HFREE]
            if h < 0:
                raise ValueError("prefix-cache holder pool exhausted")
            S[_HFREE] = hn[h]
            hx[h] = new
            hc[h] = 1
            hn[h] = ch[key, 3]
            ch[key, 3] = h


@njit(cache=True)
def _take(S, ch, hx, hc, hn, rec):  # type: ignore[no-untyped-def]
    """After `free` dropped: evict the oldest evictable blocks the drop needs
    (`PrefixKvPool.take`); rec rows: key, lo, hi, prev, next (records in a ring by id)."""
    free, ev = S[_FREE], S[_EVICT]
    if free >= ev or ev <= 0:
        return
    n = min(ev - free, ev)
    S[_EVICT] -= n
    S[_NCACHED] -= n
    cap = rec.shape[0]
    while n:
        r = S[_LRUH]
        slot = r % cap
        key, lo, hi = rec[slot, 0], rec[slot, 1], rec[slot, 2]
        if lo >= hi:
            S[_LRUH] += 1
            continue
        k = min(n, hi - lo)
        n -= k
        rec[slot, 2] = hi - k
        ch[key, 2] = hi - k
        if lo < hi - k:
            continue
        S[_LRUH] += 1
        if ch[key, 4] == r:  # the chain's oldest run
            nx = rec[slot, 4]
            ch[key, 4] = nx
            if nx < 0:
                ch[key, 5] = -1
            else:
                rec[nx % cap, 3] = -1
        if ch[key, 2] == ch[key, 1] and ch[key, 3] < 0:
            ch[key, 0] = 0


@njit(cache=True)
def _take_blocks(S, ch, hx, hc, hn, rec, blocks):  # type: ignore[no-untyped-def]
    S[_FREE] -= blocks
    if S[_PREFIX]:
        _take(S, ch, hx, hc, hn, rec)


@njit(cache=True)
def _parts(Q, rid):  # type: ignore[no-untyped-def]
    """(key, base, cap) of the system-prompt and conversation chains (`_parts`)."""
    sf = np.int64(Q[rid, _SYSF])
    return (np.int64(Q[rid, _SYSO]) * 2 + 1, np.int64(0), sf, np.int64(Q[rid, _OWN]) * 2, sf,
            np.int64(_CONV_CAP))


@njit(cache=True)
def _acquire(S, Q, ch, hx, hc, hn, rec, rid, prompt):  # type: ignore[no-untyped-def]
    bs = S[_BS]
    limit = (prompt - 1) // bs
    h = 0
    k0, b0, c0, k1, b1, c1 = _parts(Q, rid)
    cap_ = rec.shape[0]
    for part in range(2):
        key, base, cap = (k0, b0, c0) if part == 0 else (k1, b1, c1)
        if cap <= base:
            continue
        if h < base or h >= limit:
            break
        if not ch[key, 0]:
            break
        e = min(limit, cap, ch[key, 2])
        top = _top(ch, hx, hc, hn, key)
        if e > top:  # evictable blocks [top, e) become referenced
            S[_EVICT] -= e - top
            S[_FREE] -= e - top
            while ch[key, 5] >= 0:
                r = ch[key, 5]
                slot = r % cap_
                if rec[slot, 1] >= e:
                    break
                rec[slot, 1] = min(e, rec[slot, 2])
                if rec[slot, 1] < rec[slot, 2]:
                    break
                pv = rec[slot, 3]
                ch[key, 5] = pv
                if pv < 0:
                    ch[key, 4] = -1
                else:
                    rec[pv % cap_, 4] = -1
        _hold(S, ch, hx, hc, hn, key, base, e)
        h = e
        if e < min(limit, cap):
            break
    Q[rid, _KEYED] = h
    S[_CQ0] += prompt
    S[_CQ1] += h * bs
    S[_CQ2] += limit
    S[_CQ3] += h
    return h


@njit(cache=True)
def _register(S, Q, ch, hx, hc, hn, rid, tokens):  # type: ignore[no-untyped-def]
    n = tokens // S[_BS]
    j = np.int64(Q[rid, _KEYED])
    if j >= n:
        return
    k0, b0, c0, k1, b1, c1 = _parts(Q, rid)
    for part in range(2):
        key, base, cap = (k0, b0, c0) if part == 0 else (k1, b1, c1)
        if j >= n:
            break
        if j >= cap:
            continue
        if not ch[key, 0]:
            ch[key, 0] = 1
            ch[key, 1] = base
            ch[key, 2] = base
            ch[key, 3] = -1
            ch[key, 4] = -1
            ch[key, 5] = -1
        if j < ch[key, 2]:  # already cached by another sequence
            break
        e = min(cap, n)
        S[_NCACHED] += e - j
        _hold(S, ch, hx, hc, hn, key, j, e)
        ch[key, 2] = e
        j = e
    Q[rid, _KEYED] = j
    if S[_NCACHED] > S[_PEAK]:
        S[_PEAK] = S[_NCACHED]


@njit(cache=True)
def _release(S, Q, ch, hx, hc, hn, rec, rid):  # type: ignore[no-untyped-def]
    """`release_seq`: the sequence gives back its blocks (cached ones become evictable)."""
    if not S[_PREFIX]:
        S[_FREE] += Q[rid, _BLK]
        return
    _register(S, Q, ch, hx, hc, hn, rid, Q[rid, _CACHE])
    keyed = Q[rid, _KEYED]
    freed = Q[rid, _BLK] - keyed
    k0, b0, c0, k1, b1, c1 = _parts(Q, rid)
    cap_ = rec.shape[0]
    for part in range(2):  # deepest blocks first
        key, base, cap = (k1, b1, c1) if part == 0 else (k0, b0, c0)
        e = min(keyed, cap)
        if e <= base:
            continue
        _hold(S, ch, hx, hc, hn, key, e, base)
        top = _top(ch, hx, hc, hn, key)
        if top < e:
            r = S[_NREC]
            S[_NREC] += 1
            slot = r % cap_
            rec[slot, 0] = key
            rec[slot, 1] = top
            rec[slot, 2] = e
            rec[slot, 3] = ch[key, 5]
            rec[slot, 4] = -1
            if ch[key, 5] >= 0:
                rec[ch[key, 5] % cap_, 4] = r
            else:
                ch[key, 4] = r
            ch[key, 5] = r
            S[_EVICT] += e - top
            freed += e - top
    S[_FREE] += freed
    Q[rid, _KEYED] = 0


# ---- heaps (int64 keys) ----------------------------------------------------------------------
@njit(cache=True)
def _hpush(h, S, ni, v):  # type: ignore[no-untyped-def]
    i = S[ni]
    S[ni] += 1
    h[i] = v
    while i > 0:
        p = (i - 1) // 2
        if h[p] <= h[i]:
            break
        h[p], h[i] = h[i], h[p]
        i = p


@njit(cache=True)
def _hpop(h, S, ni):  # type: ignore[no-untyped-def]
    top = h[0]
    n = S[ni] - 1
    S[ni] = n
    h[0] = h[n]
    i = 0
    while True:
        a = 2 * i + 1
        if a >= n:
            break
        if a + 1 < n and h[a + 1] < h[a]:
            a += 1
        if h[i] <= h[a]:
            break
        h[i], h[a] = h[a], h[i]
        i = a
    return top


# ---- decoders (Replica._join / _leave / _advance ...) ----------------------------------------
@njit(cache=True)
def _join(S, F, Q, last, cnt, fin_h, vic_h, dl, fr_r, fr_t, rid):  # type: ignore[no-untyped-def]
    it, bs = S[_IT], S[_BS]
    base = Q[rid, _CACHE] - it
    Q[rid, _BASE] = base
    Q[rid, _FIN] = it + (Q[rid, _OUT] - Q[rid, _GEN])
    Q[rid, _G0] = Q[rid, _GEN]
    Q[rid, _INDEC] = 1
    Q[rid, _DPOS] = S[_NDEC]
    dl[S[_NDEC]] = rid
    S[_NDEC] += 1
    fr_r[S[_FRN]] = rid
    fr_t[S[_FRN]] = last[rid]
    S[_FRN] += 1
    Q[rid, _INFRESH] = 1
    S[_NFRESH] += 1
    _hpush(fin_h, S, np.int64(_FINN), (np.int64(Q[rid, _FIN]) << 32) | rid)
    _hpush(vic_h, S, np.int64(_VICN), -rid)
    if S[_VICN] > 2 * S[_NDEC] + 64:  # drop the stale entries (memory)
        S[_VICN] = 0
        for i in range(S[_NDEC]):
            _hpush(vic_h, S, np.int64(_VICN), -dl[i])
    cnt[base % bs] += 1
    S[_BSUM] += base


@njit(cache=True)
def _leave(S, F, Q, last, cnt, dl, fr_r, fr_t, rid):  # type: ignore[no-untyped-def]
    it, bs = S[_IT], S[_BS]
    Q[rid, _INDEC] = 0
    p = Q[rid, _DPOS]
    S[_NDEC] -= 1
    mv = dl[S[_NDEC]]
    dl[p] = mv
    Q[mv, _DPOS] = p
    base = Q[rid, _BASE]
    cnt[base % bs] -= 1
    S[_BSUM] -= base
    cache = base + it
    Q[rid, _CACHE] = cache
    g0 = Q[rid, _G0]
    Q[rid, _GEN] = g0 + (it - (Q[rid, _FIN] - (Q[rid, _OUT] - g0)))
    Q[rid, _BLK] = _blocks_for(S, np.int64(cache))
    if Q[rid, _INFRESH]:
        Q[rid, _INFRESH] = 0
        S[_NFRESH] -= 1
        for i in range(S[_FRN] - 1, -1, -1):
            if fr_r[i] == rid:
                last[rid] = fr_t[i]
                fr_r[i] = -1
                break
    else:
        last[rid] = F[_TDEC]


@njit(cache=True)
def _itl_add(S, itl_v, itl_w, v, w):  # type: ignore[no-untyped-def]
    i = S[_ITLN]
    itl_v[i] = v
    itl_w[i] = w
    S[_ITLN] = i + 1


@njit(cache=True)
def _kv_add(S, F, kv_t, kv_v, t):  # type: ignore[no-untyped-def]
    """`BoundedSampler.add(t, occupancy)`."""
    S[_KVN] += 1
    if (S[_KVN] - 1) % S[_KVSTRIDE]:
        return
    n = S[_KVLEN]
    kv_t[n] = t
    kv_v[n] = 1.0 - S[_FREE] / S[_TOTAL]
    n += 1
    if n >= kv_t.shape[0]:
        m = 0
        for i in range(0, n, 2):
            kv_t[m] = kv_t[i]
            kv_v[m] = kv_v[i]
            m += 1
        n = m
        S[_KVSTRIDE] *= 2
    S[_KVLEN] = n


@njit(cache=True)
def _deliver(S, lag, first_s, finish_s, now):  # type: ignore[no-untyped-def]
    """`Replica._deliver`: the last iteration's first tokens (2·rid) and finishes
    (2·rid + 1) go out now (async output)."""
    for j in range(S[_LAGN]):
        v = lag[j]
        if v & 1:
            finish_s[v >> 1] = now
        else:
            first_s[v >> 1] = now
    S[_LAGN] = 0


@njit(cache=True)
def _unreserve(S, Q, rid):  # type: ignore[no-untyped-def]
    """`Replica._unreserve`: a finished or preempted request's reservation is returned."""
    S[_RSVD] -= Q[rid, _RSV]
    Q[rid, _RSV] = 0


@njit(cache=True)
def _rsv_blocked(S, Q, rid):  # type: ignore[no-untyped-def]
    """Admission `reserve` (`Replica._admissible`): the blocks of the request's prompt and
    whole output do not fit beside those promised to the running ones."""
    return S[_RSVON] != 0 and (
        S[_RSVD] + _blocks_for(S, np.int64(Q[rid, _P0]) + Q[rid, _OUT]) > S[_TOTAL])


@njit(cache=True)
def _reserve(S, Q, rid):  # type: ignore[no-untyped-def]
    """`Replica._admit` under admission `reserve`: promise the request's blocks."""
    if S[_RSVON]:
        Q[rid, _RSV] = _blocks_for(S, np.int64(Q[rid, _P0]) + Q[rid, _OUT])
        S[_RSVD] += Q[rid, _RSV]


@njit(cache=True)
def _admit(S, Q, waiting, wcap, sched_s, now, ch, hx, hc, hn, rec):  # type: ignore[no-untyped-def]
    """`Replica._admit`: take the head of the waiting queue, promise its blocks (admission
    `reserve`), stamp its first scheduling and give its prompt its blocks, those of a cached
    prefix shared (its computed tokens start past them). Returns the request."""
    rid = waiting[S[_WH]]
    S[_WH] = (S[_WH] + 1) % wcap
    S[_WN] -= 1
    _reserve(S, Q, rid)
    if sched_s[rid] != sched_s[rid]:
        sched_s[rid] = now
    h = np.int64(0)
    if S[_PREFIX]:
        h = _acquire(S, Q, ch, hx, hc, hn, rec, rid, Q[rid, _PR])
        Q[rid, _DONE] = h * S[_BS]
    _take_blocks(S, ch, hx, hc, hn, rec, _blocks_for(S, np.int64(Q[rid, _PR])) - h)
    return rid


@njit(cache=True)
def _held(S, in_step):  # type: ignore[no-untyped-def]
    """`Replica.held`: the requests the host's list holds (0 where it walks none)."""
    if not S[_WALK]:
        return np.int64(0)
    return min(S[_MAXB], S[_WN] + S[_SN] + S[_PFN] + S[_NDEC] + in_step)


@njit(cache=True)
def _finish(S, Q, ch, hx, hc, hn, rec, finish_s, lag, rid, now):  # type: ignore[no-untyped-def]
    _unreserve(S, Q, rid)
    _release(S, Q, ch, hx, hc, hn, rec, rid)
    finish_s[rid] = now
    if S[_LAG]:
        lag[S[_LAGN]] = 2 * rid + 1
        S[_LAGN] += 1


@njit(cache=True)
def _advance(S, F, Q, last, cnt, fin_h, dl, fr_r, fr_t, itl_v, itl_w, ch, hx, hc, hn, rec,
             first_s, finish_s, lag, now):  # type: ignore[no-untyped-def]
    """`Replica._advance`: commit one decode iteration at `now`."""
    _deliver(S, lag, first_s, finish_s, now)
    nd, nf = S[_NDEC], S[_NFRESH]
    if nd > nf:
        _itl_add(S, itl_v, itl_w, now - F[_TDEC], nd - nf)
    if nf:
        for i in range(S[_FRN]):
            r = fr_r[i]
            if r >= 0:
                _itl_add(S, itl_v, itl_w, now - fr_t[i], np.int64(1))
                Q[r, _INFRESH] = 0
        S[_NFRESH] = 0
    S[_FRN] = 0
    F[_TDEC] = now
    S[_IT] += 1
    it = S[_IT]
    while S[_FINN] and (fin_h[0] >> 32) <= it:
        v = _hpop(fin_h, S, np.int64(_FINN))
        f, rid = v >> 32, v & 0xFFFFFFFF
        if not Q[rid, _INDEC] or Q[rid, _FIN] != f:
            continue
        _leave(S, F, Q, last, cnt, dl, fr_r, fr_t, rid)
        _finish(S, Q, ch, hx, hc, hn, rec, finish_s, lag, rid, now)


# ---- the engine ------------------------------------------------------------------------------
@njit(cache=True)
def _engine(S, F, Q, last, arrivals, arrival_s, sched_s, first_s, finish_s, preempt, replica,
            rejected, max_context, cnt, waiting, swapped, pf, fin_h, vic_h, dl, fr_r, fr_t,
            itl_v, itl_w, kv_t, kv_v, ch, hx, hc, hn, rec, hk, hv, tok, seq, ctxn, cached,
            chunk, snap, cells, cell_ok, lag):  # type: ignore[no-untyped-def]
    n = Q.shape[0]
    wcap, scap = waiting.shape[0], swapped.shape[0]
    mb = S[_MAXB]
    chunked = S[_CHUNKED] != 0
    cq = np.zeros(mb + 2, np.int64)  # the iteration's chunks (new, cached) and sequences
    cc = np.zeros(mb + 2, np.int64)
    crid = np.zeros(mb + 2, np.int64)
    horizon_inf = math.inf
    z = np.int64(0)
    t_from = 0.0  # start of the latest timeout (arrival tie rule, module doc)
    idle = False
    while True:
        now = F[_NOW]
        # arrivals the open-loop process has made by now
        while S[_AI] < n:
            i = S[_AI]
            ta = arrivals[i, 0]
            if ta > now or (ta == now and not idle and arrivals[i, 1] > t_from):
                break
            S[_AI] += 1
            arrival_s[i] = ta
            if max_context >= 0 and Q[i, _P0] + Q[i, _OUT] > max_context:
                rejected[i] = True
                continue
            replica[i] = 0
            waiting[(S[_WH] + S[_WN]) % wcap] = i
            S[_WN] += 1
        idle = False
        # room for what one step can add (grown here, where no step is half done): it joins
        # at most the queued and prefilling sequences, and releases at most those and the
        # decoders (two prefix-cache runs each)
        act = min(mb, S[_NDEC] + S[_WN] + S[_SN] + S[_PFN]) + 8
        if S[_ITLN] + 4 * act + S[_FRN] > itl_v.shape[0]:
            nv = np.empty(2 * itl_v.shape[0] + 4 * act + S[_FRN], np.float64)
            nw = np.empty(nv.shape[0], np.int32)
            nv[:S[_ITLN]] = itl_v[:S[_ITLN]]
            nw[:S[_ITLN]] = itl_w[:S[_ITLN]]
            itl_v, itl_w = nv, nw
        if S[_FINN] + 2 * act > fin_h.shape[0]:
            nh = np.empty(2 * fin_h.shape[0] + 2 * act, np.int64)
            nh[:S[_FINN]] = fin_h[:S[_FINN]]
            fin_h = nh
        if S[_FRN] + 2 * act > fr_r.shape[0]:
            nr = np.empty(2 * fr_r.shape[0] + 2 * act, np.int64)
            nt = np.empty(nr.shape[0], np.float64)
            nr[:S[_FRN]] = fr_r[:S[_FRN]]
            nt[:S[_FRN]] = fr_t[:S[_FRN]]
            fr_r, fr_t = nr, nt
        if S[_NREC] - S[_LRUH] + 8 * act > rec.shape[0]:
            old = rec.shape[0]
            nrec = np.empty((2 * old + 8 * act, 5), np.int64)
            for r in range(S[_LRUH], S[_NREC]):
                nrec[r % nrec.shape[0]] = rec[r % old]
            rec = nrec
        S[_PNOW] = 0
        # ---- _reject_impossible
        while S[_WN]:
            rid = waiting[S[_WH]]
            full = _blocks_for(S, np.int64(Q[rid, _P0]) + Q[rid, _OUT])
            too_long = not S[_CPF] and Q[rid, _PR] > S[_MAXTOK]
            if full <= S[_TOTAL] - S[_WM] and not too_long:
                break
            S[_WH] = (S[_WH] + 1) % wcap
            S[_WN] -= 1
            rejected[rid] = True
        # ---- the policy's iteration: plan
        nch = 0
        emits = 0
        d = 0
        decode_only = False
        if not chunked:
            if not S[_SN]:
                tokens = 0
                while S[_WN]:
                    rid = waiting[S[_WH]]
                    if S[_ALAG] and (S[_NDEC] or nch) and (
                            F[_ITS] < arrival_s[rid] <= F[_ITE]):  # Replica._too_late
                        break
                    slots = mb - S[_NDEC] - nch
                    if slots <= 0 or _rsv_blocked(S, Q, rid) or not _can_admit(
                            S, _blocks_for(S, np.int64(Q[rid, _PR]))) or (
                            Q[rid, _PR] > S[_MAXTOK] - tokens):
                        break
                    _admit(S, Q, waiting, wcap, sched_s, now, ch, hx, hc, hn, rec)
                    crid[nch] = rid
                    nch += 1
                    tokens += Q[rid, _PR] - Q[rid, _DONE]
            if nch:
                for i in range(nch):
                    rid = crid[i]
                    cq[i] = Q[rid, _PR] - Q[rid, _DONE]
                    cc[i] = Q[rid, _DONE]
                emits = nch
            else:
                decode_only = True
        # swap-in and decode blocks (continuous: before its decode; chunked: first)
        if decode_only or chunked:
            while S[_SN] and S[_NDEC] < mb:  # _swap_in
                rid = swapped[S[_SH]]
                need_now = cnt[(-S[_IT]) % S[_BS]]
                extra = 1 if Q[rid, _CACHE] % S[_BS] == 0 else 0
                if not _can_admit(S, Q[rid, _BLK] + extra + need_now):
                    break
                S[_SH] = (S[_SH] + 1) % scap
                S[_SN] -= 1
                _take_blocks(S, ch, hx, hc, hn, rec, np.int64(Q[rid, _BLK]))
                F[_EXTRA] += Q[rid, _BLK] * F[_SWAPS]
                _join(S, F, Q, last, cnt, fin_h, vic_h, dl, fr_r, fr_t, rid)
            if decode_only and not S[_NDEC]:
                # nothing to do: wait for the next arrival
                _deliver(S, lag, first_s, finish_s, now)
                if S[_AI] >= n:
                    break
                F[_NOW] = arrivals[S[_AI], 0]
                idle = True
                continue
            if S[_NDEC]:  # _decode_need, with _preempt_for
                need = cnt[(-S[_IT]) % S[_BS]]
                while need > S[_FREE] and S[_NDEC]:
                    S[_PNOW] = 1
                    rid = -_hpop(vic_h, S, np.int64(_VICN))
                    if not Q[rid, _INDEC]:
                        continue
                    if (Q[rid, _BASE] + S[_IT]) % S[_BS] == 0:
                        need -= 1
                    _leave(S, F, Q, last, cnt, dl, fr_r, fr_t, rid)  # _preempt
                    _unreserve(S, Q, rid)
                    _release(S, Q, ch, hx, hc, hn, rec, rid)
                    preempt[rid] += 1
                    if S[_SWAP]:
                        F[_EXTRA] += Q[rid, _BLK] * F[_SWAPS]
                        swapped[(S[_SH] + S[_SN]) % scap] = rid
                        S[_SN] += 1
                    else:
                        Q[rid, _PR] = Q[rid, _P0] + Q[rid, _GEN]
                        Q[rid, _DONE] = 0
                        Q[rid, _CACHE] = 0
                        Q[rid, _BLK] = 0
                        S[_WH] = (S[_WH] - 1) % wcap
                        waiting[S[_WH]] = rid
                        S[_WN] += 1
                _take_blocks(S, ch, hx, hc, hn, rec, need)
        if chunked:
            d = S[_NDEC]
            budget = S[_MAXTOK] - d
            for i in range(S[_PFN]):
                if budget <= 0:
                    break
                rid = pf[i]
                c = min(Q[rid, _PR] - Q[rid, _DONE], budget)
                crid[nch] = rid
                cq[nch] = c
                nch += 1
                budget -= c
            while S[_WN] and budget > 0 and not S[_SN] and not S[_PNOW]:
                rid = waiting[S[_WH]]
                if S[_ALAG] and (S[_NDEC] or S[_PFN] or nch) and (
                        F[_ITS] < arrival_s[rid] <= F[_ITE]):  # Replica._too_late
                    break
                slots = mb - S[_NDEC] - S[_PFN]
                if slots <= 0 or _rsv_blocked(S, Q, rid) or not _can_admit(
                        S, _blocks_for(S, np.int64(Q[rid, _PR]))) or (
                        not S[_CPF] and Q[rid, _PR] > budget):
                    break
                _admit(S, Q, waiting, wcap, sched_s, now, ch, hx, hc, hn, rec)
                pf[S[_PFN]] = rid
                S[_PFN] += 1
                c = min(Q[rid, _PR] - Q[rid, _DONE], budget)
                crid[nch] = rid
                cq[nch] = c
                nch += 1
                budget -= c
            d = S[_NDEC]
            if not nch:
                if not d:
                    _deliver(S, lag, first_s, finish_s, now)
                    if S[_AI] >= n:
                        break
                    F[_NOW] = arrivals[S[_AI], 0]
                    idle = True
                    continue
                decode_only = True
            else:
                for i in range(nch):
                    rid = crid[i]
                    cc[i] = Q[rid, _DONE]
                    if Q[rid, _DONE] + cq[i] == Q[rid, _PR]:
                        emits += 1
        # ---- run the iteration
        if decode_only:  # Replica._decode with _run_bound
            d = S[_NDEC]
            k = 1
            horizon = 0.0
            if not (S[_SN] or S[_PFN] or S[_PNOW]):
                while S[_FINN]:  # stale entries: the top must be the next finish
                    v = fin_h[0]
                    rid = v & 0xFFFFFFFF
                    if Q[rid, _INDEC] and Q[rid, _FIN] == v >> 32:
                        break
                    _hpop(fin_h, S, np.int64(_FINN))
                k = (fin_h[0] >> 32) - S[_IT] if S[_FINN] else 1
                if not S[_WN]:
                    horizon = horizon_inf
                    if S[_AI] < n:
                        horizon = arrivals[S[_AI], 0]
                else:
                    rid = waiting[S[_WH]]
                    tokens = S[_MAXTOK] - (d if chunked else 0)
                    slots = mb - d
                    if tokens > 0 and slots > 0 and not _rsv_blocked(S, Q, rid) and _can_admit(
                            S, _blocks_for(S, np.int64(Q[rid, _PR]))) and (
                            S[_CPF] or Q[rid, _PR] <= tokens):
                        k = 1
                    else:
                        horizon = horizon_inf  # solo: nothing but a finish changes that
            t_from = now
            cur = now
            single = k <= 1
            end = now
            while True:
                if S[_ITLN] + S[_NDEC] + S[_FRN] + 8 > itl_v.shape[0]:
                    nv = np.empty(2 * itl_v.shape[0], np.float64)
                    nw = np.empty(nv.shape[0], np.int32)
                    nv[:S[_ITLN]] = itl_v[:S[_ITLN]]
                    nw[:S[_ITLN]] = itl_w[:S[_ITLN]]
                    itl_v, itl_w = nv, nw
                t, e = _price(hk, hv, S, F, tok, seq, ctxn, cached, chunk, snap, cells,
                              cell_ok, cq, cc, z, z, d, S[_BSUM] + d * (S[_IT] + 1),
                              _held(S, z))
                t += F[_EXTRA]
                F[_EXTRA] = 0.0
                _kv_add(S, F, kv_t, kv_v, cur)
                F[_BUSY] += t
                F[_ENERGY] += e
                end = cur + t
                if single:
                    break
                k -= 1
                need = cnt[(-(S[_IT] + 1)) % S[_BS]]
                if not k or end >= horizon or need > S[_FREE]:
                    break
                _advance(S, F, Q, last, cnt, fin_h, dl, fr_r, fr_t, itl_v, itl_w, ch, hx, hc,
                         hn, rec, first_s, finish_s, lag, end)
                _take_blocks(S, ch, hx, hc, hn, rec, need)
                cur = end
            now = now + t if single else now + (end - now)  # simpy: clock + delay
            F[_NOW] = now
            F[_ITS] = cur  # the last iteration of the run
            F[_ITE] = now
            _advance(S, F, Q, last, cnt, fin_h, dl, fr_r, fr_t, itl_v, itl_w, ch, hx, hc, hn,
                     rec, first_s, finish_s, lag, now)
            continue
        # a step with prefill work (Replica._step), then its commit
        t, e = _price(hk, hv, S, F, tok, seq, ctxn, cached, chunk, snap, cells, cell_ok,
                      cq, cc, nch, emits, d, S[_BSUM] + d * (S[_IT] + 1) if d else 0,
                      _held(S, z if chunked else np.int64(nch)))
        t += F[_EXTRA]
        F[_EXTRA] = 0.0
        _kv_add(S, F, kv_t, kv_v, now)
        F[_BUSY] += t
        F[_ENERGY] += e
        t_from = now
        F[_ITS] = now
        now = now + t
        F[_NOW] = now
        F[_ITE] = now
        _deliver(S, lag, first_s, finish_s, now)
        if chunked and d:
            _advance(S, F, Q, last, cnt, fin_h, dl, fr_r, fr_t, itl_v, itl_w, ch, hx, hc, hn,
                     rec, first_s, finish_s, lag, now)
        for i in range(nch):
            rid = crid[i]
            if chunked:
                Q[rid, _DONE] += cq[i]
                if Q[rid, _DONE] != Q[rid, _PR]:
                    continue
                j = 0
                while pf[j] != rid:
                    j += 1
                for m in range(j, S[_PFN] - 1):
                    pf[m] = pf[m + 1]
                S[_PFN] -= 1
            # Replica._emit
            if Q[rid, _GEN] == 0:
                first_s[rid] = now
                if S[_LAG]:
                    lag[S[_LAGN]] = 2 * rid
                    S[_LAGN] += 1
            else:
                _itl_add(S, itl_v, itl_w, now - last[rid], np.int64(1))
            last[rid] = now
            Q[rid, _GEN] += 1
            Q[rid, _CACHE] = Q[rid, _PR]
            Q[rid, _BLK] = _blocks_for(S, np.int64(Q[rid, _CACHE]))
            Q[rid, _DONE] = 0
            if S[_PREFIX]:
                _register(S, Q, ch, hx, hc, hn, rid, Q[rid, _CACHE])
            if Q[rid, _GEN] >= Q[rid, _OUT]:
                _finish(S, Q, ch, hx, hc, hn, rec, finish_s, lag, rid, now)
            else:
                _join(S, F, Q, last, cnt, fin_h, vic_h, dl, fr_r, fr_t, rid)
    return itl_v, itl_w


# ---- Python side -----------------------------------------------------------------------------
@njit(cache=True)
def arrival_clock(arrival_s):  # type: ignore[no-untyped-def]
    """Per request (the open-loop process's clock at its arrival, the clock when the timeout
    that brought it was scheduled): simpy adds each delay to its clock, and requests due at
    the clock's time arrive in the same step, without a timeout of their own."""
    out = np.empty((arrival_s.shape[0], 2))
    clock = sched = 0.0
    for i in range(arrival_s.shape[0]):
        a = arrival_s[i]
        if a > clock:
            sched = clock
            clock = clock + (a - clock)
        out[i, 0] = clock
        out[i, 1] = sched
    return out


def why_not(spec: Any, cost: object, closed_loop: bool, policy: Any, replicas: int,
            event_log: bool, decode: object) -> str:
    """Why the compiled engine cannot run this simulation ("" when it can)."""
    from infersim.simulator.serving.config import Policy, Router
    from infersim.simulator.serving.replica import pass_steps
    from infersim.simulator.serving.speculative import capped

    if not isinstance(cost, MapperIterationCost):
        return "the iteration cost is not a MapperIterationCost"
    policy = policy.resolved(cost.runtime)  # `auto`: the runtime's own scheduling
    if policy.kind not in (Policy.CONTINUOUS, Policy.CHUNKED):
        return f"policy {policy.kind.value} (continuous and chunked only)"
    router = getattr(policy, "router", None)
    checks = ((replicas != 1 and router != Router.ROUND_ROBIN,
               f"{replicas} replicas behind the {getattr(router, 'value', router)} router "
               "(round_robin only)"),
              (spec.pipeline_stages != 1, "pipeline parallelism (pp > 1)"),
              (policy.spec is not None, "speculative decoding"),
              (pass_steps(cost) > 1, "multi-step scheduling (scheduler_steps > 1)"),
              (capped(spec.kv_groups), "window-capped KV (sliding or chunked attention)"),
              (decode is not None, "a decode pool of its own"),
              (closed_loop, "closed-loop traffic"),
              (event_log, "an event log"),
              (cost.floor_terms is None, "a serving floor of an unknown kind"),
              (max(len(a.nodes) for a in (cost.tok, cost.seq, cost.ctx, cost.cached,
                                          cost.chunk_tok)) >= 4096, "a table axis too long"))
    return next((why for bad, why in checks if bad), "")


def run(spec: Any, cost: MapperIterationCost, table: RequestTable, col: Collector,
        policy: Any, owners: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
        max_context: int | None, clock: np.ndarray | None = None,
        nodes: list[Any] | None = None, kv_capacity: int = _KV_CAPACITY
        ) -> tuple[float, float, Any]:
    """Run the engine (in scope: `why_not` is ""); fills `col` (ITL pairs appended);
    returns (busy s, energy J, the `PrefixKvPool` holding the prefix-cache counters, or None
    without prefix caching). owners: per request (system-prompt owner, its full blocks,
    conversation owner). clock: per request (arrival time, time its arrival was scheduled)
    as `arrival_clock` gives (None: from the table). nodes: [keys, values, count] of a node
    table shared by several runs of one cost (None: one of its own). kv_capacity: the KV
    sampler's size (`BoundedSampler`)."""
    from infersim.simulator.serving.config import Admission, Policy, Preemption
    from infersim.simulator.serving.kv_pool import KvBlockPool, PrefixKvPool
    from infersim.simulator.serving.replica import (
        admission_lag,
        chunked_context,
        output_lag,
        profile_knob,
    )

    n = len(table)
    chunked = policy.kind == Policy.CHUNKED
    mb = max(1, min(min(policy.max_batch, policy.max_tokens) if chunked else policy.max_batch,
                    n))
    bs = policy.block_size
    pool = KvBlockPool(spec.kv_blocks, bs)
    floor = cost.floor_terms
    assert floor is not None
    S = np.zeros(_NS, np.int64)
    F = np.zeros(_NF)
    S[_FREE] = S[_TOTAL] = pool.total
    S[_WM] = pool.watermark
    S[_BS] = bs
    S[_KVSTRIDE] = 1
    S[_PREFIX] = int(policy.prefix_caching)
    S[_SWAP] = int(policy.preemption == Preemption.SWAP)
    S[_CHUNKED] = int(chunked)
    S[_MAXTOK] = policy.max_tokens
    S[_MAXB] = mb
    S[_LAG] = int(output_lag(cost))
    S[_ALAG] = int(admission_lag(cost))
    S[_RSVON] = int(policy.admission == Admission.RESERVE)
    # whole prompts only (chunked_context 0): a prompt joins an iteration whole or waits
    S[_CPF] = int(chunked and chunked_context(cost))
    S[_WALK] = int(profile_knob(cost, "held_request_s", 0.0) > 0.0)
    S[_GPAD] = int(cost.graph_padded)
    S[_DP] = cost.parallel.dp
    F[_ITS] = F[_ITE] = -math.inf
    F[_SWAPS] = bs * spec.kv_bytes_per_token_per_chip / spec.host_link_Bps
    F[_IDLEW] = cost._idle_w
    F[_FCALL], F[_FCHUNK], F[_FEVERY], F[_FOUT], F[_FHELD] = floor  # FrontEndTerms' order
    Q = np.zeros((n, _NQ), np.int32)  # token counts, blocks, owners: < 2^31
    Q[:, _P0] = Q[:, _PR] = table.prompt_tokens
    Q[:, _OUT] = table.output_tokens
    nkeys = 2
    if owners is not None:
        Q[:, _SYSO], Q[:, _SYSF], Q[:, _OWN] = owners
        owners = None  # memory: the caller passes them for this run only
        nkeys = 2 * int(max(Q[:, _OWN].max(initial=0), Q[:, _SYSO].max(initial=0))) + 2
    # per chain key: exists, base, end, first holder, oldest and newest evictable run
    ch = np.zeros((nkeys if policy.prefix_caching else 1, 6), np.int32)
    nh = 4 * mb + 64 if policy.prefix_caching else 1  # ≤ 2 holders per running sequence
    hn = np.arange(1, nh + 1, dtype=np.int64)
    hn[-1] = -1
    if nodes is None:
        nodes = [np.full(NODE_SLOTS, -1, np.int64), np.zeros((NODE_SLOTS, 2)), 0]
    hk, hv, S[_HCOUNT] = nodes
    ctxn = np.asarray(cost.ctx.nodes, np.float64)
    cells = np.zeros((mb + 1, 6))
    cell_ok = np.zeros(mb + 1, np.int8)
    for d, c in cost.decode_cells().items():
        if d <= mb:
            cells[d] = c
            cell_ok[d] = 1
    kv_t, kv_v = np.zeros(kv_capacity), np.zeros(kv_capacity)
    swap_cap = n + 1 if S[_SWAP] else 1
    outer, _ACTIVE.cost = getattr(_ACTIVE, "cost", None), cost
    try:
        itl_v, itl_w = _engine(
            S, F, Q, np.zeros(n), arrival_clock(table.arrival_s) if clock is None else clock,
            col.arrival_s,
            col.scheduled_s, col.first_token_s, col.finish_s, col.preemptions, col.replica,
            col.rejected, -1 if max_context is None else max_context, np.zeros(bs, np.int64),
            np.zeros(n + 1, np.int64), np.zeros(swap_cap, np.int64),
            np.zeros(mb + 2, np.int64), np.zeros(_ROWS, np.int64),
            np.zeros(2 * mb + 200, np.int64), np.zeros(mb + 2, np.int64),
            np.zeros(_ROWS, np.int64), np.zeros(_ROWS), np.zeros(_ITL_PER_REQUEST * n + _ROWS),
            np.zeros(_ITL_PER_REQUEST * n + _ROWS, np.int32), kv_t, kv_v, ch,
            np.zeros(nh, np.int64), np.zeros(nh, np.int64), hn, np.zeros((_ROWS, 5), np.int64),
            hk, hv,
            np.asarray(cost.tok.nodes, np.float64), np.asarray(cost.seq.nodes, np.float64),
            ctxn, np.asarray(cost.cached.nodes, np.float64),
            np.asarray(cost.chunk_tok.nodes, np.float64),
            np.array([cost.tok.tile, cost.tok.snap_above, cost.chunk_tok.tile,
                      cost.chunk_tok.snap_above], np.int64), cells, cell_ok,
            np.zeros(2 * mb + 8, np.int64))
    finally:
        _ACTIVE.cost = outer
    nodes[2] = int(S[_HCOUNT])
    del Q, ch  # memory: before the ITL samples are copied out
    k = int(S[_ITLN])
    col.itl.v.frombytes(memoryview(itl_v[:k]).cast("B"))
    del itl_v
    col.itl.w.frombytes(memoryview(itl_w[:k].astype(np.int64)).cast("B"))
    del itl_w
    m = int(S[_KVLEN])
    col.kv.resume(kv_t[:m].tolist(), kv_v[:m].tolist(), int(S[_KVN]), int(S[_KVSTRIDE]))
    for b in np.flatnonzero(cell_ok).tolist():  # each batch's last decode cell (`_decode_only`)
        lo, hi, t0, dt, e0, de = (float(v) for v in cells[b])
        cost.set_decode_cell(b, (int(lo), int(hi), t0, dt, e0, de))
    px = None
    if policy.prefix_caching:
        px = PrefixKvPool(spec.kv_blocks, bs)
        px.counts = [int(v) for v in S[_CQ0:_CQ3 + 1]]
        px.peak_cached = int(S[_PEAK])
    return float(F[_BUSY]), float(F[_ENERGY]), px
