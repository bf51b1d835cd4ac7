"""Slack Block Kit pieces that stay within Slack's limits, and the messages made of them.

Limits (``/work/shared/reference/alerting.md``, Slack's Block Kit reference): 50 blocks per
message; a section's text 3,000 characters; up to 10 section fields of 2,000; a header 150
characters of plain text; up to 10 context elements; ``text`` cut past 40,000 (we stay far
below). The builders never cut a figure silently:

- :func:`sections` splits a long text at line ends into as many sections as needed;
- :func:`fields` puts 10 fields per section and as many sections as needed;
- :func:`header` is a title: past 150 characters it ends with ``…`` (visibly);
- :func:`split_messages` spreads a long digest over several messages, ``(1/2)``, ``(2/2)``,
  each with its plain-text fallback, keeping each :class:`Part` (a KR's blocks, its chart)
  in one message.

:func:`problems` lists every limit a message breaks; tests run it on everything rendered.
User text (KR names, deal names, reasons) goes through :func:`escape` before it reaches
mrkdwn: ``&``, ``<`` and ``>`` are Slack's control characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
MAX_FIELDS = 10
FIELD_TEXT = 2000
CONTEXT_ELEMENTS = 10
CONTEXT_TEXT = 2000
MESSAGE_TEXT = 40_000
#: Block text per message beyond which :func:`split_messages` starts a new message: Slack
#: refuses very long block payloads (``msg_too_long``), and a reader scrolls less.
MESSAGE_CHARS = 12_000

Block = dict[str, Any]


class BlockLimitError(ValueError):
    """A block would break one of Slack's limits (the message says which and by how much)."""


@dataclass(frozen=True, slots=True)
class ChartFile:
    """A file to upload in the message's thread (``files_upload_v2``)."""

    filename: str
    title: str
    content: bytes
    alt_text: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """One Slack message: the plain ``text`` fallback (notifications show it), the blocks,
    and the files to upload in its thread."""

    text: str
    blocks: tuple[Block, ...] = ()
    files: tuple[ChartFile, ...] = ()

    def payload(self) -> dict[str, Any]:
        """The ``chat.postMessage`` / ``chat.update`` arguments (without channel)."""
        return {"text": self.text, "blocks": [dict(b) for b in self.blocks]}


@dataclass(frozen=True, slots=True)
class Part:
    """Blocks that belong together in one message (a KR and its lines), with their files."""

    blocks: tuple[Block, ...]
    files: tuple[ChartFile, ...] = ()


# --------------------------------------------------------------------------- text


def escape(text: str) -> str:
    """User text made safe for mrkdwn: ``&`` ``<`` ``>`` as entities (Slack's rule)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, label: str) -> str:
    """``<url|label>`` (label escaped), or the escaped label alone without a URL."""
    shown = escape(label).replace("|", "¦")
    if not url:
        return shown
    return f"<{escape(url).replace('|', '%7C')}|{shown}>"


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _ellipsis(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- blocks


def header(text: str) -> Block:
    """A header (plain text); past 150 characters it ends with ``…``."""
    clean = " ".join(text.split())
    return {"type": "header", "text": {"type": "plain_text", "text": _ellipsis(clean,
                                                                               HEADER_TEXT),
                                       "emoji": True}}


def section(text: str, *, block_id: str | None = None) -> Block:
    """One mrkdwn section; :class:`BlockLimitError` past 3,000 characters (use
    :func:`sections` for text that may be longer)."""
    if not text.strip():
        raise BlockLimitError("a section needs some text")
    if len(text) > SECTION_TEXT:
        raise BlockLimitError(f"section text of {len(text)} characters; Slack takes "
                              f"{SECTION_TEXT}: use sections() to split it")
    block: Block = {"type": "section", "text": _mrkdwn(text)}
    if block_id:
        block["block_id"] = block_id[:255]
    return block


def sections(text: str, *, limit: int = SECTION_TEXT) -> list[Block]:
    """``text`` in as many sections as needed, split at line ends (a line longer than the
    limit is split at a space, else hard)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            pieces = line[:cut], line[cut:].lstrip()
            chunks, current = _push(chunks, current, pieces[0], limit)
            line = pieces[1]
        chunks, current = _push(chunks, current, line, limit)
    if current.strip():
        chunks.append(current)
    return [section(c) for c in chunks if c.strip()]


def _push(chunks: list[str], current: str, line: str, limit: int) -> tuple[list[str], str]:
    joined = f"{current}\n{line}" if current else line
    if len(joined) <= limit:
        return chunks, joined
    if current.strip():
        chunks.append(current)
    return chunks, line


def fields(items: Sequence[str]) -> list[Block]:
    """Sections of at most 10 mrkdwn fields; a field past 2,000 characters is refused."""
    for item in items:
        if len(item) > FIELD_TEXT:
            raise BlockLimitError(f"a field of {len(item)} characters; Slack takes "
                                  f"{FIELD_TEXT}")
    return [{"type": "section", "fields": [_mrkdwn(i) for i in items[n:n + MAX_FIELDS]]}
            for n in range(0, len(items), MAX_FIELDS)]


def context(*texts: str) -> Block:
    """A context line (small grey text) of up to 10 mrkdwn elements."""
    kept = [t for t in texts if t]
    if not kept or len(kept) > CONTEXT_ELEMENTS:
        raise BlockLimitError(f"a context takes 1 to {CONTEXT_ELEMENTS} elements, not "
                              f"{len(kept)}")
    return {"type": "context", "elements": [_mrkdwn(_ellipsis(t, CONTEXT_TEXT)) for t in kept]}


def divider() -> Block:
    return {"type": "divider"}


def image(alt_text: str, *, url: str | None = None, file_id: str | None = None,
          title: str | None = None) -> Block:
    """An image block from a public ``url`` or an uploaded Slack file (``file_id``)."""
    if (url is None) == (file_id is None):
        raise BlockLimitError("an image needs exactly one of url and file_id")
    block: Block = {"type": "image", "alt_text": _ellipsis(alt_text or "chart", 2000)}
    if url is not None:
        block["image_url"] = url
    else:
        block["slack_file"] = {"id": file_id}
    if title:
        block["title"] = {"type": "plain_text", "text": _ellipsis(title, 2000)}
    return block


# --------------------------------------------------------------------------- checks


def _block_text(block: Block) -> int:
    size = 0
    text = block.get("text")
    if isinstance(text, dict):
        size += len(text.get("text", ""))
    for item in [*block.get("fields", ()), *block.get("elements", ())]:
        size += len(item.get("text", "")) if isinstance(item, dict) else 0
    return size


def problems(message: Message) -> list[str]:
    """Every Slack limit ``message`` breaks (empty when it can be posted)."""
    found: list[str] = []
    if not message.text.strip():
        found.append("no plain-text fallback")
    if len(message.text) > MESSAGE_TEXT:
        found.append(f"text of {len(message.text)} characters (max {MESSAGE_TEXT})")
    if len(message.blocks) > MAX_BLOCKS:
        found.append(f"{len(message.blocks)} blocks (max {MAX_BLOCKS})")
    ids = [b["block_id"] for b in message.blocks if "block_id" in b]
    if len(ids) != len(set(ids)):
        found.append("duplicate block_id")
    for n, block in enumerate(message.blocks):
        found.extend(f"block {n}: {p}" for p in _block_problems(block))
    return found


def _block_problems(block: Block) -> Iterable[str]:
    kind = block.get("type")
    text = block.get("text")
    if kind == "header":
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            yield "a header's text must be plain_text"
        elif not 0 < len(text.get("text", "")) <= HEADER_TEXT:
            yield f"header of {len(text.get('text', ''))} characters (1 to {HEADER_TEXT})"
    elif kind == "section":
        items = block.get("fields", [])
        if text is None and not items:
            yield "a section without text or fields"
        if isinstance(text, dict) and not 0 < len(text.get("text", "")) <= SECTION_TEXT:
            yield f"section text of {len(text.get('text', ''))} characters (1 to {SECTION_TEXT})"
        if len(items) > MAX_FIELDS:
            yield f"{len(items)} fields (max {MAX_FIELDS})"
        for item in items:
            if not 0 < len(item.get("text", "")) <= FIELD_TEXT:
                yield f"field of {len(item.get('text', ''))} characters (1 to {FIELD_TEXT})"
    elif kind == "context":
        elements = block.get("elements", [])
        if not 0 < len(elements) <= CONTEXT_ELEMENTS:
            yield f"{len(elements)} context elements (1 to {CONTEXT_ELEMENTS})"
        for item in elements:
            if item.get("type") in ("mrkdwn", "plain_text") and not item.get("text"):
                yield "an empty context element"
    elif kind == "image":
        if not block.get("alt_text"):
            yield "an image without alt_text"
    elif kind not in ("divider", "actions", "rich_text"):
        yield f"unknown block type {kind!r}"


def check(message: Message) -> Message:
    """``message`` if it breaks no limit, else :class:`BlockLimitError` listing what."""
    found = problems(message)
    if found:
        raise BlockLimitError("; ".join(found))
    return message


# --------------------------------------------------------------------------- splitting


def split_messages(items: Sequence[Block | Part], text: str, *,
                   files: Sequence[ChartFile] = (), max_blocks: int = MAX_BLOCKS,
                   max_chars: int = MESSAGE_CHARS) -> list[Message]:
    """``items`` in as many messages as Slack's limits need, nothing cut.

    A :class:`Part` stays whole in one message unless it alone is too big; its files go with
    it. Several messages each get ``(i/n)`` in their fallback ``text`` and a context line;
    ``files`` not tied to a part go with the first message.
    """
    parts = [i if isinstance(i, Part) else Part((i,)) for i in items]
    room = max_blocks - 1  # one block for the (i/n) marker
    pages: list[tuple[list[Block], list[ChartFile]]] = [([], list(files))]
    for part in parts:
        blocks, attached = pages[-1]
        size = sum(_block_text(b) for b in blocks)
        part_size = sum(_block_text(b) for b in part.blocks)
        fits = (len(blocks) + len(part.blocks) <= room
                and (not blocks or size + part_size <= max_chars))
        if not fits and blocks:
            pages.append(([], []))
            blocks, attached = pages[-1]
        attached.extend(part.files)
        for block in part.blocks:
            if len(blocks) >= room:
                pages.append(([], []))
                blocks, attached = pages[-1]
            blocks.append(block)
    pages = [p for p in pages if p[0]] or [([section(escape(text) or "…")], list(files))]
    total = len(pages)
    if total == 1:
        return [Message(text, tuple(pages[0][0]), tuple(pages[0][1]))]
    out = []
    for n, (blocks, attached) in enumerate(pages, start=1):
        marker = f"({n}/{total})"
        out.append(Message(f"{text} {marker}", (*blocks, context(marker)), tuple(attached)))
    return out


__all__ = [
    "MAX_BLOCKS", "Block", "BlockLimitError", "ChartFile", "Message", "Part", "check",
    "context", "divider", "escape", "fields", "header", "image", "link", "mention",
    "problems", "section", "sections", "split_messages",
]
