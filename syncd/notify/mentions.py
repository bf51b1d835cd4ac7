"""E-mail -> Slack user, for @-mentions: config overrides first, then a cached
``users.lookupByEmail``.

Answers are kept in ``slack_user``: a user found for :data:`FOUND_FOR`, an e-mail Slack does
not know for :data:`MISSING_FOR` (someone may join the workspace). A Slack error is not an
answer: nothing is cached, no further e-mail is looked up in that call, and the message shows
the person's e-mail instead of a mention; a mention never fails a message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from syncd.store import tables as t

log = logging.getLogger("syncd.notify.mentions")

FOUND_FOR = timedelta(days=7)
MISSING_FOR = timedelta(days=1)


class Lookup(Protocol):
    def lookup_user(self, email: str) -> str | None: ...


def resolve(engine: sa.Engine, emails: Iterable[str], now: datetime, *,
            overrides: Mapping[str, str], client: Lookup | None) -> dict[str, str | None]:
    """Each e-mail's Slack user id, or None (unknown, or Slack unreachable)."""
    from syncd.notify.slack import SlackError

    wanted = sorted({e.strip().lower() for e in emails if e and e.strip()})
    found: dict[str, str | None] = {}
    todo = []
    for email in wanted:
        override = next((v for k, v in overrides.items() if k.lower() == email), None)
        if override is not None:
            found[email] = override
        else:
            todo.append(email)
    if not todo:
        return found
    u = t.slack_user.c
    with engine.begin() as conn:
        cached = {r.email: (r.user_id, r.looked_up_at) for r in conn.execute(
            sa.select(u.email, u.user_id, u.looked_up_at).where(u.email.in_(todo)))}
    fresh: list[dict[str, object]] = []
    for email in todo:
        hit = cached.get(email)
        if hit is not None:
            user_id, when = hit
            if now - when < (FOUND_FOR if user_id else MISSING_FOR):
                found[email] = user_id
                continue
        if client is None:
            found[email] = hit[0] if hit else None
            continue
        try:
            user_id = client.lookup_user(email)
        except SlackError as exc:
            log.warning("no mention for %s: %s", email, exc)
            found[email] = hit[0] if hit else None
            client = None  # Slack is unreachable or refuses: do not wait once per e-mail
            continue
        found[email] = user_id
        fresh.append({"email": email, "user_id": user_id, "looked_up_at": now})
    if fresh:
        with engine.begin() as conn:
            insert = (postgresql.insert(t.slack_user) if conn.dialect.name == "postgresql"
                      else sqlite.insert(t.slack_user))
            conn.execute(insert.on_conflict_do_update(
                index_elements=["email"],
                set_={"user_id": insert.excluded.user_id,
                      "looked_up_at": insert.excluded.looked_up_at}), fresh)
    return found
