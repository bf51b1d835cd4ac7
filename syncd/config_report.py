"""pydantic's validation errors -> :class:`~syncd.errors.Problem` lines a person can act on.

Each error gets its dotted path, its line in the file, a plain message and a fix. The value
is quoted only when it is neither a secret (a ``SecretStr`` field) nor read from the
environment: then the message says "the secret value" or "the value of ${NAME}" instead.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import ErrorDetails

from syncd.config_values import ERROR_TYPE
from syncd.config_yaml import LineMap, Loc, format_path
from syncd.errors import Problem

_GENERIC_HINT = "Compare with the starter file that syncd init writes."


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field(model: type[BaseModel], key: str | int) -> tuple[str, Any] | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return name, info
    return None


def _type_at(root: type[BaseModel], loc: Loc) -> Any:
    """The annotation of the value at ``loc`` (None when the path leaves the models)."""
    tp: Any = root
    for key in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            found = _field(tp, key)
            if found is None:
                return None
            tp = found[1].annotation
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return tp


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    tp = _unwrap(_type_at(root, loc))
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def is_secret(root: type[BaseModel], loc: Loc) -> bool:
    tp = _unwrap(_type_at(root, loc))
    return isinstance(tp, type) and issubclass(tp, SecretStr)


def show(value: Any) -> str:
    """A value as the user wrote it, shortened; containers are named, never dumped."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def translate(
    exc: ValidationError,
    root: type[BaseModel],
    lines: LineMap,
    *,
    from_env: Mapping[Loc, tuple[str, ...]],
    skip: Iterable[Loc] = (),
    not_in_file: Iterable[Loc] = (),
) -> list[Problem]:
    """One problem per error, except at the paths in ``skip`` (already reported)."""
    skipped = set(skip)
    outside = set(not_in_file)
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        about_key = bool(loc) and loc[-1] == "[key]"
        if about_key:
            loc = loc[:-1]
        if loc in skipped and err["type"] != "extra_forbidden":
            continue
        if loc in from_env:
            sensitive: str | None = f"the value of ${{{from_env[loc][0]}}}"
        elif is_secret(root, loc):
            sensitive = "the secret value"
        else:
            sensitive = None
        message, hint = _humanize(err, root, loc, about_key, sensitive)
        if loc in outside:
            line = None
            if loc in from_env:
                message += f" (set by {from_env[loc][0]})"
        else:
            line = lines.line_of(loc)
        problems.append(Problem(format_path(loc), line, message, hint))
    return problems


def _humanize(
    err: ErrorDetails, root: type[BaseModel], loc: Loc, about_key: bool, sensitive: str | None
) -> tuple[str, str]:
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = sensitive or show(err.get("input"))
    if kind == ERROR_TYPE:
        message = str(ctx["message"])
        hint = str(ctx["safe_hint"] if sensitive else ctx["hint"])
    elif about_key:
        message, hint = f"{value} is not a valid key here", _GENERIC_HINT
    else:
        message, hint = _builtin(kind, ctx, root, loc, value)
    message = message.replace("{value}", value)
    hint = hint.replace("{value}", value)
    if hint and not hint.endswith((".", "?")):
        hint += "."
    return message.rstrip("."), hint


def _builtin(
    kind: str, ctx: dict[str, Any], root: type[BaseModel], loc: Loc, value: str
) -> tuple[str, str]:
    key = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        allowed = (
            [info.alias or name for name, info in parent.model_fields.items()] if parent else []
        )
        close = difflib.get_close_matches(str(key).lower(), allowed, n=1, cutoff=0.6)
        hint = f'Did you mean "{close[0]}"? ' if close else ""
        if allowed:
            hint += f"Allowed here: {', '.join(allowed)}."
        return f'unknown key "{key}"', hint or "Remove it."
    if kind == "missing":
        parent = _model_at(root, loc[:-1])
        found = _field(parent, key) if parent is not None else None
        described = found[1].description if found else None
        hint = f"Add {key}: {described}." if described else f"Add {key}."
        return "required but missing", hint
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        model = _model_at(root, loc)
        keys = ", ".join(info.alias or n for n, info in model.model_fields.items()) if model else ""
        hint = (
            f"Write it as indented key: value lines ({keys})."
            if keys
            else ("Write it as indented key: value lines.")
        )
        return f"{value} should be a mapping", hint
    if kind in ("list_type", "tuple_type"):
        return f"{value} should be a list", "Write one '- item' line per item, or [a, b]."
    if kind == "too_short":
        return (
            f"needs at least {ctx.get('min_length', 1)} item(s)",
            "Add the missing items (see the starter file).",
        )
    if kind == "literal_error":
        return f"{value} is not one of the choices", f"Use one of: {ctx.get('expected', '')}."
    if kind in ("string_type", "string_sub_type"):
        return f"{value} should be text", "Write it as plain text, in quotes if needed."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{value} is not a whole number", "Write digits only, like 30."
    if kind in ("float_parsing", "float_type", "decimal_parsing", "decimal_type"):
        return f"{value} is not a number", "Write it like 1450 or 12.5."
    if kind in ("bool_parsing", "bool_type"):
        return f"{value} is not true or false", "Write true or false."
    if kind.startswith("date") or kind.startswith("datetime"):
        return f"{value} is not a date", "Write it like 2026-11-09."
    return f"{value} is invalid ({kind.replace('_', ' ')})", _GENERIC_HINT
