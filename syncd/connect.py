"""From the config to a live connector: the one explicit registry of CRMs."""

from __future__ import annotations

from collections.abc import Callable

from connectors.base import Connector
from syncd.config import Config
from syncd.errors import SyncdError


def _hubspot(config: Config, max_retry_time: float | None) -> Connector:
    from connectors.hubspot import HubSpotConnector

    settings = config.crm.hubspot
    if settings is None:  # the config validation reports this first; kept for type narrowing
        raise SyncdError("crm.hubspot: missing; add the section with access_token")
    sync = config.crm.sync
    return HubSpotConnector.create(
        access_token=settings.access_token.get_secret_value(),
        base_url=str(settings.base_url),
        fields=config.field_map(),
        timeout=settings.timeout.total_seconds(),
        max_retry_time=(
            sync.max_retry_time.total_seconds() if max_retry_time is None else max_retry_time
        ),
        lookback=sync.lookback,
    )


def _salesforce(config: Config, max_retry_time: float | None) -> Connector:
    raise SyncdError(
        "crm.provider: salesforce is not available in this version of syncd yet; "
        "use provider: hubspot"
    )


CONNECTORS: dict[str, Callable[[Config, float | None], Connector]] = {
    "hubspot": _hubspot,
    "salesforce": _salesforce,
}


def make_connector(config: Config, *, max_retry_time: float | None = None) -> Connector:
    """The configured CRM's connector; ``max_retry_time`` overrides crm.sync.max_retry_time
    (``syncd check`` answers within seconds instead of retrying for minutes)."""
    return CONNECTORS[config.crm.provider](config, max_retry_time)
