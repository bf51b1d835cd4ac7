"""Least-squares lines and Student-t quantiles: the statistics behind projections.

:func:`fit` draws the ordinary least-squares line through points ``(x, y)``;
:meth:`Fit.predict` gives the line's value at ``x`` with a **prediction interval**: the range
in which a new observation at ``x`` falls with probability ``confidence`` if the trend is a
straight line with independent, normally distributed noise:

    y(x) +- t(n - 2, (1 + confidence) / 2) * s * sqrt(1 + 1/n + (x - mean_x)^2 / Sxx)

where ``s`` is the residuals' standard deviation (n - 2 degrees of freedom) and ``Sxx`` the
sum of squared deviations of x. The band widens with few points, with noisy points, and the
further ``x`` lies from the data: an honest "we don't know yet". Student-t quantiles come
from the regularised incomplete beta function (continued fraction) inverted by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rules.errors import RulesError


@dataclass(frozen=True, slots=True)
class Fit:
    """A least-squares line ``y = intercept + slope * x`` through ``n`` points."""

    slope: float
    intercept: float
    n: int
    mean_x: float
    sxx: float
    residual_sd: float

    def value(self, x: float) -> float:
        return self.intercept + self.slope * x

    def predict(self, x: float, confidence: float) -> tuple[float, float, float]:
        """``(low, value, high)`` at ``x``: the line and its prediction interval."""
        if not 0.0 < confidence < 1.0:
            raise RulesError(f"a confidence is between 0 and 1 excluded, not {confidence}")
        centre = self.value(x)
        spread = self.residual_sd * math.sqrt(
            1.0 + 1.0 / self.n + (x - self.mean_x) ** 2 / self.sxx
        )
        half = t_quantile((1.0 + confidence) / 2.0, self.n - 2) * spread
        return centre - half, centre, centre + half


def fit(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """The least-squares line through the points; needs 3 points and 2 distinct x."""
    n = len(xs)
    if n != len(ys):
        raise RulesError(f"{n} x values for {len(ys)} y values")
    if n < 3:
        raise RulesError(f"a trend with a band needs at least 3 points, got {n}")
    mean_x = math.fsum(xs) / n
    mean_y = math.fsum(ys) / n
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        raise RulesError("a trend needs points at two different dates at least")
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    sse = math.fsum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return Fit(slope, intercept, n, mean_x, sxx, math.sqrt(sse / (n - 2)))


def t_quantile(p: float, dof: int) -> float:
    """The ``p`` quantile of Student's t with ``dof`` degrees of freedom (dof >= 1)."""
    if dof < 1:
        raise RulesError(f"Student's t needs at least one degree of freedom, not {dof}")
    if not 0.0 < p < 1.0:
        raise RulesError(f"a quantile's probability is between 0 and 1 excluded, not {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, dof)
    low, high = 0.0, 1.0
    while t_cdf(high, dof) < p:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if t_cdf(mid, dof) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2.0


def t_cdf(t: float, dof: int) -> float:
    """P(T <= t) for Student's t with ``dof`` degrees of freedom."""
    x = dof / (dof + t * t)
    tail = 0.5 * _incomplete_beta(dof / 2.0, 0.5, x)
    return 1.0 - tail if t >= 0 else tail


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result
