"""Notifications: incident and breaker events to webhooks (Standard Webhooks or Slack)."""

from failsoft.notify.payloads import (
    BREAKER_CLOSED,
    BREAKER_OPENED,
    EVENT_TYPES,
    INCIDENT_OPENED,
    INCIDENT_RESOLVED,
    INCIDENT_UPDATED,
    breaker_data,
    breaker_event_type,
    incident_data,
    render,
    slack,
    standard,
)
from failsoft.notify.signing import SignatureError, Signer, secret_key, sign, verify
from failsoft.notify.webhooks import DeadLetter, Endpoint, WebhookSender

__all__ = [
    "BREAKER_CLOSED",
    "BREAKER_OPENED",
    "EVENT_TYPES",
    "INCIDENT_OPENED",
    "INCIDENT_RESOLVED",
    "INCIDENT_UPDATED",
    "DeadLetter",
    "Endpoint",
    "SignatureError",
    "Signer",
    "WebhookSender",
    "breaker_data",
    "breaker_event_type",
    "incident_data",
    "render",
    "secret_key",
    "sign",
    "slack",
    "standard",
    "verify",
]
