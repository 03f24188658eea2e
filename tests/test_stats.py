"""Unit tests of tasks/common/stats.py on known inputs."""
import math

import numpy as np
import pytest

from tasks.common.stats import bootstrap_ci, interp_threshold_log2, mean_se, ols_slope, spearman, wilson


def test_wilson_known_values():
    # 8/10, z=1.96: classic textbook interval (0.4902, 0.9433)
    p, lo, hi = wilson(8, 10)
    assert p == pytest.approx(0.8)
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)
    # k = 0 and k = n stay inside [0, 1] and are not degenerate
    _, lo0, hi0 = wilson(0, 20)
    assert lo0 == 0.0 and 0.0 < hi0 < 0.2
    _, lo1, hi1 = wilson(20, 20)
    assert hi1 == 1.0 and 0.8 < lo1 < 1.0


def test_wilson_vectorised_and_empty():
    p, lo, hi = wilson(np.array([0, 5, 10]), np.array([10, 10, 10]))
    assert p.shape == lo.shape == hi.shape == (3,)
    assert (lo <= p).all() and (p <= hi).all()
    assert lo[1] == pytest.approx(1 - hi[1])  # symmetric around 1/2
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_mean_se():
    m, se = mean_se([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5
    assert se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert math.isnan(mean_se([1.0])[1])


def test_ols_slope_and_spearman():
    x = np.arange(10.0)
    assert ols_slope(x, 3 * x + 1) == pytest.approx(3.0)
    assert ols_slope(np.log2([64, 128, 256, 512]), np.log2([16, 32, 64, 128])) == pytest.approx(1.0)
    assert math.isnan(ols_slope([1, 1, 1], [1, 2, 3]))
    assert spearman(x, x ** 3) == pytest.approx(1.0)
    assert spearman(x, -np.exp(x)) == pytest.approx(-1.0)
    assert math.isnan(spearman(x, np.ones(10)))


def test_bootstrap_ci_covers_mean_and_is_deterministic():
    rng = np.random.default_rng(0)
    a = rng.normal(5.0, 1.0, size=400)
    lo, hi = bootstrap_ci(np.mean, a, n_boot=500, seed=1)
    assert lo < 5.0 < hi
    assert hi - lo == pytest.approx(2 * 1.96 / 20, rel=0.25)  # ~ 2 z sigma / sqrt(n)
    assert (lo, hi) == bootstrap_ci(np.mean, a, n_boot=500, seed=1)


def test_bootstrap_ci_resamples_rows_jointly():
    x = np.arange(50.0)
    # paired arrays: the slope of y = 2 x is 2 in every joint resample (with >= 2 distinct x)
    lo, hi = bootstrap_ci(ols_slope, x, 2 * x, n_boot=200)
    assert lo == pytest.approx(2.0) and hi == pytest.approx(2.0)
    assert all(math.isnan(v) for v in bootstrap_ci(lambda a: float("nan"), x, n_boot=10))


def test_interp_threshold_log2():
    ns = [4, 8, 16, 32]
    # halfway in value between 8 (0.2) and 16 (0.1) -> halfway in log2 N -> 8 * sqrt(2)
    assert interp_threshold_log2(ns, [0.4, 0.2, 0.1, 0.05], 0.15) == pytest.approx(8 * math.sqrt(2))
    assert interp_threshold_log2(ns, [0.4, 0.2, 0.1, 0.05], 0.1) == pytest.approx(16.0)
    assert interp_threshold_log2(ns, [0.01, 0.2, 0.1, 0.05], 0.15) == 4.0  # already below
    assert math.isnan(interp_threshold_log2(ns, [0.4, 0.3, 0.2, 0.16], 0.15))  # never reached
    # unsorted grid is sorted first; a first crossing after a non-monotone bump is still the first
    assert interp_threshold_log2([16, 4, 8], [0.1, 0.4, 0.2], 0.2) == pytest.approx(8.0)
    assert interp_threshold_log2([4, 8], [float("inf"), 0.0], 0.5) == 8.0
