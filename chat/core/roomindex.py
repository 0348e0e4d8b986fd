"""Rooms ordered by size, so `/rooms` costs O(page) however many rooms exist.

Rooms of equal size share a bucket (insertion-ordered); the distinct sizes are kept sorted.
A join or part moves one room between two neighbouring buckets: a dict operation plus, when a
bucket appears or empties, a `bisect` into the list of distinct sizes, of which there are few
(a server with M members in rooms has at most about sqrt(2M) distinct room sizes). Listing the
largest rooms walks buckets from the top and stops after one page.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator


class SizeIndex:
    __slots__ = ("_buckets", "_size", "_sizes")

    def __init__(self) -> None:
        self._size: dict[str, int] = {}  # key -> size (only sizes > 0)
        self._buckets: dict[int, dict[str, None]] = {}
        self._sizes: list[int] = []  # distinct sizes, ascending

    def __len__(self) -> int:
        return len(self._size)

    def __contains__(self, key: str) -> bool:
        return key in self._size

    def set(self, key: str, size: int) -> None:
        """Record that `key` has `size` members (0 removes it)."""
        old = self._size.get(key, 0)
        if old == size:
            return
        if old:
            bucket = self._buckets[old]
            del bucket[key]
            if not bucket:
                del self._buckets[old]
                del self._sizes[bisect_left(self._sizes, old)]
        if size > 0:
            self._size[key] = size
            if size not in self._buckets:
                self._buckets[size] = {}
                insort(self._sizes, size)
            self._buckets[size][key] = None
        else:
            del self._size[key]

    def largest(self) -> Iterator[tuple[str, int]]:
        """`(key, size)` from the largest room down; consume before the next `set`."""
        for size in reversed(self._sizes):
            for key in self._buckets[size]:
                yield key, size
