"""What the demo's Slack sandbox received, drawn in the terminal, and its chart files on disk.

Every message syncd posts carries metadata with its outbox key (``alert:...``,
``digest:<ISO week>``, ``report:<month>``); the messages are grouped by it: the alerts (their
top-level messages), then each report with its thread, in the order Slack received them.
Mentions (``<@U…>``) are shown by the person's name, as Slack shows them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from syncd.notify.preview import show
from syncd.sandbox.slack import SlackFile, SlackMessage, SlackSandbox

_MENTION = re.compile(r"<@([A-Z0-9]+)>")


@dataclass(frozen=True, slots=True)
class Received:
    """The messages of one outbox entry (an alert, or a report and its thread)."""

    key: str  # the outbox key, "" when the message carries none
    messages: tuple[SlackMessage, ...]


def outbox_key(message: SlackMessage) -> str:
    payload = (message.metadata or {}).get("event_payload") or {}
    key = payload.get("key")
    return key if isinstance(key, str) else ""


def received(slack: SlackSandbox) -> list[Received]:
    """The top-level messages in ts order, each with the replies of its thread."""
    messages = slack.messages()
    groups: list[Received] = []
    for parent in messages:
        if parent.is_reply:
            continue
        replies = tuple(m for m in messages if m.is_reply and m.thread_ts == parent.ts)
        groups.append(Received(outbox_key(parent), (parent, *replies)))
    return groups


def with_names(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` (text or Block Kit) with each ``<@U…>`` of a known user as ``@Name``."""
    if isinstance(value, str):
        return _MENTION.sub(
            lambda m: f"@{names[m.group(1)]}" if m.group(1) in names else m.group(0), value)
    if isinstance(value, Mapping):
        return {k: with_names(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [with_names(v, names) for v in value]
    return value


class Channel:
    """Draws the sandbox's messages in a terminal."""

    def __init__(self, console: Console, slack: SlackSandbox) -> None:
        self.console = console
        self.groups = received(slack)
        self.files = {f.id: f for f in slack.files()}
        self.names = {u.id: u.name for u in slack.workspace.users.values()}

    def draw(self, message: SlackMessage, title: str) -> None:
        names = [self.files[f].filename for f in message.files if f in self.files]
        if not message.text and not message.blocks:  # an upload: its file only
            for name in names:
                self.console.print(f"  📎 [dim]in the thread:[/dim] {escape(name)}")
            return
        show(self.console, with_names(message.text, self.names),
             with_names(list(message.blocks), self.names), names,
             title=with_names(title, self.names))

    def alerts(self) -> list[Received]:
        """Draws every alert as the channel shows it (its top-level message)."""
        alerts = [g for g in self.groups if g.key.startswith("alert:")]
        self.console.print(f"\n[bold]Alerts posted to Slack[/] ({len(alerts)})")
        if not alerts:
            self.console.print("  none: every KR and rule is within its bounds")
        for group in alerts:
            top = group.messages[0]
            self.draw(top, top.text[:80])
        return alerts

    def reports(self) -> list[Received]:
        """Draws each report (the Monday digest, a monthly report) message by message, its
        thread included, exactly as posted."""
        reports = [g for g in self.groups if g.key and not g.key.startswith("alert:")]
        if not reports:
            self.console.print("\n[bold]Monday digest:[/] none was due at this instant (it is "
                               "due on Mondays at 07:30, the default without --now)")
        for group in reports:
            self.console.print(f"\n[bold]{escape(group.key)}[/] as posted to Slack: "
                               f"{len(group.messages)} message(s), the first one and its thread")
            for i, message in enumerate(group.messages, 1):
                self.draw(message, f"{group.key} ({i}/{len(group.messages)}) · "
                                   f"{message.text[:60]}")
        return reports


def write_files(files: Sequence[SlackFile], directory: Path) -> list[Path]:
    """The uploaded files' bytes under ``directory`` (one name per file: a repeated name
    gets the file id appended); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for file in files:
        if file.content is None:
            continue
        path = directory / file.filename
        if path in written:
            path = path.with_name(f"{path.stem}-{file.id}{path.suffix}")
        path.write_bytes(file.content)
        written.append(path)
    return written
