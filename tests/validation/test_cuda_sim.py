"""numba.cuda kernels under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1): correctness only, at
tiny sizes. The variable is read when numba.cuda is first imported, so each check runs in a
fresh interpreter."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests._support import ROOT


def _run(code: str, timeout: int = 120, extra_env: dict | None = None):
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", **(extra_env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_cuda_kernels_match_numpy_under_the_simulator():
    r = _run("""
        import json, math
        import numpy as np
        from infersim.validation.kernels.cases import Case, Kernel
        from infersim.validation.kernels.cuda import CudaBench, cuda_available
        from infersim.validation.kernels.timing import TimingPolicy
        assert cuda_available()
        cases = [Case(Kernel.EMPTY)] + [Case(kk, "fp64", 40) for kk in
                 (Kernel.COPY, Kernel.SCALE, Kernel.ADD, Kernel.TRIAD, Kernel.SUM, Kernel.VFMA)]
        cases += [Case(Kernel.GEMM, "fp32", n=20, m=5, k=18), Case(Kernel.GEMM, "fp64", n=16, m=16, k=16)]
        b = CudaBench(cases, seed=0)
        out = {}
        for c in cases:
            b.check(c)
            t = b.time(c, TimingPolicy(warmup=1, repeats=1, target_sample_s=1e-6))
            out[c.label] = t.median_s
        print(json.dumps(out))
    """)
    assert r.returncode == 0, r.stderr[-3000:]
    times = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(times) == 9
    assert all(v > 0 for v in times.values())


def test_cuda_checker_catches_a_wrong_kernel_under_the_simulator():
    # Replace the triad by a copy: the values are wrong and the check must say so.
    r = _run("""
        import types
        from infersim.validation.kernels import cuda as kc
        from infersim.validation.kernels.cases import Case, Kernel
        from infersim.validation.kernels.check import KernelCheckError
        case = Case(Kernel.TRIAD, "fp64", 33)
        b = kc.CudaBench([case], seed=0)
        real = kc.kernels()

        class CopyInstead:
            def __getitem__(self, cfg):
                return lambda x, y, z, s: real.copy[cfg](x, z)

        b.k = types.SimpleNamespace(**{**vars(real), "triad": CopyInstead()})
        try:
            b.check(case)
        except KernelCheckError as e:
            print("caught", e)
        else:
            raise SystemExit("wrong kernel passed the check")
    """)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "caught" in r.stdout


def test_numpy_row_stack_alias_only_when_missing():
    r = _run("""
        import numpy as np
        had = hasattr(np, "row_stack")
        orig = getattr(np, "row_stack", None)
        from infersim.validation.kernels.cuda_compat import numpy_compat
        numpy_compat()
        assert hasattr(np, "row_stack")
        if had:
            assert np.row_stack is orig   # an existing function is never replaced
        delattr(np, "row_stack")
        numpy_compat()
        assert np.row_stack is np.vstack
        print("ok")
    """)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.slow
def test_calibrate_cuda_code_path_under_the_simulator(tmp_path):
    # Every step runs (checks, event/host timing, fit, spec writing, strict load); simulator
    # timings are host-Python slow, so the spec is implausible and must be refused: exit 1,
    # one line, nothing written.
    out = tmp_path / "gpu.yaml"
    r = subprocess.run([sys.executable, "-m", "infersim", "calibrate", "--device", "cuda",
                        "--profile", "tiny", "--no-progress", "-o", str(out)], cwd=ROOT,
                       env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1, (r.stdout, r.stderr[-2000:])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("infersim: error: the fitted model is "
                                                   "implausible")
    assert "CUDA simulator" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_calibrate_cuda_without_a_gpu_is_a_one_line_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, "-m", "infersim", "calibrate", "--device", "cuda",
                        "-o", str(tmp_path / "g.yaml")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    probe = subprocess.run([sys.executable, "-c", "from infersim.validation.kernels.cuda import "
                            "cuda_available; print(cuda_available())"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    if probe.stdout.strip() == "True":
        pytest.skip("a CUDA GPU is present on this machine")
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no CUDA GPU" in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_calibrate_cuda_honours_the_time_budget(tmp_path):
    # `--budget` reaches the CUDA measurement as it does the CPU one: under the simulator
    # (host-slow timings) a 1 s budget is overrun at once, so the remaining cases go lean
    r = _run(f"""
        import json
        from pathlib import Path
        from infersim.validation import cuda_calibrate, measure
        from infersim.validation.calibrate_common import CalibrateOptions
        seen = {{}}
        original = measure.measure_kernels
        def spy(bench, cases, policy, progress, budget=None):
            rows = original(bench, cases, policy, progress, budget)
            seen["budget"] = budget
            raise SystemExit(0)
        measure.measure_kernels = spy
        try:
            cuda_calibrate.calibrate_cuda(CalibrateOptions(
                device="cuda", profile="tiny", progress=False,
                out=Path({str(tmp_path / "g.yaml")!r}), budget_s=1.0), None, None)
        except SystemExit:
            pass
        b = seen["budget"]
        print(json.dumps({{"seconds": b.seconds, "lean": b.lean_cases, "n": len(b.skipped)}}))
    """, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["seconds"] == 1.0 and got["lean"] + got["n"] > 0
