"""Value types of the configuration: durations, quantities, percentages, e-mails, URLs.

Each parser raises :func:`invalid`, a pydantic error carrying a human message and a hint.
A message may hold the placeholder ``{value}``: the error report replaces it with the value
as written, or with a neutral word when the value is a secret or came from the environment,
so that no validator can leak a secret by quoting its input.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

ERROR_TYPE = "syncd"


def invalid(message: str, hint: str = "", *, safe_hint: str | None = None) -> PydanticCustomError:
    """A validation error with a human ``message`` (may contain ``{value}``) and a ``hint``.

    ``safe_hint`` replaces ``hint`` when the value must not be shown (a secret, or a value read
    from the environment); give it when ``hint`` quotes or derives from the value.
    """
    ctx = {"message": message, "hint": hint, "safe_hint": hint if safe_hint is None else safe_hint}
    return PydanticCustomError(ERROR_TYPE, "{message}", ctx)


class Strict(BaseModel):
    """Base of every configuration model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


# --------------------------------------------------------------------------- durations

_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_RE = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
DURATION_FORMS = "30s, 15m, 2h, 7d or 1w, or a combination such as 1h30m"


def parse_duration(value: object) -> timedelta:
    """``30s``, ``15m``, ``2h``, ``7d``, ``1w`` and combinations (``1h30m``) -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if _is_number(value):
        raise invalid(
            "{value} has no unit",
            f"Write a duration like {value}s or {value}m ({DURATION_FORMS})",
            safe_hint=f"Write a duration like {DURATION_FORMS}",
        )
    if not isinstance(value, str):
        raise invalid("{value} is not a duration", f"Write it like {DURATION_FORMS}.")
    text = value.strip().replace(" ", "")
    match = _DURATION_RE.fullmatch(text)
    if not text or match is None or not any(match.groups()):
        hint = f"Write it like {DURATION_FORMS}, units from largest to smallest, lower case."
        spelled = re.fullmatch(r"(\d+)(sec|min|hour|day|week)[a-z]*", text.lower())
        if spelled:
            short = f"{spelled.group(1)}{spelled.group(2)[0]}"
            raise invalid("{value} is not a duration", f"Write it like {short}.", safe_hint=hint)
        raise invalid("{value} is not a duration", hint)
    seconds = sum(
        int(amount) * factor
        for amount, factor in zip(match.groups(), _DURATION_UNITS.values(), strict=True)
        if amount
    )
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest text :func:`parse_duration` reads back as ``delta`` (``1h30m``, ``0s``)."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, factor in _DURATION_UNITS.items():
        amount, seconds = divmod(seconds, factor)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def _positive_duration(value: object) -> timedelta:
    delta = parse_duration(value)
    if delta <= timedelta(0):
        raise invalid(
            "{value} is zero", f"Give a duration longer than zero, like {DURATION_FORMS}."
        )
    return delta


Duration = Annotated[timedelta, BeforeValidator(_positive_duration)]
DurationOrZero = Annotated[timedelta, BeforeValidator(parse_duration)]


# --------------------------------------------------------------------------- quantities

QuantityUnit = Literal["percent", "multiple", "number"]
_QUANTITY_RE = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(%|[xX])?")
QUANTITY_FORMS = "a number (1450), a percentage (25%) or a multiple (6x)"


def _clean_quantity(text: str) -> str:
    """What the user probably meant: no spaces or thousands separators, a decimal point."""
    cleaned = re.sub(r"[\s'\u00a0\u202f_]", "", text)
    if re.fullmatch(r"[+-]?\d+,\d+(%|[xX])?", cleaned):
        cleaned = cleaned.replace(",", ".")
    elif re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(%|[xX])?", cleaned):
        cleaned = cleaned.replace(",", "")
    return cleaned


class Quantity(Strict):
    """A KR baseline or target, a threshold: the value and the unit it was written in.

    ``18%`` -> ``Quantity(value=0.18, unit="percent")``; ``6x`` -> ``(6.0, "multiple")``;
    ``1450`` -> ``(1450.0, "number")``.
    """

    value: float
    unit: QuantityUnit

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, dict | Quantity):
            return data
        return parse_quantity(data)

    def __str__(self) -> str:
        if self.unit == "percent":
            return f"{_trim(self.value * 100)}%"
        if self.unit == "multiple":
            return f"{_trim(self.value)}x"
        return _trim(self.value)


def _trim(number: float) -> str:
    return format(Decimal(repr(number)).normalize(), "f")


def parse_quantity(value: object) -> dict[str, Any]:
    if _is_number(value):
        number = float(value)  # type: ignore[arg-type]
        if number != number or number in (float("inf"), float("-inf")):
            raise invalid("{value} is not a finite number", f"Write {QUANTITY_FORMS}.")
        return {"value": number, "unit": "number"}
    if not isinstance(value, str):
        raise invalid("{value} is not a quantity", f"Write {QUANTITY_FORMS}.")
    text = value.strip()
    match = _QUANTITY_RE.fullmatch(text)
    if match is None:
        cleaned = _clean_quantity(text)
        message = "{value} is not a number, percentage (25%) or multiple (6x)"
        if cleaned != text and _QUANTITY_RE.fullmatch(cleaned):
            raise invalid(
                message, f"Write it like {cleaned}.", safe_hint=f"Write {QUANTITY_FORMS}."
            )
        raise invalid(message, "Write it like 25%, 6x or 1450.")
    amount = Decimal(match.group(1))  # the pattern lets only decimal numbers through
    suffix = match.group(2)
    if suffix == "%":
        return {"value": float(amount / 100), "unit": "percent"}
    if suffix:
        return {"value": float(amount), "unit": "multiple"}
    return {"value": float(amount), "unit": "number"}


def _percent(value: object) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        return float(parse_quantity(value)["value"])
    hint = "Write a percentage like 90%."
    if _is_number(value) and 0 < float(value) <= 1:  # type: ignore[arg-type]
        hint = f"Write it like {_trim(float(value) * 100)}%."  # type: ignore[arg-type]
    raise invalid("{value} is not a percentage", hint, safe_hint="Write a percentage like 90%.")


#: A percentage written ``90%``, held as the fraction 0.9.
Percent = Annotated[float, BeforeValidator(_percent)]


# --------------------------------------------------------------------------- text values


def _text(value: object) -> str:
    if _is_number(value):
        return str(value)
    if not isinstance(value, str):
        raise invalid("{value} is not text", "Write a plain value, quoted if needed.")
    return value.strip()


def _non_empty(value: object) -> str:
    text = _text(value)
    if not text:
        raise invalid("empty value", "Give it a value or remove the key.")
    return text


NonEmptyStr = Annotated[str, BeforeValidator(_non_empty)]

_IDENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def _ident(value: object) -> str:
    text = _non_empty(value)
    if not _IDENT_RE.fullmatch(text):
        raise invalid(
            "{value} is not a valid id",
            "Use letters, digits, '-', '_' and '.', like conversion-pme.",
        )
    return text


#: An id (KR, alert rule): letters, digits, ``-``, ``_`` and ``.``.
Ident = Annotated[str, BeforeValidator(_ident)]

_EMAIL_RE = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]+")


def _email(value: object) -> str:
    text = _non_empty(value)
    if not _EMAIL_RE.fullmatch(text):
        raise invalid("{value} is not an e-mail address", "Write it like lea@acme.ch.")
    return text.lower()


#: An e-mail address, checked loosely (``x@y.z``) and lower-cased.
Email = Annotated[str, BeforeValidator(_email)]


def _email_list(value: object) -> object:
    """``owners: lea@acme.ch`` and ``owners: lea@acme.ch, marc@acme.ch`` are lists too."""
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.split(",")) if part]
    return value


EmailList = Annotated[list[Email], BeforeValidator(_email_list)]


def _http_url(value: object) -> str:
    text = _non_empty(value)
    if not re.fullmatch(r"https?://[^\s/?#]+(?:[/?#]\S*)?", text):
        raise invalid(
            "{value} is not an http(s) URL",
            "Write it like https://api.hubapi.com (http:// only for a local sandbox).",
        )
    return text


#: An ``http://`` or ``https://`` URL, kept as written.
HttpUrlStr = Annotated[str, BeforeValidator(_http_url)]


def _secret(value: object) -> object:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if _is_number(value):
        value = str(value)
    if not isinstance(value, str):
        raise invalid("the secret is not text", "Write it as a plain string, or use ${NAME}.")
    if not value.strip():
        raise invalid("the secret is empty", "Set it, e.g. from an environment variable: ${NAME}.")
    if re.search(r"\s", value.strip()):
        raise invalid(
            "the secret contains spaces or line breaks",
            "Copy it again without surrounding text; a _FILE is read and stripped.",
        )
    return value.strip()


#: A credential: never shown in messages, reprs or logs.
Secret = Annotated[SecretStr, BeforeValidator(_secret)]


def _secret_url(value: object) -> SecretStr:
    checked = _secret(value)
    assert isinstance(checked, str)
    _http_url(checked)
    return SecretStr(checked)


#: A URL that is itself a credential (a Slack incoming webhook).
SecretUrl = Annotated[SecretStr, BeforeValidator(_secret_url)]


# --------------------------------------------------------------------------- database URL

DATABASE_HINT = "Use sqlite:///path/to/syncd.db or postgresql+psycopg://user@host/db"
_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+pysqlite"}


def normalise_database_url(url: str, base_dir: Path | None) -> str:
    """Check the scheme, normalise PostgreSQL to psycopg 3, anchor relative SQLite paths.

    Never quotes the URL in an error: it may hold a password.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if match is None:
        raise invalid("the database URL has no scheme", DATABASE_HINT + ".")
    scheme = match.group(1).lower()
    rest = url[match.end() :]
    if scheme in _POSTGRES_SCHEMES:
        url = "postgresql+psycopg://" + rest
    elif scheme in _SQLITE_SCHEMES:
        url = _anchor_sqlite(rest, base_dir)
    elif scheme.startswith("postgres"):
        raise invalid(
            f'the database driver "{scheme}" is not supported',
            "syncd ships psycopg 3: write postgresql+psycopg://user@host/db.",
        )
    else:
        raise invalid(f'the database scheme "{scheme}" is not supported', DATABASE_HINT + ".")
    try:
        make_url(url)
    except (ArgumentError, ValueError):
        raise invalid("the database URL cannot be parsed", DATABASE_HINT + ".") from None
    return url


def _anchor_sqlite(rest: str, base_dir: Path | None) -> str:
    if rest == "":
        return "sqlite://"  # in memory
    if not rest.startswith("/"):
        raise invalid(
            "a SQLite URL has three slashes before a relative path",
            "Write sqlite:///syncd.db (relative to the config file) or sqlite:////abs/path.db.",
        )
    path_part, sep, query = rest[1:].partition("?")
    if path_part in ("", ":memory:") or path_part.startswith("file:"):
        return f"sqlite:///{path_part}{sep}{query}"
    path = Path(path_part).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return f"sqlite:///{path}{sep}{query}"


def redact_database_url(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def database_password(url: str) -> str | None:
    """The password in a database URL, if any."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        return None
    return None if password is None else str(password)
