"""Send/recv in NCCL's P2P-read mode (A100 over NVLink): the sender copies into a FIFO in its
own HBM and finishes once all but the FIFO has been read by its peer; the receiver finishes
with the transfer. Hand calculations and knob directions."""

from __future__ import annotations

import pytest

from infersim.hwmodels import CostContext, cost_model, load_hardware
from infersim.hwmodels.cost import Runtime
from infersim.validation.datasets.vidur import with_gpu
from infersim.workloads import ops as O

MiB = 1 << 20
CTX = CostContext(runtime=Runtime.EAGER)


def _times(hw, nbytes: float) -> tuple[float, float]:
    """(receiver = op time, sender) seconds of a 2-GPU fp16 send/recv of `nbytes`."""
    oc = cost_model(hw).op_cost(O.collective("send_recv", float(nbytes), 2, "fp16"), hw, CTX)
    return oc.time_s, float(dict(oc.detail)["sender_s"])


def test_a100_sender_by_hand() -> None:
    """A100 SXM: 12 NVLink3 links x 25 GB/s per direction = 300 GB/s, at link_efficiency;
    one p2p hop. Past the copy-bound sizes the sender finishes (bytes - 4 MiB) at the link
    rate after the call and hop latencies; the receiver after all the bytes."""
    hw = load_hardware("a100-sxm-80gb")
    p = hw.chip.params
    ic = hw.chip.interconnect
    assert p.p2p_read_fifo_bytes == 4 * MiB
    bw = 12 * 25e9 * p.link_efficiency
    fixed = p.collective_latency_s + ic.latency_s + p.kernel_launch_s
    m = 32 * MiB
    recv, send = _times(hw, m)
    assert recv == pytest.approx(fixed + m / bw, rel=1e-6)
    assert send == pytest.approx(fixed + (m - 4 * MiB) / bw, rel=1e-6)
    # a message inside the FIFO: only the local copy (read + write at p2p_copy_efficiency)
    small = 2 * MiB
    _, send_small = _times(hw, small)
    copy = 2 * small / (hw.chip.main_memory.bandwidth_Bps * p.p2p_copy_efficiency)
    assert send_small == pytest.approx(fixed + copy, rel=1e-6)


def test_p2p_write_sender_finishes_with_the_transfer() -> None:
    hw = load_hardware("h100-sxm")
    assert hw.chip.params.p2p_read_fifo_bytes == 0.0
    for m in (64 * 1024, 8 * MiB, 64 * MiB):
        recv, send = _times(hw, m)
        assert send == pytest.approx(recv, rel=1e-12)


@pytest.mark.parametrize("nbytes", [2 * MiB, 16 * MiB, 64 * MiB])
def test_p2p_knobs_move_the_sender_in_their_physical_direction(nbytes: int) -> None:
    """A deeper FIFO or a faster local copy never slows the sender and never changes the
    receiver; P2P write (FIFO 0) is the slowest sender; the sender is never slower than the
    receiver."""
    hw = load_hardware("a100-sxm-80gb")
    recv, send = _times(hw, nbytes)
    assert send <= recv
    deep_r, deep_s = _times(with_gpu(hw, p2p_read_fifo_bytes=16 * MiB), nbytes)
    fast_r, fast_s = _times(with_gpu(hw, p2p_copy_efficiency=0.9), nbytes)
    write_r, write_s = _times(with_gpu(hw, p2p_read_fifo_bytes=0.0), nbytes)
    assert deep_s <= send and fast_s <= send and write_s >= send
    assert deep_r == recv == fast_r == write_r
    assert write_s == pytest.approx(recv)
    # each knob moves the sender where it is the binding term
    if nbytes <= 4 * MiB:
        assert fast_s < send
    else:
        assert deep_s < send and write_s > send
