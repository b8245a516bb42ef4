"""Run text (summary, next action, names from a notebook or a downloaded dossier) made safe to store.

Line ends become '\\n' (a dossier saved on Windows brings CRLF); any other control character is
refused, because it would reach the commit message, the YAML records and the reports as it is.
"""

from __future__ import annotations

import unicodedata

from gerhard.errors import UserError

_KEPT = frozenset("\n\t")


def clean_text(label: str, text: str) -> str:
    """text with CRLF and lone CR made LF; a UserError naming the first other control character."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = next((c for c in text if c not in _KEPT and unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        raise UserError(f"{label} contains the control character {bad!r}: remove it and register again")
    return text
