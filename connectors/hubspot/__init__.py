"""HubSpot CRM v3 connector (through hubspot-api-client)."""

from connectors.hubspot.client import HubSpotHttp, RetryPolicy
from connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConnector", "HubSpotHttp", "RetryPolicy"]
