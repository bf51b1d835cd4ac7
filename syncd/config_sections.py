"""Configuration sections for the outside world: database, CRM, Slack.

Field defaults per CRM (``crm.fields``: ``<object>_<name>: CRM property``; object is ``deal``,
``company`` or ``contact``; a key set to null removes a default, any other key is a custom
property synced into the record's ``custom`` mapping):

- HubSpot: ``deal_mrr: hs_mrr``, ``deal_type: dealtype``, ``company_segment: segment``,
  ``company_churned_at: churned_at``.
- Salesforce: ``deal_mrr: MRR__c``, ``deal_type: Type`` (standard Opportunity.Type),
  ``company_segment: Segment__c``, ``company_churned_at: Churn_Date__c``. Salesforce has no
  standard MRR, segment or churn-date field: these are the usual custom fields' names; map
  them to your org's API names.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syncd.config_values import (
    Duration,
    DurationOrZero,
    Email,
    HttpUrlStr,
    Secret,
    SecretUrl,
    Strict,
    invalid,
    normalise_database_url,
    redact_database_url,
)

DEFAULT_DATABASE_URL = "sqlite:///syncd.db"

# --------------------------------------------------------------------------- database


class DatabaseConfig(Strict):
    """``url``: SQLite (default, relative paths anchored at the config file's directory) or
    PostgreSQL (normalised to ``postgresql+psycopg://``). A secret: it may hold a password."""

    url: SecretStr = Field(default=SecretStr(DEFAULT_DATABASE_URL), validate_default=True)

    @field_validator("url", mode="before")
    @classmethod
    def _normalise(cls, value: Any, info: ValidationInfo) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(raw, str) or not raw.strip():
            raise invalid("the database URL is empty or not text", "Write sqlite:///syncd.db.")
        base_dir = (info.context or {}).get("base_dir")
        return SecretStr(normalise_database_url(raw.strip(), base_dir))

    def redacted_url(self) -> str:
        """The URL with any password replaced by ``***``: safe to log and print."""
        return redact_database_url(self.url.get_secret_value())

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_secret_value().startswith("sqlite")


# --------------------------------------------------------------------------- CRM

HUBSPOT_FIELDS: dict[str, str] = {
    "deal_mrr": "hs_mrr",
    "deal_type": "dealtype",
    "company_segment": "segment",
    "company_churned_at": "churned_at",
}
SALESFORCE_FIELDS: dict[str, str] = {
    "deal_mrr": "MRR__c",
    "deal_type": "Type",
    "company_segment": "Segment__c",
    "company_churned_at": "Churn_Date__c",
}
DEFAULT_FIELDS: dict[str, dict[str, str]] = {
    "hubspot": HUBSPOT_FIELDS,
    "salesforce": SALESFORCE_FIELDS,
}
FIELD_OBJECTS = ("deal", "company", "contact")


def _field_key(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(
        r"(deal|company|contact)_[a-z][a-z0-9_]*", value
    ):
        raise invalid(
            "{value} is not a field key",
            "Write <object>_<name> in lower case, object being deal, company or contact, "
            "like deal_mrr or company_segment.",
        )
    return value


def _property_name(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", value.strip()):
        raise invalid(
            "{value} is not a CRM property name",
            "Write the property's internal (API) name, like hs_mrr or Segment__c; "
            "set it to null to drop a default.",
        )
    return value.strip()


FieldKey = Annotated[str, BeforeValidator(_field_key)]
PropertyName = Annotated[str, BeforeValidator(_property_name)]


class HubSpotConfig(Strict):
    access_token: Secret
    base_url: HttpUrlStr = "https://api.hubapi.com"
    timeout: Duration = timedelta(seconds=30)
    #: the account's number (in every HubSpot URL): Slack messages then link to the deals
    portal_id: int | None = Field(default=None, ge=1)
    #: the web app (https://app-eu1.hubspot.com for an EU account)
    app_url: HttpUrlStr = "https://app.hubspot.com"

    def record_url(self, kind: str, record_id: str) -> str | None:
        """The web page of a record (``deal``, ``company``, ``contact``), if the portal is
        known."""
        types = {"deal": "0-3", "company": "0-2", "contact": "0-1"}
        if self.portal_id is None or kind not in types:
            return None
        return f"{self.app_url.rstrip('/')}/contacts/{self.portal_id}/record/{types[kind]}/" \
               f"{record_id}"

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


#: Salesforce login flows: name -> (fields that start it, fields it needs in all).
SALESFORCE_FLOWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "password": (
        ("username", "password", "security_token"),
        ("username", "password", "security_token"),
    ),
    "client credentials": (
        ("consumer_key", "consumer_secret"),
        ("consumer_key", "consumer_secret", "domain"),
    ),
    "session": (("session_id",), ("session_id", "instance_url")),
}


class SalesforceConfig(Strict):
    """Exactly one complete login flow: username + password + security_token (SOAP login);
    consumer_key + consumer_secret + a My Domain ``domain`` (OAuth client credentials); or
    session_id + instance_url (no re-login when the session expires)."""

    instance_url: HttpUrlStr | None = None
    username: str | None = None
    password: Secret | None = None
    security_token: Secret | None = None
    consumer_key: str | None = None
    consumer_secret: Secret | None = None
    session_id: Secret | None = None
    domain: str | None = None  # None: "login" (production); "test" for a sandbox
    api_version: str = "59.0"

    @field_validator("api_version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{float(value):.1f}"
        if not isinstance(value, str) or not re.fullmatch(r"\d{2,3}\.0", value.strip()):
            raise invalid("{value} is not a Salesforce API version", "Write it like 59.0.")
        return value.strip()

    @model_validator(mode="after")
    def _one_flow(self) -> SalesforceConfig:
        started = [
            name
            for name, (starts, _) in SALESFORCE_FLOWS.items()
            if any(getattr(self, key) is not None for key in starts)
        ]
        if not started:
            raise invalid(
                "no login is configured",
                "Set username, password and security_token; or consumer_key, consumer_secret "
                "and domain; or session_id and instance_url.",
            )
        if len(started) > 1:
            raise invalid(
                f"several login flows are configured ({' and '.join(started)})",
                "Keep the keys of one flow only.",
            )
        flow = started[0]
        missing = [key for key in SALESFORCE_FLOWS[flow][1] if getattr(self, key) is None]
        if missing:
            raise invalid(
                f"the {flow} login also needs {', '.join(missing)}",
                f"Add {', '.join(missing)} (secrets as ${{NAME}} from the environment).",
            )
        if flow == "client credentials" and self.domain in ("login", "test"):
            raise invalid(
                "the client credentials login needs your My Domain, not login or test",
                "Set domain to the part before .salesforce.com, like acme.my.",
            )
        return self


class SyncConfig(Strict):
    every: Duration = timedelta(minutes=15)
    lookback: DurationOrZero = timedelta(minutes=5)
    #: how often archived/deleted records are listed again
    reconcile_every: Duration = timedelta(hours=6)
    #: how long one CRM call may keep retrying (rate limits, 5xx) before giving up
    max_retry_time: Duration = timedelta(minutes=10)


class CrmConfig(Strict):
    provider: Literal["hubspot", "salesforce"]
    hubspot: HubSpotConfig | None = None
    salesforce: SalesforceConfig | None = None
    #: ``<object>_<name>`` -> CRM property, defaults of the provider merged in
    fields: dict[FieldKey, PropertyName] = Field(default_factory=dict)
    sync: SyncConfig = Field(default_factory=SyncConfig)

    @model_validator(mode="before")
    @classmethod
    def _merge_default_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        provider = data.get("provider")
        given = data.get("fields")
        if given is None:
            given = {}
        if provider not in DEFAULT_FIELDS or not isinstance(given, dict):
            return data
        merged: dict[Any, Any] = dict(DEFAULT_FIELDS[provider])
        merged.update(given)
        data = dict(data)
        data["fields"] = {k: v for k, v in merged.items() if v is not None}
        if data.get("sync") is None:
            data.pop("sync", None)
        return data

    @model_validator(mode="after")
    def _provider_section(self) -> CrmConfig:
        if getattr(self, self.provider) is None:
            raise invalid(
                f"provider is {self.provider} but the {self.provider} section is missing",
                f"Add a {self.provider}: section under crm: with its credentials "
                "(see the starter file that syncd init writes).",
            )
        return self


# --------------------------------------------------------------------------- Slack


def _channel(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(
            "{value} is not a Slack channel",
            'Write "#channel-name" in quotes (an unquoted # starts a YAML comment) or an id.',
        )
    text = value.strip()
    if re.fullmatch(r"#[a-z0-9][a-z0-9_\-]{0,79}", text) or re.fullmatch(
        r"[CGD][A-Z0-9]{6,}", text
    ):
        return text
    name = text.lstrip("#").lower().replace(" ", "-")
    raise invalid(
        "{value} is not a Slack channel",
        f'Write it like "#{name}" (quoted) or a channel id like C024BE91L.',
        safe_hint='Write it like "#ventes-okr" (quoted) or a channel id like C024BE91L.',
    )


def _slack_user(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[UW][A-Z0-9]{2,}", value.strip()):
        raise invalid(
            "{value} is not a Slack user id",
            "Write the member id from the user's Slack profile, like U024BE7LH.",
        )
    return value.strip()


SlackChannel = Annotated[str, BeforeValidator(_channel)]
SlackUserId = Annotated[str, BeforeValidator(_slack_user)]


class SlackConfig(Strict):
    """A bot ``token`` (full features: threads, updates, files) or a ``webhook_url``."""

    token: Secret | None = None
    webhook_url: SecretUrl | None = None
    channel: SlackChannel | None = None
    base_url: HttpUrlStr = "https://slack.com/api/"
    #: e-mail -> Slack user id, overriding the lookup by e-mail
    mentions: dict[Email, SlackUserId] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("mentions", mode="before")
    @classmethod
    def _no_mentions(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _credentials(self) -> SlackConfig:
        if self.token is None and self.webhook_url is None:
            raise invalid(
                "neither token nor webhook_url is set",
                "Set token: ${SLACK_BOT_TOKEN} (a bot token) or webhook_url: ${SLACK_WEBHOOK_URL}, "
                "or remove the slack section to run without Slack.",
            )
        if self.token is not None and self.webhook_url is not None:
            raise invalid("both token and webhook_url are set", "Keep one of them.")
        if self.token is not None and self.channel is None:
            raise invalid(
                "a bot token needs a channel",
                'Add channel: "#ventes-okr" (quoted: an unquoted # starts a YAML comment).',
            )
        return self


__all__ = [
    "CrmConfig",
    "DatabaseConfig",
    "HubSpotConfig",
    "SalesforceConfig",
    "SlackConfig",
    "SyncConfig",
]
