"""Notifications: the alert lifecycle's store side, the outbox, Slack delivery and rendering.

Data flow: findings --(syncd.notify.lifecycle + rules.alerts)--> alert state and outbox rows,
written in one transaction --(syncd.notify.sender)--> Slack. Messages are rendered when a row is
queued (``syncd.notify.render_*``) so a retry posts exactly what was decided.
"""
