"""The configuration: ``syncd.yaml`` -> a frozen, validated :class:`Config`.

:func:`load_config` reports every problem of the file at once, each with its dotted path and
line (``syncd.yaml:23 okrs[0].key_results[2].target: ...``), as one :class:`ConfigError`.
The work is split by role:

- :mod:`syncd.config_yaml`: YAML -> data, the line of every path, duplicate keys, ``${NAME}``
  from the environment (or ``NAME_FILE``);
- :mod:`syncd.config_values`: durations, quantities, percentages, e-mails, URLs, database URL;
- :mod:`syncd.config_sections`: database, CRM, Slack;
- :mod:`syncd.config_schedule`: the cron schedules;
- :mod:`syncd.config_okrs`: OKRs, revisions, alerts;
- :mod:`syncd.config_checks`: checks across the file (unique ids, revisions);
- :mod:`syncd.config_report`: pydantic's errors -> human problems, secrets never shown.

Environment: ``SYNCD_DATABASE_URL`` (or ``SYNCD_DATABASE_URL_FILE``) overrides
``database.url``. Errors raised: :class:`~syncd.errors.ConfigError` (load),
:class:`~syncd.errors.SyncdError` (writing the starter file).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tempfile
import zoneinfo
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.base import Company, Contact, Deal, FieldMap
from syncd.config_checks import cross_check
from syncd.config_metrics import metric_checks
from syncd.config_okrs import AlertsConfig, Okr
from syncd.config_report import translate
from syncd.config_schedule import ScheduleConfig
from syncd.config_sections import (
    FIELD_OBJECTS,
    CrmConfig,
    DatabaseConfig,
    SlackConfig,
)
from syncd.config_service import ServiceConfig
from syncd.config_values import Strict, database_password, invalid
from syncd.config_yaml import Loc, Unresolved, expand_env, read_yaml, resolve_env
from syncd.errors import ConfigError, Problem, SyncdError

DATABASE_URL_ENV = "SYNCD_DATABASE_URL"
_RECORD_FIELDS = {
    obj: frozenset(f.name for f in dataclasses.fields(record))
    for obj, record in (("deal", Deal), ("company", Company), ("contact", Contact))
}


def _timezone(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("{value} is not a time zone", "Write an IANA name like Europe/Zurich or UTC.")
    name = value.strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        zones = {z.lower(): z for z in zoneinfo.available_timezones()}
        close = difflib.get_close_matches(name.lower().replace(" ", "_"), list(zones), n=1)
        hint = "Write an IANA name like Europe/Zurich, Europe/Paris or UTC"
        raise invalid(
            "{value} is not an IANA time zone",
            f'Did you mean "{zones[close[0]]}"? {hint}.' if close else f"{hint}.",
            safe_hint=f"{hint}.",
        ) from None
    return name


def _currency(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        code = value.strip()
        if code.isupper():
            return code
        raise invalid("{value} is not in upper case", f"Write {code.upper()}.", safe_hint="")
    raise invalid(
        "{value} is not an ISO 4217 currency code", "Write three letters like CHF or EUR."
    )


TimezoneName = Annotated[str, BeforeValidator(_timezone)]
CurrencyCode = Annotated[str, BeforeValidator(_currency)]


def _rate(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9:
        return float(value)
    raise invalid("{value} is not an exchange rate",
                  "Write what one unit of that currency is worth in the reporting currency, "
                  "like EUR: 0.94.")


Rate = Annotated[float, BeforeValidator(_rate)]


class Config(Strict):
    """Everything ``syncd.yaml`` says, validated. Build it with :func:`load_config`."""

    timezone: TimezoneName = "UTC"
    language: Literal["fr", "en"] = "en"
    currency: CurrencyCode = "CHF"
    #: other currencies of the CRM -> reporting currency (``EUR: 0.94``); unlisted count 1:1
    fx: dict[CurrencyCode, Rate] = Field(default_factory=dict)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    crm: CrmConfig = Field(description="the CRM to read, like provider: hubspot")
    #: None: no Slack (findings are kept and shown by the CLI)
    slack: SlackConfig | None = None
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    okrs: list[Okr] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)

    _source_path: Path | None = PrivateAttr(default=None)

    @field_validator("database", "schedule", "alerts", "okrs", "fx", "service", mode="before")
    @classmethod
    def _empty(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return [] if info.field_name == "okrs" else {}
        return value

    @model_validator(mode="after")
    def _remember_source(self, info: ValidationInfo) -> Config:
        source = (info.context or {}).get("source_path")
        if source is not None:
            self._source_path = Path(source)
        return self

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def source_path(self) -> Path | None:
        """The absolute path of the file this was loaded from."""
        return self._source_path

    def redacted_url(self) -> str:
        """``database.url`` with any password replaced by ``***``."""
        return self.database.redacted_url()

    def secret_values(self) -> list[str]:
        """Every credential in this config (and the database password on its own), for a
        log filter that masks them."""
        found: list[str] = []
        _collect_secrets(self, found)
        password = database_password(self.database.url.get_secret_value())
        if password:
            found.append(password)
        return [value for value in dict.fromkeys(found) if value]

    def field_map(self) -> FieldMap:
        """``crm.fields`` per object, keyed by the record's name for it: ``{"mrr": "hs_mrr", ...}``.

        The object prefix is dropped (``deal_mrr`` -> ``mrr``) unless the record has an
        attribute named like the whole key (``deal_type`` -> ``Deal.deal_type``).
        """
        maps: dict[str, dict[str, str]] = {obj: {} for obj in FIELD_OBJECTS}
        for key, prop in self.crm.fields.items():
            obj, _, name = key.partition("_")
            # a record attribute named like the whole key keeps it: deal_type -> Deal.deal_type
            maps[obj][key if key in _RECORD_FIELDS[obj] else name] = prop
        return FieldMap(
            deal=MappingProxyType(maps["deal"]),
            company=MappingProxyType(maps["company"]),
            contact=MappingProxyType(maps["contact"]),
        )


def _collect_secrets(value: Any, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect_secrets(getattr(value, name), found)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_secrets(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect_secrets(item, found)


# --------------------------------------------------------------------------- loading


def load_config(path: Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate ``path``; raise :class:`ConfigError` with every problem."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    source = str(path)
    text = _read(path)
    parsed = read_yaml(text)
    problems = list(parsed.problems)
    if parsed.data is None and problems:
        raise ConfigError(problems, source=source)
    data: Any = {} if parsed.data is None else parsed.data
    if not isinstance(data, dict):
        problem = Problem(
            "",
            1,
            "the file should be a mapping of sections",
            "Start with keys like timezone: and crm:.",
        )
        raise ConfigError([problem], source=source)

    expanded = expand_env(data, env, parsed.lines)
    problems += expanded.problems
    data = expanded.data
    from_env = dict(expanded.from_env)
    not_in_file: set[Loc] = set()
    skip = set(expanded.failed)

    if data.get("database") is None:
        data["database"] = {}
    override = resolve_env(DATABASE_URL_ENV, env)
    url_loc: Loc = ("database", "url")
    if isinstance(override, Unresolved):
        problems.append(Problem("database.url", None, override.message, override.hint))
        skip.add(url_loc)
    elif override and isinstance(data["database"], dict):
        data["database"] = {**data["database"], "url": override}
        from_env[url_loc] = (DATABASE_URL_ENV,)
        not_in_file.add(url_loc)

    base_dir = path.parent.resolve()
    context = {
        "base_dir": base_dir,
        "tz": _zone_or_utc(data.get("timezone")),
        "source_path": path.resolve(),
    }
    config: Config | None = None
    errors: ValidationError | None = None
    try:
        config = Config.model_validate(data, context=context)
    except ValidationError as exc:
        errors = exc
    if errors is not None:
        problems += translate(
            errors, Config, parsed.lines, from_env=from_env, skip=skip, not_in_file=not_in_file
        )
    problems += cross_check(data, parsed.lines)
    if isinstance(data, dict):
        problems += metric_checks(data, parsed.lines)
    if problems or config is None:
        raise ConfigError(_ordered(problems), source=source)
    return config


def _read(path: Path) -> str:
    hint = "Run `syncd init` to write a starter file there, or pass the path of yours."
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        message = "the configuration file does not exist"
    except IsADirectoryError:
        message, hint = "is a directory, not a configuration file", "Pass the path of the file."
    except PermissionError:
        message, hint = "cannot be read: permission denied", "Make it readable by this user."
    except OSError as exc:
        message, hint = f"cannot be read: {exc.strerror or exc}", ""
    except UnicodeDecodeError:
        message, hint = "is not UTF-8 text", "Save it as UTF-8."
    raise ConfigError([Problem("", None, message, hint)], source=str(path))


def _zone_or_utc(name: Any) -> zoneinfo.ZoneInfo:
    try:
        return (
            zoneinfo.ZoneInfo(str(name).strip())
            if isinstance(name, str)
            else zoneinfo.ZoneInfo("UTC")
        )
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return zoneinfo.ZoneInfo("UTC")


def _ordered(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0))


# --------------------------------------------------------------------------- starter file


def starter_text() -> str:
    """The commented starter configuration that ``syncd init`` writes."""
    return resources.files("syncd").joinpath("starter.yaml").read_text(encoding="utf-8")


def write_starter(path: Path, *, force: bool) -> None:
    """Write the starter configuration to ``path``; refuse to overwrite unless ``force``."""
    if path.exists() and not force:
        raise SyncdError(f"{path} already exists; edit it, or pass --force to overwrite it")
    if not path.parent.is_dir():
        raise SyncdError(
            f"cannot write {path}: the directory {path.parent} does not exist; create it"
        )
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(starter_text())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SyncdError(
            f"cannot write {path}: {exc.strerror or exc}; check the path and its permissions"
        ) from exc


__all__ = [
    "DATABASE_URL_ENV",
    "Config",
    "ConfigError",
    "Problem",
    "SyncdError",
    "load_config",
    "starter_text",
    "write_starter",
]
