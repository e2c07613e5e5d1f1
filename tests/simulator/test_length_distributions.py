"""Request-length distributions: sample moments against analytic values, fits, CLI flags."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from infersim.cli import main
from infersim.foundation.errors import InputError
from infersim.simulator.serving import (
    Lognormal,
    Poisson,
    SampledLengths,
    Traffic,
    Uniform,
    Zipf,
)
from infersim.simulator.serving.traffic import generate

N = 200_000


def _draw(prompt, output=Uniform(1, 1), n=N, seed=3):  # noqa: B008
    t = generate(Traffic(Poisson(1.0), SampledLengths(prompt, output), n),
                 np.random.default_rng(seed))
    return t.prompt_tokens, t.output_tokens


def test_uniform_mean_and_variance():
    p, _ = _draw(Uniform(100, 300))
    # discrete uniform on [a, b]: mean (a+b)/2, variance ((b−a+1)² − 1)/12
    assert p.min() == 100 and p.max() == 300
    assert p.mean() == pytest.approx(200, rel=0.003)
    assert p.var() == pytest.approx((201 ** 2 - 1) / 12, rel=0.02)


def test_lognormal_median_mean_and_sigma():
    d = Lognormal.from_mean(1000, 0.8, low=1, high=10 ** 6)
    p, _ = _draw(d)
    assert d.median == pytest.approx(1000 * math.exp(-0.32))
    assert np.median(p) == pytest.approx(d.median, rel=0.01)
    assert p.mean() == pytest.approx(1000, rel=0.015)  # median · e^{σ²/2}
    assert np.log(p).std() == pytest.approx(0.8, rel=0.01)


def test_lognormal_clip_mass_sits_on_the_bounds():
    d = Lognormal(500, 1.0, low=200, high=1000)
    p, _ = _draw(d)
    assert p.min() == 200 and p.max() == 1000
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    # P(rint(X) ≥ 1000) = P(X ≥ 999.5); P(rint(X) ≤ 200) = P(X < 200.5)
    assert np.mean(p == 1000) == pytest.approx(1 - phi(math.log(999.5 / 500)), abs=0.004)
    assert np.mean(p == 200) == pytest.approx(phi(math.log(200.5 / 500)), abs=0.004)


def test_zipf_moments_match_the_normalized_law():
    d = Zipf(1.5, 16, 4096)
    p, _ = _draw(d)
    k = np.arange(16, 4097, dtype=float)
    w = k ** -1.5
    w /= w.sum()
    mean = float((k * w).sum())
    assert p.min() >= 16 and p.max() <= 4096
    assert p.mean() == pytest.approx(mean, rel=0.02)
    assert np.mean(p == 16) == pytest.approx(w[0], abs=0.003)


def test_fit_recovers_a_lognormal_from_its_own_statistics():
    mu, sig = math.log(600.0), 0.9
    mean, p50, p90 = math.exp(mu + sig * sig / 2), math.exp(mu), math.exp(mu + 1.2815516 * sig)
    d = Lognormal.fit(mean, p50, p90, 8192)
    assert d.median == pytest.approx(600.0, rel=1e-4)
    assert d.sigma == pytest.approx(0.9, rel=1e-4)
    assert d.high == 8192
    # from samples of that law: statistics of the fitted law's samples agree
    rng = np.random.default_rng(0)
    x = np.exp(rng.normal(mu, sig, N))
    f = Lognormal.fit(float(x.mean()), float(np.median(x)), float(np.percentile(x, 90)), 10 ** 6)
    assert f.sigma == pytest.approx(sig, rel=0.02) and f.median == pytest.approx(600, rel=0.02)


def test_deterministic_for_a_seed_and_validated():
    a = _draw(Lognormal(300, 0.5), Zipf(1.2, 1, 2000), n=1000, seed=5)
    b = _draw(Lognormal(300, 0.5), Zipf(1.2, 1, 2000), n=1000, seed=5)
    c = _draw(Lognormal(300, 0.5), Zipf(1.2, 1, 2000), n=1000, seed=6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    for bad in (Uniform(10, 5), Lognormal(100, -1), Lognormal(0, 1), Zipf(0, 1, 10),
                Zipf(1.1, 0, 10), Uniform(1, 1 << 30), Zipf(1.1, 1, 1 << 22)):
        with pytest.raises(InputError):
            SampledLengths(bad, Uniform(1, 2))
    with pytest.raises(InputError):
        Lognormal.fit(100, 200, 150, 1000)  # p90 < p50


SMALL = ["serve", "--model", "llama-3.2-1b", "--hw", "h100-sxm", "--rate", "4",
         "--requests", "40", "--json"]


def test_cli_lognormal_and_stats_run(capsys):
    assert main([*SMALL, "--lengths", "lognormal", "--prompt", "200", "--prompt-sigma", "0.8",
                 "--prompt-max", "1000", "--output", "20", "--output-sigma", "0.5"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["completed"] == 40
    assert main([*SMALL, "--lengths", "stats", "--prompt-stats", "300,200,700,4096",
                 "--output-stats", "30,20,60,200"]) == 0
    assert json.loads(capsys.readouterr().out)["completed"] == 40


@pytest.mark.parametrize(("extra", "needle"), [
    (["--lengths", "uniform", "--prompt-min", "10"], "needs --prompt-max"),
    (["--lengths", "zipf", "--prompt-sigma", "1"], "--prompt-sigma is not used"),
    (["--lengths", "lognormal", "--prompt-sigma", "-1", "--output-sigma", "1"],
     "prompt.sigma"),
    (["--lengths", "stats", "--prompt-stats", "1,2,x,4", "--output-stats", "1,1,1,1"],
     "--prompt-stats"),
    (["--lengths", "uniform", "--prompt-min", "9", "--prompt-max", "3", "--output-min", "1",
      "--output-max", "2"], "must be ≥ low"),
])
def test_cli_length_errors_are_one_line(capsys, extra, needle):
    assert main([*SMALL, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
