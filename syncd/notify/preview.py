"""A Slack message on a terminal: its Block Kit blocks as Slack lays them out, in a panel.

Headers bold, sections as text (``*bold*``, ``_italic_``, ``~strike~`` and ``<url|label>`` links
turned into terminal styles), fields in two columns, context lines dimmed, dividers as rules,
the files that go in the thread listed under the panel. The plain-text fallback (what the
notification shows) is the panel's title.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>|<(https?://[^>]+)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")


def mrkdwn(text: str) -> Text:
    """Slack's mrkdwn as rich text (entities decoded)."""
    marked = escape(text)
    marked = _LINK.sub(lambda m: f"[underline]{m.group(2) or m.group(3)}[/underline]", marked)
    marked = _MENTION.sub(r"[bold cyan]@\1[/bold cyan]", marked)
    marked = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"[bold]\1[/bold]", marked)
    marked = re.sub(r"(?<![\w~])~([^~\n]+)~(?![\w~])", r"[strike]\1[/strike]", marked)
    marked = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"[italic]\1[/italic]", marked)
    marked = marked.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return Text.from_markup(marked)


def _block(block: Mapping[str, Any]) -> RenderableType | None:
    kind = block.get("type")
    if kind == "header":
        return Text(block["text"]["text"], style="bold")
    if kind == "divider":
        return Rule(style="dim")
    if kind == "context":
        parts = [e.get("text", "") for e in block.get("elements", []) if "text" in e]
        line = mrkdwn("  ·  ".join(parts))
        line.stylize("dim")
        return line
    if kind == "section":
        rows: list[RenderableType] = []
        if block.get("text"):
            rows.append(mrkdwn(block["text"]["text"]))
        fields = block.get("fields") or []
        if fields:
            grid = Table.grid(padding=(0, 4))
            grid.add_column()
            grid.add_column()
            cells = [mrkdwn(f["text"]) for f in fields]
            for i in range(0, len(cells), 2):
                grid.add_row(*cells[i:i + 2])
            rows.append(grid)
        return Group(*rows)
    if kind == "image":
        return Text(f"[image: {block.get('alt_text', '')}]", style="dim")
    return None


def show(console: Console, text: str, blocks: Sequence[Mapping[str, Any]] | None,
         files: Sequence[str] = (), *, title: str | None = None) -> None:
    """Print one message as Slack would show it."""
    body = [r for r in (_block(b) for b in blocks or ()) if r is not None]
    if not body:
        body = [mrkdwn(text)]
    console.print(Panel(Group(*body), title=escape(title or text[:80]), title_align="left",
                        border_style="cyan", expand=False))
    for name in files:
        console.print(f"  📎 [dim]in the thread:[/dim] {escape(name)}")
