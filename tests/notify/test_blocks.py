"""Block Kit builders within Slack's limits; long messages split, never cut."""

from __future__ import annotations

import pytest

from syncd.notify.blocks import (
    MAX_BLOCKS,
    SECTION_TEXT,
    BlockLimitError,
    ChartFile,
    Message,
    Part,
    check,
    context,
    divider,
    escape,
    fields,
    header,
    image,
    link,
    problems,
    section,
    sections,
    split_messages,
)


def test_escape_and_links() -> None:
    assert escape("R&D <PME> > 3") == "R&amp;D &lt;PME&gt; &gt; 3"
    assert link("https://crm/deal?a=1&b=2", "Acme <SA> | CH") == (
        "<https://crm/deal?a=1&amp;b=2|Acme &lt;SA&gt; ¦ CH>")
    assert link(None, "Acme & Co") == "Acme &amp; Co"


def test_header_is_plain_text_and_visibly_shortened() -> None:
    long = "Objectif " * 30
    block = header(long)
    assert block["text"]["type"] == "plain_text"
    assert len(block["text"]["text"]) == 150
    assert block["text"]["text"].endswith("…")
    assert problems(Message("t", (block,))) == []


def test_section_refuses_what_slack_refuses() -> None:
    with pytest.raises(BlockLimitError, match="3000"):
        section("x" * (SECTION_TEXT + 1))
    with pytest.raises(BlockLimitError):
        section("   ")


def test_sections_split_long_text_at_line_ends_and_keep_everything() -> None:
    lines = [f"ligne {n} " + "x" * 90 for n in range(100)]
    blocks = sections("\n".join(lines))
    assert len(blocks) > 3
    assert all(len(b["text"]["text"]) <= SECTION_TEXT for b in blocks)
    joined = "\n".join(b["text"]["text"] for b in blocks)
    assert joined == "\n".join(lines)
    one_long_line = " ".join(["mot"] * 2000)
    parts = sections(one_long_line)
    assert len(parts) == 3
    assert " ".join(b["text"]["text"] for b in parts) == one_long_line


def test_fields_ten_per_section() -> None:
    blocks = fields([f"*{n}*" for n in range(23)])
    assert [len(b["fields"]) for b in blocks] == [10, 10, 3]
    with pytest.raises(BlockLimitError):
        fields(["x" * 2001])


def test_context_and_image() -> None:
    assert len(context("a", "", "b")["elements"]) == 2
    with pytest.raises(BlockLimitError):
        context(*["x"] * 11)
    assert image("courbe", file_id="F1")["slack_file"] == {"id": "F1"}
    with pytest.raises(BlockLimitError):
        image("courbe")


def test_problems_finds_every_broken_limit() -> None:
    bad = Message("", (
        {"type": "header", "text": {"type": "mrkdwn", "text": "x"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11},
        {"type": "context", "elements": []},
        {"type": "carousel"},
        *[divider()] * 50,
    ))
    found = problems(bad)
    assert "no plain-text fallback" in found
    assert any("55 blocks" in p for p in found)
    assert any("plain_text" in p for p in found)
    assert any("3001" in p for p in found)
    assert any("11 fields" in p for p in found)
    assert any("context elements" in p for p in found)
    assert any("carousel" in p for p in found)
    with pytest.raises(BlockLimitError):
        check(bad)


def test_a_short_message_is_not_split() -> None:
    [message] = split_messages([header("Revue"), section("ok")], "Revue")
    assert message.text == "Revue"
    assert len(message.blocks) == 2


def test_split_keeps_parts_whole_with_their_files_and_marks_pages() -> None:
    chart = ChartFile("kr-7.png", "KR 7", b"png")
    parts = [Part((section(f"KR {n}"), context(f"owner {n}")),
                  (chart,) if n == 7 else ()) for n in range(60)]
    messages = split_messages([header("Digest"), *parts], "Digest")
    assert len(messages) == 3
    for n, message in enumerate(messages, start=1):
        assert problems(message) == []
        assert message.text == f"Digest ({n}/3)"
        assert message.blocks[-1] == context(f"({n}/3)")
        assert len(message.blocks) <= MAX_BLOCKS
    texts = [b["text"]["text"] for m in messages for b in m.blocks if b["type"] == "section"]
    assert texts == [f"KR {n}" for n in range(60)]
    for message in messages:  # a KR's section and its context stay in one message
        owners = [b["elements"][0]["text"] for b in message.blocks if b["type"] == "context"]
        kr = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
        assert [f"owner {t.split()[1]}" for t in kr] == owners[:-1]
    holder = next(m for m in messages if any(
        b.get("text", {}).get("text") == "KR 7" for b in m.blocks))
    assert holder.files == (chart,)
    assert sum(len(m.files) for m in messages) == 1


def test_split_by_size_as_well_as_count() -> None:
    parts = [section("x" * 2900) for _ in range(10)]
    messages = split_messages(parts, "Long", max_chars=12_000)
    assert len(messages) == 3
    assert all(problems(m) == [] for m in messages)


def test_an_empty_digest_still_has_a_message() -> None:
    [message] = split_messages([], "Rien à signaler")
    assert problems(message) == []
    assert message.payload()["text"] == "Rien à signaler"
