"""Run text (summary, next action, decision reasons, names from a notebook or a downloaded dossier) made
safe to store.

Line ends become '\\n' (a dossier saved on Windows brings CRLF); any other control character is
refused, because it would reach the commit message, the YAML records and the reports as it is.

Size: a run record holds a text of up to MAX_TEXT_BYTES (64 KiB, UTF-8) whole; a longer one is refused,
not cut, so what was registered is what was written. A commit message carries each text on one line
of at most MESSAGE_TEXT_BYTES (4 KiB), cut there with a note that the record holds it whole.
"""

from __future__ import annotations

import unicodedata

from gerhard.errors import UserError

_KEPT = frozenset("\n\t")
MAX_TEXT_BYTES = 64 * 1024
MESSAGE_TEXT_BYTES = 4 * 1024
CUT_NOTE = " … (cut: the run record holds the whole text)"


def clean_text(label: str, text: str) -> str:
    """text with CRLF and lone CR made LF; a UserError naming the first other control character, or
    saying the text is longer than a run record holds."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) > MAX_TEXT_BYTES // 4 else len(text)
    if size > MAX_TEXT_BYTES:
        raise UserError(
            f"{label} is {size:,} bytes, over the {MAX_TEXT_BYTES:,} a run record holds: shorten it "
            "(put long notes in a bundle file) and register again"
        )
    bad = next((c for c in text if c not in _KEPT and unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise UserError(f"{label} contains the control character {bad!r}: remove it and register again")
    return text


def one_line(text: str, limit: int = MESSAGE_TEXT_BYTES) -> str:
    """Text as one line of a commit message: whitespace runs made one space, at most `limit` bytes of
    UTF-8 (cut at a character, with CUT_NOTE), "(none)" when empty."""
    line = " ".join(text.split()) or "(none)"
    data = line.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return line
    room = limit - len(CUT_NOTE.encode())
    return data[:room].decode("utf-8", "ignore").rstrip() + CUT_NOTE
