"""Measured coverage of the intervals every report prints (``ppo_jax.io.stats``).

    python -m benchmarks.stats_coverage                  # the docs' table (a few minutes)
    python -m benchmarks.stats_coverage --reps 500 --ns 4,8 --methods expanded,newcombe

Draws ``--reps`` samples of n runs from distributions whose population IQM (or P(X > Y)) is
known by hand (normal, lognormal, uniform, bimodal, returns capped at 500 with some runs
failing), computes each method's 95% interval of every sample and prints the share that
contain the population value. IQM methods: the expanded percentile bootstrap the reports use,
the plain percentile bootstrap (what rliable computes for one task), and the Tukey-McLaughlin
trimmed-mean t interval. P(improvement) methods: Newcombe's score interval (used) and the
percentile bootstrap. ``tests/unit/test_stats.py`` asserts the used methods' coverage from their
minimum n on.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from ppo_jax.io.stats import (
    improvement_bounds,
    improvement_point,
    interquartile_mean,
    iqm_bounds,
)

Draw = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def capped(fail: float) -> Draw:
    """Returns capped at 500: 500 with probability ``1 - fail``, else uniform on [0, 300]."""

    def draw(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
        return np.where(rng.random(size) < fail, rng.uniform(0, 300, size), 500.0)

    return draw


def capped_iqm(fail: float) -> float:
    """Population IQM of :func:`capped`: its quantile function is ``Q(u) = 300 u / fail`` for
    ``u < fail``, else 500, and the IQM is ``2 * integral of Q over [0.25, 0.75]``."""
    lo, hi = 0.25, 0.75
    below = min(max(fail, lo), hi)
    part = 300 / fail * (below**2 - lo**2) / 2 if fail > lo else 0.0
    return 2 * (part + 500 * (hi - below))


def lognormal_iqm() -> float:
    """Population IQM of ``exp(Z)``: ``E[X; q25 < X < q75] / 0.5`` =
    ``e^(1/2) (Phi(z75 - 1) - Phi(z25 - 1)) / 0.5``."""
    z25, z75 = norm.ppf(0.25), norm.ppf(0.75)
    return math.exp(0.5) * (norm.cdf(z75 - 1) - norm.cdf(z25 - 1)) / 0.5


def bimodal(rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    """Half N(0, 1), half N(5, 1): symmetric about 2.5, its IQM."""
    return np.where(rng.random(size) < 0.5, rng.normal(0, 1, size), rng.normal(5, 1, size))


DISTRIBUTIONS: dict[str, tuple[Draw, float]] = {
    "normal": (lambda rng, size: rng.normal(0.0, 1.0, size), 0.0),
    "lognormal": (lambda rng, size: rng.lognormal(0.0, 1.0, size), lognormal_iqm()),
    "uniform": (lambda rng, size: rng.uniform(0.0, 1.0, size), 0.5),
    "bimodal": (bimodal, 2.5),
    "capped 500, 20% fail": (capped(0.2), capped_iqm(0.2)),
    "capped 500, 30% fail": (capped(0.3), capped_iqm(0.3)),
}
"""name -> (draw(rng, size), population IQM)."""


def capped_improvement(fail_x: float, fail_y: float) -> float:
    """P(X > Y) + P(X = Y) / 2 of two :func:`capped` distributions: both at 500 is a tie
    (half), X at 500 and Y failed a win, both failed a coin flip (continuous)."""
    return 0.5 * (1 - fail_x) * (1 - fail_y) + (1 - fail_x) * fail_y + 0.5 * fail_x * fail_y


def _normal_pair(shift: float) -> tuple[Draw, Draw, float]:
    return (
        lambda rng, size: rng.normal(shift, 1.0, size),
        lambda rng, size: rng.normal(0.0, 1.0, size),
        float(norm.cdf(shift / math.sqrt(2))),  # X - Y ~ N(shift, 2)
    )


PAIRS: dict[str, tuple[Draw, Draw, float]] = {
    "normal, no difference": _normal_pair(0.0),
    "normal, 1 sd apart": _normal_pair(1.0),
    "normal, 3 sd apart": _normal_pair(3.0),
    "capped, 10% vs 40% fail": (capped(0.1), capped(0.4), capped_improvement(0.1, 0.4)),
    "capped, 30% vs 30% fail": (capped(0.3), capped(0.3), capped_improvement(0.3, 0.3)),
}
"""name -> (draw X, draw Y, P(X > Y) + P(X = Y) / 2)."""


def percentile_bounds(
    samples: np.ndarray, boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The plain percentile bootstrap of the IQM (rliable's, for one task)."""
    n = samples.shape[-1]
    idx = rng.integers(0, n, size=(boot, n))
    flat = samples.reshape(-1, n)
    chunk = max(1, 2**24 // (boot * n))
    values = np.concatenate(
        [interquartile_mean(flat[i : i + chunk][:, idx]) for i in range(0, len(flat), chunk)]
    )
    low, high = np.quantile(values, [0.025, 0.975], axis=-1)
    return low, high


def tukey_mclaughlin_bounds(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 25%-trimmed mean's t interval with the winsorised variance (Tukey and McLaughlin
    1963; Wilcox): ``se = sqrt((n - 1) s_w^2 / (h (h - 1)))``, ``h - 1`` degrees of freedom."""
    n = samples.shape[-1]
    cut = n // 4
    h = n - 2 * cut
    s = np.sort(samples, axis=-1)
    point = s[..., cut : n - cut].mean(axis=-1)
    wins = np.clip(s, s[..., cut : cut + 1], s[..., n - 1 - cut : n - cut])
    se = np.sqrt((n - 1) * wins.var(axis=-1, ddof=1) / (h * (h - 1)))
    q = student_t.ppf(0.975, h - 1)
    return point - q * se, point + q * se


def bootstrap_improvement_bounds(
    x: np.ndarray, y: np.ndarray, boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """rliable's percentile bootstrap of P(X > Y): runs of X and of Y resampled apart."""
    m, n = x.shape[-1], y.shape[-1]
    ix, iy = rng.integers(0, m, (boot, m)), rng.integers(0, n, (boot, n))
    values = np.stack([improvement_point(a[ix], b[iy]) for a, b in zip(x, y, strict=True)])
    low, high = np.quantile(values, [0.025, 0.975], axis=-1)
    return low, high


def iqm_coverage(name: str, n: int, reps: int, boot: int, method: str, seed: int = 0) -> float:
    """Share of ``reps`` intervals of ``method`` (``expanded``, ``percentile``, ``tm``) from
    ``n`` runs of ``DISTRIBUTIONS[name]`` that contain its population IQM."""
    draw, true = DISTRIBUTIONS[name]
    rng = np.random.default_rng(seed)
    samples = draw(rng, (reps, n))
    if method == "expanded":
        _, low, high = iqm_bounds(samples, reps=boot, rng=rng)
    elif method == "percentile":
        low, high = percentile_bounds(samples, boot, rng)
    elif method == "tm":
        low, high = tukey_mclaughlin_bounds(samples)
    else:
        raise ValueError(f"unknown IQM method {method!r}")
    return float(np.mean((low <= true) & (true <= high)))


def improvement_coverage(
    name: str, n: int, reps: int, method: str = "newcombe", boot: int = 1000, seed: int = 0
) -> float:
    """Share of ``reps`` intervals of ``method`` (``newcombe``, ``pbootstrap``) of P(X > Y)
    from ``n`` runs of each of ``PAIRS[name]`` that contain its true value."""
    draw_x, draw_y, true = PAIRS[name]
    rng = np.random.default_rng(seed)
    x, y = draw_x(rng, (reps, n)), draw_y(rng, (reps, n))
    if method == "newcombe":
        low, high = improvement_bounds(improvement_point(x, y), n, n)
    elif method == "pbootstrap":
        low, high = bootstrap_improvement_bounds(x, y, boot, rng)
    else:
        raise ValueError(f"unknown improvement method {method!r}")
    return float(np.mean((low <= true + 1e-12) & (true - 1e-12 <= high)))


IQM_METHODS = {
    "expanded": "expanded percentile bootstrap (used)",
    "percentile": "percentile bootstrap (rliable)",
    "tm": "Tukey-McLaughlin t",
}
IMPROVEMENT_METHODS = {
    "newcombe": "Newcombe score interval (used)",
    "pbootstrap": "percentile bootstrap (rliable)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ns", default="2,3,4,5,6,8,12,16,32,64", help="runs per sample")
    parser.add_argument("--reps", type=int, default=2000, help="samples per cell (2000)")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap resamples (1000)")
    parser.add_argument("--methods", default="expanded,percentile,tm,newcombe,pbootstrap")
    parser.add_argument(
        "--max-boot-n", type=int, default=16, help="largest n of the P(X > Y) bootstrap (16)"
    )
    args = parser.parse_args(argv)
    ns = [int(v) for v in args.ns.split(",")]
    methods = args.methods.split(",")
    head = "| statistic, method | distribution | " + " | ".join(f"n={n}" for n in ns) + " |"
    print(f"coverage of 95% intervals, {args.reps} samples per cell\n")
    print(head + "\n|" + "---|" * (len(ns) + 2))
    for method in (m for m in methods if m in IQM_METHODS):
        for name in DISTRIBUTIONS:
            cells = [
                f"{iqm_coverage(name, n, args.reps, args.boot, method, seed=n):.3f}" for n in ns
            ]
            print(f"| IQM, {IQM_METHODS[method]} | {name} | " + " | ".join(cells) + " |")
    for method in (m for m in methods if m in IMPROVEMENT_METHODS):
        for name in PAIRS:
            cells = [
                f"{improvement_coverage(name, n, args.reps, method, args.boot, seed=n):.3f}"
                if method == "newcombe" or n <= args.max_boot_n
                else "-"
                for n in ns
            ]
            label = IMPROVEMENT_METHODS[method]
            print(f"| P(X > Y), {label} | {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
