"""Tree objects over their raw bytes: entries looked up by binary search, changes spliced in.

Trees like outputs/ and state/runs/ hold one entry per run (10,000 runs: half a megabyte each); a
registration changes a few entries of each, so it neither decodes nor re-sorts the rest.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping

TREE_MODE = "40000"


@functools.cache
def _tree_entry_re(raw_len: int) -> re.Pattern[bytes]:
    return re.compile(rb"([0-7]+) ([^\0]+)\0(.{%d})" % raw_len, re.DOTALL)  # mode SP name NUL raw id


class Tree(Mapping[str, tuple[str, str]]):
    """A tree object's entries (name -> (mode, hex id)) over its raw bytes. Trees like outputs/ hold one
    entry per run: a lookup is a binary search over the entries' offsets (one regex pass at C speed
    finds them), and `with_entries` splices changes into the raw bytes; nothing decodes every entry."""

    def __init__(self, raw: bytes, raw_len: int = 20) -> None:
        self.raw, self.raw_len = raw, raw_len
        self._starts: list[int] | None = None

    def _offsets(self) -> list[int]:
        if self._starts is None:
            self._starts = [m.start() for m in _tree_entry_re(self.raw_len).finditer(self.raw)]
        return self._starts

    def _entry(self, i: int) -> tuple[bytes, bytes, int]:
        """(mode, name, end offset) of the i-th entry."""
        start = self._offsets()[i]
        space = self.raw.index(b" ", start)
        nul = self.raw.index(b"\0", space)
        return self.raw[start:space], self.raw[space + 1 : nul], nul + 1 + self.raw_len

    def _position(self, key: bytes) -> int:
        """The index of the first entry whose sort key (a directory's name ends in '/') is >= key."""
        lo, hi = 0, len(self._offsets())
        while lo < hi:
            mid = (lo + hi) // 2
            mode, name, _ = self._entry(mid)
            if (name + b"/" if mode == TREE_MODE.encode() else name) < key:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _find(self, name: bytes) -> int | None:
        """The index of the entry called name (a file or a directory), or None."""
        for key in (name, name + b"/"):
            i = self._position(key)
            if i < len(self._offsets()) and self._entry(i)[1] == name:
                return i
        return None

    def __getitem__(self, name: str) -> tuple[str, str]:
        i = self._find(name.encode())
        if i is None:
            raise KeyError(name)
        mode, _, end = self._entry(i)
        return mode.decode(), self.raw[end - self.raw_len : end].hex()

    def __iter__(self) -> Iterator[str]:
        return (self._entry(i)[1].decode() for i in range(len(self._offsets())))

    def __len__(self) -> int:
        return len(self._offsets())

    def with_entries(self, changes: Mapping[str, tuple[str, str]]) -> bytes:
        """The raw tree with these entries (name -> (mode, hex id)) added or replaced."""
        cuts: list[tuple[int, int, bytes, bytes]] = []  # raw[from:to] becomes entry (sort key last)
        for name, (mode, sha) in changes.items():
            encoded = name.encode()
            key = encoded + b"/" if mode == TREE_MODE else encoded
            entry = f"{mode} {name}\0".encode() + bytes.fromhex(sha)
            i = self._find(encoded)
            if i is not None:
                start, end = self._offsets()[i], self._entry(i)[2]
                same_kind = self._entry(i)[0] == mode.encode()  # else a file becomes a folder: it sorts elsewhere
                cuts.append((start, end, entry if same_kind else b"", key))
                if same_kind:
                    continue
            at = self._position(key)
            offset = self._offsets()[at] if at < len(self._offsets()) else len(self.raw)
            cuts.append((offset, offset, entry, key))
        out, pos = [], 0
        for start, end, entry, _ in sorted(cuts, key=lambda c: (c[0], c[1], c[3])):
            out += [self.raw[pos:start], entry]
            pos = end
        return b"".join([*out, self.raw[pos:]])


def serialize_tree(entries: Mapping[str, tuple[str, str]]) -> bytes:
    # git orders a directory's name as if it ended in '/'; str order is UTF-8 byte order.
    names = sorted(entries, key=lambda n: n + "/" if entries[n][0] == TREE_MODE else n)
    return b"".join([f"{entries[n][0]} {n}\0".encode() + bytes.fromhex(entries[n][1]) for n in names])
