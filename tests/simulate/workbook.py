"""A tiny evaluator for the formulas ``syncd simulate --xlsx`` writes, so the tests can change
an input cell and recompute, as a spreadsheet would.

It knows what the workbook uses and nothing more: numbers, strings, booleans, references
(``B4``, ``$B$4``, ``Inputs!$B$4``), ``+ - * / ^``, comparisons, and ``IF`` (lazy),
``ISBLANK``, ``OR``, ``AND``, ``MIN``, ``MAX``. A blank cell is 0 in arithmetic and equals
``""``, as in Excel; dates are Excel serial numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"[^"]*")
      | (?P<ref>(?:(?P<sheet>[A-Za-z_][\w ]*|'[^']+')!)?\$?(?P<col>[A-Z]{1,3})\$?(?P<row>\d+)\b)
      | (?P<func>[A-Z]+)\(
      | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
      | (?P<op><>|<=|>=|[-+*/^=<>(),])
    )""",
    re.VERBOSE,
)
_EPOCH = date(1899, 12, 30)


class Blank(float):
    """An empty cell: 0 in arithmetic, equal to ``""``."""

    def __new__(cls) -> Blank:
        return super().__new__(cls, 0.0)

    def __eq__(self, other: object) -> bool:
        return other == "" or other is None or (isinstance(other, float | int) and other == 0)

    def __hash__(self) -> int:
        return 0


def _serial(value: Any) -> Any:
    if isinstance(value, datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second
        return (value.date() - _EPOCH).days + seconds / 86400
    if isinstance(value, date):
        return (value - _EPOCH).days
    return value


class Book:
    """The workbook's formulas and constants; ``set`` changes an input, ``value`` computes."""

    def __init__(self, path: Path) -> None:
        wb = openpyxl.load_workbook(path, data_only=False)
        self.cells: dict[tuple[str, str], Any] = {}
        for sheet in wb.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if cell.value is not None:
                        self.cells[sheet.title, cell.coordinate] = _serial(cell.value)
        self.memo: dict[tuple[str, str], Any] = {}

    def set(self, sheet: str, ref: str, value: Any) -> None:
        self.cells[sheet, ref] = value
        self.memo.clear()

    def value(self, sheet: str, ref: str) -> Any:
        key = (sheet, ref.replace("$", ""))
        if key not in self.memo:
            raw = self.cells.get(key)
            if raw is None:
                result: Any = Blank()
            elif isinstance(raw, str) and raw.startswith("="):
                result = self._evaluate(sheet, raw[1:])
            else:
                result = raw
            self.memo[key] = result
        return self.memo[key]

    def _evaluate(self, sheet: str, formula: str) -> Any:
        code = _translate(formula, sheet)
        env: dict[str, Callable[..., Any]] = {
            "_ref": self.value,
            "_blank": lambda s, r: self.cells.get((s, r.replace("$", ""))) is None,
            "_IF": lambda c, t, f=lambda: False: t() if c() else f(),
            "_OR": lambda *a: any(a),
            "_AND": lambda *a: all(a),
            "_MIN": min,
            "_MAX": max,
        }
        return eval(code, {"__builtins__": {}, **env})


def _translate(formula: str, sheet: str) -> str:
    out: list[str] = []
    stack: list[str] = []  # the function (or "") of each open parenthesis
    pos = 0
    while pos < len(formula):
        match = _TOKEN.match(formula, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"cannot read {formula[pos:]!r} in ={formula}")
        pos = match.end()
        if match.group("string") is not None:
            out.append(repr(match.group("string")[1:-1]))
        elif match.group("ref") is not None:
            target = (match.group("sheet") or sheet).strip("'")
            ref = f"{match.group('col')}{match.group('row')}"
            if stack and stack[-1] == "ISBLANK":
                out.append(f"_blank({target!r}, {ref!r})")
            else:
                out.append(f"_ref({target!r}, {ref!r})")
        elif match.group("func") is not None:
            name = match.group("func")
            stack.append(name)
            if name == "ISBLANK":
                out.append("(")
            elif name == "IF":
                out.append("_IF(lambda: ")
            else:
                out.append(f"_{name}(")
        elif match.group("number") is not None:
            out.append(match.group("number"))
        else:
            op = match.group("op")
            if op == "(":
                stack.append("")
                out.append("(")
            elif op == ")":
                stack.pop()
                out.append(")")
            elif op == "," and stack and stack[-1] == "IF":
                out.append(", lambda: ")
            else:
                out.append({"^": "**", "=": "==", "<>": "!="}.get(op, op))
    return "".join(out).replace("TRUE", "True").replace("FALSE", "False")
