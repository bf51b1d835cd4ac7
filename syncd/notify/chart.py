"""One small PNG per KR for the digest's thread: where it is against where it should be.

The chart shows, over the KR's period: the daily values (solid), the expected trajectory
from the baseline to the target in force (dashed; it bends at a revision), the target (and
the original one when it was revised), a marker for today, and the projection to the end of
the period with its band when there is one. Dates and values are written the team's way
(:class:`~syncd.notify.locale.Locale`).

matplotlib is imported inside :func:`render_chart` (importing it costs ~150 ms that the
alert path never pays), with the Agg canvas on a bare :class:`matplotlib.figure.Figure`: no
pyplot, no global figure registry, no rcParams changed. A daemon renders in a child process
that exits after each report (:func:`isolate`, :func:`worker`): matplotlib never stays in
its memory. The PNG carries no software or date
metadata, so the same data gives the same bytes.
"""

from __future__ import annotations

import io
import math
import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from rules import catalog
from rules.metric import Unit
from rules.pace import Projection
from rules.periods import local_day
from rules.targets import expected_value
from syncd.evaluate import KrResult
from syncd.notify.blocks import ChartFile
from syncd.notify.locale import Locale

_ACTUAL = "#1f5fa8"
_EXPECTED = "#7a7a7a"
_TARGET = "#2e8b57"
_ORIGINAL = "#b0b0b0"
_PROJECTION = "#e0892b"
_TODAY = "#c0392b"


@dataclass(frozen=True, slots=True)
class ChartData:
    """What one KR chart draws (all values in the metric's unit)."""

    title: str
    unit: Unit
    start: date
    end: date
    today: date
    actual: tuple[tuple[date, float], ...]
    expected: tuple[tuple[date, float], ...]
    target: float
    original_target: float | None = None
    #: (day, value, low, high) at the end of the period
    projection: tuple[date, float, float, float] | None = None
    confidence: float = 0.8


def chart_data(result: KrResult) -> ChartData | None:
    """The chart of ``result``, or None when it has no evaluation (no value, no baseline)."""
    e = result.evaluation
    if e is None or result.baseline is None:
        return None
    goal = result.goal
    spec = goal.spec(result.baseline)
    period = goal.period
    today = min(max(local_day(e.at), period.start), period.end)
    days = [period.start - timedelta(days=1)]
    days += [period.start + timedelta(days=n) for n in range(period.days)]
    expected = tuple((d, expected_value(spec, max(d, period.start))) for d in days)
    expected = ((period.start, result.baseline), *expected[1:])
    projection = None
    p = e.projection
    if isinstance(p, Projection):
        projection = (p.at, p.value, p.low, p.high)
    original = e.original_target if e.original_target != e.target else None
    series = tuple((pt[0], pt[1]) for pt in result.series if pt[0] in period)
    return ChartData(
        title=goal.config.name or goal.id,
        unit=catalog.get(goal.config.metric).unit,
        start=period.start, end=period.end, today=today,
        actual=series, expected=expected, target=e.target, original_target=original,
        projection=projection,
        confidence=p.confidence if isinstance(p, Projection) else 0.8,
    )


def render_chart(data: ChartData, loc: Locale, *, width: float = 6.4, height: float = 3.2,
                 dpi: int = 100) -> bytes:
    """``data`` drawn as a PNG (``width`` x ``height`` inches at ``dpi``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(width, height), dpi=dpi)
    fig.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.1)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()

    def x(day: date) -> float:
        return float((day - data.start).days + 1)

    span = x(data.end)
    values: list[float] = [data.target]
    if data.expected:
        xs, ys = zip(*((x(d), v) for d, v in data.expected), strict=True)
        ax.plot(xs, ys, linestyle="--", linewidth=1.2, color=_EXPECTED,
                label=loc.say("trajectoire attendue", "expected path"))
        values += ys
    ax.axhline(data.target, color=_TARGET, linewidth=1.2,
               label=loc.say("cible", "target") + f" {loc.value(data.target, data.unit)}")
    if data.original_target is not None:
        ax.axhline(data.original_target, color=_ORIGINAL, linewidth=1, linestyle=":",
                   label=loc.say("cible initiale", "original target")
                   + f" {loc.value(data.original_target, data.unit)}")
        values.append(data.original_target)
    if data.actual:
        xs, ys = zip(*((x(d), v) for d, v in sorted(data.actual)), strict=True)
        ax.plot(xs, ys, linewidth=2, color=_ACTUAL, marker="o" if len(xs) < 3 else None,
                markersize=3, label=loc.say("réel", "actual"))
        values += ys
    if data.projection is not None and data.actual:
        last_day, last = max(data.actual)
        at, value, low, high = data.projection
        ax.plot([x(last_day), x(at)], [last, value], color=_PROJECTION, linewidth=1.2,
                linestyle="-.", label=loc.say("projection", "projection")
                + f" ({loc.percent(data.confidence, 0)})")
        ax.fill_between([x(last_day), x(at)], [last, low], [last, high], color=_PROJECTION,
                        alpha=0.18, linewidth=0)
        values += [low, high]
    ax.axvline(x(data.today), color=_TODAY, linewidth=1, alpha=0.8,
               label=loc.say("aujourd'hui", "today"))

    finite = [v for v in values if math.isfinite(v)]
    low_v, high_v = min(finite), max(finite)
    pad = (high_v - low_v) * 0.08 or abs(high_v) * 0.1 or 1.0
    ax.set_ylim(low_v - pad, high_v + pad)
    ax.set_xlim(0, span)
    ticks = [t for t in MaxNLocator(5).tick_values(low_v - pad, high_v + pad)
             if low_v - pad <= t <= high_v + pad]
    ax.set_yticks(ticks, [loc.compact(t, data.unit) for t in ticks])
    days = _date_ticks(data.start, data.end)
    ax.set_xticks([x(d) for d in days], [loc.date(d) for d in days])
    ax.get_xticklabels()[-1].set_horizontalalignment("right")
    ax.set_title(data.title, loc="left", fontsize=10)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", linewidth=0.5, alpha=0.4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    legend = ax.legend(fontsize=7, loc="best", frameon=False)
    for text in [*legend.get_texts(), *ax.get_xticklabels(), *ax.get_yticklabels(),
                 ax.title]:
        text.set_parse_math(False)  # "$1.2M" is money, not TeX
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata=_NO_METADATA)
    return out.getvalue()


_NO_METADATA: dict[str, Any] = {"Software": None}


def _date_ticks(start: date, end: date) -> list[date]:
    """About five dates: the start, every few weeks, the end."""
    length = (end - start).days
    step = max(7, (length // 5) // 7 * 7) if length > 14 else max(1, length // 4 or 1)
    ticks = [start + timedelta(days=n) for n in range(0, length + 1, step)]
    if ticks[-1] != end:
        if (end - ticks[-1]).days < step * 2 // 3 and len(ticks) > 1:
            ticks[-1] = end
        else:
            ticks.append(end)
    return ticks


def kr_chart(result: KrResult, loc: Locale) -> ChartFile | None:
    """``result``'s chart as a file for the digest's thread (None without an evaluation)."""
    data = chart_data(result)
    if data is None:
        return None
    alt = loc.say(
        f"{data.title} : {_last(data, loc)} pour une cible de {loc.value(data.target, data.unit)}",
        f"{data.title}: {_last(data, loc)} toward a target of "
        f"{loc.value(data.target, data.unit)}",
    )
    return ChartFile(f"{result.goal.id}.png", data.title, _render(data, loc), alt)


# --------------------------------------------------------------------------- isolation

_isolated = False
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def isolate(on: bool = True) -> None:
    """Render charts in a child process that exits after each report (:func:`worker`), so
    matplotlib (about 40 MB) never stays in a long-running daemon's memory."""
    global _isolated
    _isolated = on


@contextmanager
def worker() -> Iterator[None]:
    """While building one report: with :func:`isolate` on, one child process renders its
    charts, and exits at the end; otherwise nothing."""
    global _pool
    if not _isolated:
        yield
        return
    with _pool_lock:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        _pool = pool
    try:
        yield
    finally:
        with _pool_lock:
            _pool = None
        pool.shutdown(wait=True)


def _render(data: ChartData, loc: Locale) -> bytes:
    pool = _pool
    if pool is None:
        return render_chart(data, loc)
    return pool.submit(render_chart, data, loc).result(timeout=300)


def _last(data: ChartData, loc: Locale) -> str:
    return loc.value(max(data.actual)[1], data.unit) if data.actual else "–"


__all__ = ["ChartData", "chart_data", "isolate", "kr_chart", "render_chart", "worker"]
