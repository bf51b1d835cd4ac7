"""Block Kit checks of the Slack sandbox: Slack's documented limits, answered like Slack.

A message breaking a limit is refused with ``invalid_blocks``; each problem is one string in
``errors`` and, prefixed with ``[ERROR]``, in ``response_metadata.messages``, ending with a
JSON pointer to the offending value (``must be less than 3001 characters
[json-pointer:/blocks/0/text/text]``), which is the shape Slack answers with. Checked:

- at most 50 blocks; each block an object with a known ``type``; ``block_id`` <= 255;
- ``section``: ``text`` and/or ``fields``; text <= 3,000 characters; at most 10 fields, each
  <= 2,000;
- ``header``: a ``plain_text`` text of at most 150 characters;
- ``context``: 1 to 10 elements; ``actions``: at most 25 elements;
- text objects: type ``plain_text`` or ``mrkdwn`` and a non-empty ``text``.

Other block types are accepted as they are (their inner limits are not checked).
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
SECTION_TEXT = 3000
SECTION_FIELDS = 10
FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BLOCK_ID = 255
#: Slack cuts ``text`` past this many characters (the message is still posted).
MAX_TEXT = 40_000

KNOWN_TYPES = frozenset({
    "actions", "context", "divider", "file", "header", "image", "input", "markdown",
    "rich_text", "section", "video", "table", "context_actions",
})


def _text_object(obj: Any, pointer: str, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"must provide an object [json-pointer:{pointer}]"]
    kind = obj.get("type")
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if kind not in allowed:
        expected = " or ".join(allowed)
        return [f"must be a valid enum value ({expected}) [json-pointer:{pointer}/type]"]
    text = obj.get("text")
    if not isinstance(text, str):
        return [f"must provide a string [json-pointer:{pointer}/text]"]
    if not text:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _section(block: dict[str, Any], at: str) -> list[str]:
    errors: list[str] = []
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        errors.append(f"must provide text or fields [json-pointer:{at}]")
    if text is not None:
        errors += _text_object(text, f"{at}/text", SECTION_TEXT)
    if fields is not None:
        if not isinstance(fields, list):
            return [*errors, f"must provide an array [json-pointer:{at}/fields]"]
        if len(fields) > SECTION_FIELDS:
            errors.append(f"no more than {SECTION_FIELDS} items allowed [json-pointer:{at}/fields]")
        for i, field in enumerate(fields):
            errors += _text_object(field, f"{at}/fields/{i}", FIELD_TEXT)
    return errors


def _elements(block: dict[str, Any], at: str, most: int, least: int = 0) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list):
        return [f"must provide an array [json-pointer:{at}/elements]"]
    if len(elements) > most:
        return [f"no more than {most} items allowed [json-pointer:{at}/elements]"]
    if len(elements) < least:
        return [f"must provide at least {least} item [json-pointer:{at}/elements]"]
    return []


def _block(block: Any, at: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"must provide an object [json-pointer:{at}]"]
    kind = block.get("type")
    if not isinstance(kind, str):
        return [f"missing required field: type [json-pointer:{at}]"]
    if kind not in KNOWN_TYPES:
        return [f"unsupported type: {kind} [json-pointer:{at}/type]"]
    errors: list[str] = []
    block_id = block.get("block_id")
    if isinstance(block_id, str) and len(block_id) > BLOCK_ID:
        errors.append(f"must be less than {BLOCK_ID + 1} characters [json-pointer:{at}/block_id]")
    if kind == "section":
        errors += _section(block, at)
    elif kind == "header":
        errors += _text_object(block.get("text"), f"{at}/text", HEADER_TEXT, plain_only=True)
    elif kind == "context":
        errors += _elements(block, at, CONTEXT_ELEMENTS, least=1)
    elif kind == "actions":
        errors += _elements(block, at, ACTIONS_ELEMENTS, least=1)
    return errors


def block_errors(blocks: Any) -> list[str]:
    """Every limit the blocks break (empty: they are fine)."""
    if not isinstance(blocks, list):
        return ["must provide an array [json-pointer:/blocks]"]
    if len(blocks) > MAX_BLOCKS:
        return [f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]
    errors: list[str] = []
    for i, block in enumerate(blocks):
        errors += _block(block, f"/blocks/{i}")
    return errors
