#!/usr/bin/env bash
# One GPU-machine session, prepared to run unattended inside a short lease: the operator,
# end-to-end and GEMM-sweep measurements of measure_gpu.py, then infersim's own numba.cuda
# calibration (`infersim calibrate --device cuda`). Each step has its own time limit and saves
# as it goes, so a step cut short keeps what it measured. Results under $OUT:
#   full/gpu_ops.csv, full/environment.json    measure_gpu.py (overhead, elementwise, gemm,
#                                              attention, flush_probe, e2e, moe)
#   sweep/gpu_ops.csv                          measure_gpu.py --gemm-sweep
#   cal/<name>.yaml, cal/<name>.csv            the calibrated spec and its measurement file
#   census/kernel_census.csv                   kernel_census.py: the kernels of eager steps
#   power/phases.csv, power/power_states.csv   power_states.py: Llama-3.1-8B steps back to
#                                              back, with SM clock and power every 100 ms
#   power/sustained_gemm.csv                   sustained_gemm.py: bf16 / fp8 GEMMs back to
#                                              back for 3 s each, TFLOP/s, clock, power
#   clocks.csv                                 SM clock, power, temperature every 100 ms
#                                              during a sustained bf16 GEMM
#   log.txt                                    nvidia-smi, host CPU, versions, the sustained
#                                              GEMM's TFLOP/s over time, every step's output
# Then copy them to validation/data/gpu/<device>-<date>/ (validation/data/gpu/README.md).
#
#   OUT=/tmp/g bash validation/gpu/device_session.sh   # ~3-5 min on one H200 (2026-12-04)
# CAL=0 skips the calibration step. Optional: wheels of packages the machine lacks (simpy) in .whl/ (device README).
set -u
OUT=$(realpath -m "${OUT:-gpu_session}")
REPO=$(pwd)
mkdir -p "$OUT/full" "$OUT/sweep" "$OUT/cal" "$OUT/census" "$OUT/power"
export PYTHONUNBUFFERED=1
LOG="$OUT/log.txt"
step() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }
step "machine"
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu --format=csv
  python3 -c "import torch, numpy, numba; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__, 'numba', numba.__version__)"
  grep -m1 "model name" /proc/cpuinfo; echo "cpus $(nproc)"
} >>"$LOG" 2>&1
step "measure_gpu.py (full)"
timeout "${FULL_S:-320}" python3 validation/gpu/measure_gpu.py --out "$OUT/full" 2>&1 \
  | grep -v '^USDT' >>"$LOG"
step "measure_gpu.py --gemm-sweep"
timeout "${SWEEP_S:-150}" python3 validation/gpu/measure_gpu.py --gemm-sweep --out "$OUT/sweep" 2>&1 \
  | grep -v '^USDT' >>"$LOG"
step "sustained bf16 GEMM (8192^3 back to back for ${SUSTAIN_S:-6} s; clocks sampled every 100 ms)"
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv \
  -lms 100 >"$OUT/clocks.csv" 2>&1 &
SMI=$!
SUSTAIN_S=${SUSTAIN_S:-6} python3 - >>"$LOG" 2>&1 <<'PY'
import os, time
import torch
n = 8192
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn_like(a)
torch.cuda.synchronize()
t0 = time.time()
print("t_s,tflops (20 products per sample, CUDA events)")
while time.time() - t0 < float(os.environ["SUSTAIN_S"]):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(20):
        c = a @ b
    e.record()
    e.synchronize()
    print(f"{time.time() - t0:.3f},{2 * n**3 * 20 / (s.elapsed_time(e) * 1e-3) / 1e12:.1f}")
PY
sleep 1; kill $SMI 2>/dev/null
step "kernel_census.py"
timeout "${CENSUS_S:-120}" python3 validation/gpu/kernel_census.py --out "$OUT/census" 2>&1 \
  | grep -v '^USDT' >>"$LOG"
step "power_states.py"
timeout "${POWER_S:-60}" python3 validation/gpu/power_states.py --out "$OUT/power" >>"$LOG" 2>&1
step "sustained_gemm.py"
timeout "${GEMMS_S:-120}" python3 validation/gpu/sustained_gemm.py --out "$OUT/power" >>"$LOG" 2>&1
if [ "${CAL:-1}" = 0 ]; then  # CAL=0: skip the numba.cuda calibration (a session that has one)
  rm -f "$OUT/sweep/environment.json"; step "done"; ls -l "$OUT"/* >>"$LOG" 2>&1; exit 0
fi
step "infersim calibrate --device cuda"
SITE=/tmp/infersim-site
mkdir -p /tmp/np-shim
# numba-cuda on numpy >= 2.4 still calls np.row_stack: alias it before numba loads
echo 'import numpy as np; np.row_stack = getattr(np, "row_stack", np.vstack)' \
  >/tmp/np-shim/sitecustomize.py
{ if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl
  fi
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir \
    --target "$SITE" "$REPO"
  cd /tmp && PYTHONPATH="/tmp/np-shim:$SITE" timeout "${CAL_S:-150}" python3 -m infersim calibrate \
    --device cuda --profile quick --budget "${CAL_BUDGET_S:-60}" -o "$OUT/cal/numba-cuda.yaml"
} >>"$LOG" 2>&1
rm -f "$OUT/sweep/environment.json"  # the machine of full/environment.json; keeps $OUT at 8 files
step "done"
ls -l "$OUT"/* >>"$LOG" 2>&1
