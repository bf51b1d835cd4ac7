"""KR charts: PNGs that show different data differently, fast, without pyplot state."""

from __future__ import annotations

import struct
import sys
from dataclasses import replace
from datetime import date

from rules.metric import Unit
from syncd.notify.chart import ChartData, chart_data, kr_chart, render_chart
from tests.notify.builders import EN, FR_CH, FR_FR, goal, result, team

PNG = b"\x89PNG\r\n\x1a\n"


def size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_a_kr_chart_is_a_png_of_the_asked_size() -> None:
    chart = kr_chart(team()[0], FR_CH)
    assert chart is not None
    assert chart.content.startswith(PNG)
    assert size(chart.content) == (640, 320)
    assert 5_000 < len(chart.content) < 200_000
    assert chart.filename == "conversion-pme.png"
    assert "21,6%" in chart.alt_text and "25%" in chart.alt_text


def test_same_data_same_bytes_different_data_different_image() -> None:
    results = team()
    one = chart_data(results[1])
    assert one is not None
    assert render_chart(one, FR_CH) == render_chart(one, FR_CH)
    assert render_chart(one, FR_CH) != render_chart(one, EN)  # localized axes
    moved = replace(one, actual=tuple((d, v * 1.1) for d, v in one.actual))
    assert render_chart(moved, FR_CH) != render_chart(one, FR_CH)
    assert len({kr_chart(r, FR_CH).content for r in results}) == len(results)  # type: ignore[union-attr]


def test_chart_data_follows_the_kr() -> None:
    pipeline = chart_data(team()[3])
    assert pipeline is not None
    assert pipeline.target == 5.0 and pipeline.original_target == 6.0  # revised
    assert pipeline.expected[0] == (date(2026, 10, 1), 3.0)
    assert pipeline.expected[-1] == (date(2026, 12, 31), 5.0)
    assert pipeline.projection is not None
    assert pipeline.today == date(2026, 11, 23)
    assert len(pipeline.actual) == 14


def test_money_with_dollar_signs_and_few_points_still_draw() -> None:
    """``$`` would start TeX in matplotlib; one or two points are drawn as markers."""
    kr = goal("panier", "Panier moyen $ (ARPU)", "arpu", 1200, 1450)
    chart = kr_chart(result(kr, [1300.0, 1310.0]), FR_FR)
    assert chart is not None and chart.content.startswith(PNG)
    flat = ChartData("Plat", Unit.COUNT, date(2026, 10, 1), date(2026, 10, 31),
                     date(2026, 10, 15), ((date(2026, 10, 15), 3.0),), (), 3.0)
    assert render_chart(flat, EN).startswith(PNG)


def test_no_pyplot_is_imported() -> None:
    kr_chart(team()[0], FR_CH)
    assert "matplotlib.pyplot" not in sys.modules
