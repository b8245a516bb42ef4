"""Run text is inert in the committed markdown: parsed by a real CommonMark/GFM parser, a report
rendered from hostile text has exactly the structure (headings, tables, lists, links, images,
HTML, emphasis) of the same report rendered from harmless text, and still shows the user's words.

The parser is markdown-it-py with GFM tables, strikethrough, raw HTML and linkify (bare URLs,
www. and e-mail addresses become links), which is stricter than GitHub about bare domains.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from markdown_it import MarkdownIt

from gerhard import layout
from gerhard.core import reports
from gerhard.core.derive import rebuild_files
from gerhard.core.program import program_from_dict
from gerhard.core.records import RunRecord

RUN_ID = "20260223T190000Z_v15"
DOSSIER = f"run_dossier_{RUN_ID}.html"

SUMMARY = """# Fake heading
## Gates
| gate | PASS |
| --- | --- |
![x](https://evil.example/t.png) [click](https://evil.example) <https://evil.example/a> [ref][r]
bare https://evil.example/b and HTTP://evil.example/c, www.evil.example, ftp://evil.example/d
<img src=x onerror=alert(1)> <!-- hidden --> </td> &lt;b&gt; &#x5B;a&#x5D;

> a quote
- a list item
+ another
* and another
1. ordered
7) ordered too
    indented code
```fence
~~~
***
___
- - -
A setext heading
===
Another
---
**bold** __strong__ *em* _em_ ~~strike~~ ~one~ `code` ``two`` $x^2$ $$y$$ trailing backslash \\
mail me@evil.example, mailto:me@evil.example, xmpp:me@evil.example/r, @octocat, recall@10 is fine
[r]: https://evil.example/ref
[^1]: a footnote [^1]
- [ ] a task"""
NEXT_ACTION = "[rerun](https://evil.example/rerun) now\n# then\n| a | b |\n|---|---|\n<script>alert(1)</script>"
CELL_TEXT = "x | ![i](https://evil.example/i.png) **b** <b>c</b> https://evil.example/d me@evil.example `e` \\"
PROGRAM_NAME = "asnn ![p](https://evil.example/p.png) | <b>x</b> www.evil.example"
TITLE = "Spiking | [t](https://evil.example/t) _conversion_"
HOSTILE = [SUMMARY, NEXT_ACTION, CELL_TEXT, PROGRAM_NAME, TITLE]

MD = MarkdownIt("gfm-like")  # CommonMark + GFM tables, strikethrough, raw HTML, linkify
INERT = {"text", "code_inline"}  # what run text may become (an '@' is kept apart in a code span)


def harmless(text: str) -> str:
    """The same text without anything markdown could read: letters, digits and the same whitespace."""
    return re.sub(r"[^A-Za-z0-9\s]", "x", text)


def hostile_files(make: Any = lambda text: text) -> dict[str, str]:
    """Every markdown file gerhard derives, for one RED run whose every text field is `make(...)`."""
    program = program_from_dict(
        {
            "program": make(PROGRAM_NAME),
            "phases": [{"id": "A", "title": make(TITLE), "required": []}, {"id": "B", "required": []}],
        }
    )
    gate = {
        "id": make("g|![i](https://evil.example/g.png)"),
        "severity": "blocking",
        "observed": make(CELL_TEXT),
        "threshold": make("<= [t](https://evil.example/t) | x"),
        "passed": False,
        "reason": make("**" + CELL_TEXT),
    }
    record = {
        "run_id": RUN_ID,
        "seq": 1,
        "phase": "A",
        "verdict": "RED",
        "forced": False,
        "gates": [gate, dict(gate, id=make("www.evil.example"), passed=True, reason="")],
        "metrics": {make(CELL_TEXT): make(CELL_TEXT), make("m\n# h"): 1.5},
        "config_sha256": "ab" * 32,
        "config": {},
        "seed": make("[s](https://evil.example/s)"),
        "code_sha": make("abc` [c](https://evil.example/c) `|"),
        "code_dirty": True,
        "code_sha_source": "provenance.json",
        "artifact_root": f"outputs/{RUN_ID}",
        "bundle_sha256": "cd" * 32,
        "registered_at": "2026-02-23T19:05:00Z",
        "summary": make(SUMMARY),
        "next_action": make(NEXT_ACTION),
        "dossier": DOSSIER,
    }
    files = rebuild_files(program, [RunRecord.from_dict(record)], lambda rel: None)
    return {rel: text for rel, text in files.items() if rel.endswith(".md")}


def skeleton(text: str) -> list[tuple[Any, ...]]:
    """Every token but the words: blocks, table cells, links and images with their targets, HTML, emphasis."""
    out: list[tuple[Any, ...]] = []
    for token in MD.parse(text):
        if token.type != "inline":
            out.append((token.type, token.tag, token.info, token.content if token.type.startswith("html") else ""))
            continue
        for child in token.children or []:
            if child.type not in INERT:
                out.append((child.type, child.tag, child.attrGet("href"), child.attrGet("src"), child.content))
    return out


def visible(text: str) -> str:
    """The words a reader sees, whitespace collapsed (an inline code span's text included)."""
    words = []
    for token in MD.parse(text):
        for child in token.children or []:
            words.append(child.content if child.type in INERT else " ")
        words.append(" ")
    return " ".join("".join(words).split())


def one_line(text: str) -> str:
    return " ".join(text.split())


FILES = hostile_files()
HARMLESS = hostile_files(harmless)
MARKDOWN = [layout.INDEX, layout.BOARD, f"reports/2026/02/{RUN_ID}.md", "reports/2026/02/index.md"]


def test_every_markdown_file_is_checked() -> None:
    assert sorted(FILES) == sorted(MARKDOWN) == sorted(HARMLESS)


@pytest.mark.parametrize("rel", MARKDOWN)
def test_hostile_text_adds_no_structure(rel: str) -> None:
    assert skeleton(FILES[rel]) == skeleton(HARMLESS[rel])


@pytest.mark.parametrize("rel", MARKDOWN)
def test_the_only_links_and_images_are_gerhards(rel: str) -> None:
    links = [t for t in skeleton(FILES[rel]) if t[0] in ("link_open", "image")]
    assert all(t[0] == "link_open" and "evil" not in str(t[2]) for t in links), links
    assert "<img" not in FILES[rel] and "<script" not in FILES[rel] and "<b>" not in FILES[rel]


def test_gerhards_own_structure_is_all_there() -> None:
    report = skeleton(FILES[f"reports/2026/02/{RUN_ID}.md"])
    assert [t[1] for t in report if t[0] == "heading_open"] == ["h1", "h2", "h2", "h2"]
    assert [t[0] for t in report].count("table_open") == 3
    assert [t[2] for t in report if t[0] == "link_open"] == [
        f"../../../outputs/{RUN_ID}/",
        f"../../../outputs/{RUN_ID}/{DOSSIER}",
    ]
    index = skeleton(FILES[layout.INDEX])
    assert [t[2] for t in index if t[0] == "link_open"] == [
        f"2026/02/{RUN_ID}.md",
        f"../state/needs_input/{RUN_ID}.yaml",
        f"2026/02/{RUN_ID}.md",
        "2026/02/index.md",
    ]
    assert [t[2] for t in skeleton(FILES["reports/2026/02/index.md"]) if t[0] == "link_open"] == [
        "../../index.md",
        f"{RUN_ID}.md",
    ]


def test_the_report_shows_the_users_words() -> None:
    seen = visible(FILES[f"reports/2026/02/{RUN_ID}.md"])
    for text in (SUMMARY, NEXT_ACTION, CELL_TEXT, TITLE, "abc` [c](https://evil.example/c) `|", "m # h"):
        assert one_line(text) in seen, text
    assert "[s](https://evil.example/s)" in seen and "g|![i](https://evil.example/g.png)" in seen


def test_the_index_month_page_and_board_show_the_users_words() -> None:
    row = one_line(SUMMARY)[:200].rstrip()
    for rel in (layout.INDEX, "reports/2026/02/index.md"):
        assert row in visible(FILES[rel]), rel
    assert one_line(PROGRAM_NAME) in visible(FILES[layout.INDEX])
    board = visible(FILES[layout.BOARD])
    for text in (PROGRAM_NAME, TITLE, CELL_TEXT, "www.evil.example"):
        assert one_line(text) in board, text


def test_harmless_text_is_left_as_it_is() -> None:
    assert reports.cell("val_loss went up 3.05 -> 2.9, lr=3e-4 (x2); 50% done") == (
        "val_loss went up 3.05 -&gt; 2.9, lr=3e-4 (x2); 50% done"
    )
    assert reports.para("Loss went up.\nNext: rerun with recall@10, d_model 512") == (
        "Loss went up.\nNext: rerun with recall@10, d_model 512"
    )


@pytest.mark.parametrize(
    ("text", "inert"),
    [
        ("https://evil.example/x", "https\\:\\//evil\\.example/x"),  # GFM matches '://' in the source
        ("www.evil.example", "www\\.evil\\.example"),
        ("me@evil.example", "me`@`evil\\.example"),  # GitHub links addresses after escapes are gone
        ("@octocat", "`@`octocat"),
        ("mailto:me@x.io", "mailto\\:me`@`x\\.io"),
        ("recall@10", "recall@10"),
        ("$x$ ~y~", "\\$x\\$ \\~y\\~"),
        ("_a_ b_c __d__", "\\_a\\_ b_c \\_\\_d\\_\\_"),
        ("&amp; & &#91;", "\\&amp; & \\&#91;"),
        ("[^1] ![i](u)", "\\[^1] !\\[i](u)"),
        ("`x` \\", "\\`x\\` \\\\"),
    ],
)
def test_inline(text: str, inert: str) -> None:
    assert reports.inline(text) == inert


@pytest.mark.parametrize(
    ("text", "inert"),
    [
        ("# h\n## h", "\\# h\n\\## h"),
        ("- a\n+ b\n* c", "\\- a\n\\+ b\n\\* c"),
        ("1. a\n22) b\n1.5 is a number", "1\\. a\n22\\) b\n1.5 is a number"),
        ("T\n===\nU\n---", "T\n\\===\nU\n\\---"),
        ("    code\n\tcode", "code\ncode"),
        ("a\n\n\n\nb  \n", "a\n\nb"),
        ("> q\n<div>", "&gt; q\n&lt;div&gt;"),
        ("a\r\nb\rc", "a\nb\nc"),
    ],
)
def test_para_lines_open_no_block(text: str, inert: str) -> None:
    assert reports.para(text) == inert


@pytest.mark.parametrize(
    ("value", "span"),
    [
        ("3f9c2a1", "`3f9c2a1`"),
        ("a`b", "``a`b``"),
        ("`a``", "``` `a`` ```"),
        ("a|b\nc", "`a\\|b c`"),
    ],
)
def test_code(value: str, span: str) -> None:
    assert reports.code(value) == span
