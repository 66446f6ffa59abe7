"""Relay cursor connections (https://relay.dev/graphql/connections.htm) over offsets.

A cursor is base64url of `offset:<n>`. `first`/`last` above the page size limit are clamped to
it; without either, a page holds the limit. `totalCount` and the rows are fetched only when the
query asks for them, and `last` without `before` is the only case that needs the count first.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.crypto import b64url, b64url_decode
from app.errors import Invalid

MAX_PAGE_SIZE = 100
_CURSOR = re.compile(r"^offset:(\d{1,9})$")


def encode_cursor(offset: int) -> str:
    return b64url(f"offset:{offset}".encode())


def decode_cursor(cursor: str) -> int:
    try:
        match = _CURSOR.match(b64url_decode(cursor).decode("ascii"))
    except (binascii.Error, ValueError):
        match = None
    if match is None:
        raise Invalid("InvalidCursor", "invalid cursor")
    return int(match.group(1))


@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    last: int | None = None
    after: int | None = None
    before: int | None = None

    @classmethod
    def parse(cls, args: dict[str, Any], limit: int = MAX_PAGE_SIZE) -> PageArgs:
        first, last = args.get("first"), args.get("last")
        for name, value in (("first", first), ("last", last)):
            if value is not None and value < 0:
                raise Invalid("Invalid", f"{name} must not be negative")
        after, before = args.get("after"), args.get("before")
        return cls(
            first=None if first is None else min(first, limit),
            last=None if last is None else min(last, limit),
            after=None if after is None else decode_cursor(after),
            before=None if before is None else decode_cursor(before),
        )

    def key(self) -> tuple[int | None, ...]:
        return (self.first, self.last, self.after, self.before)


class Connection:
    """A page of a list; `fetch(offset, limit)` returns rows, `count()` the list's length."""

    def __init__(
        self,
        args: PageArgs,
        fetch: Callable[[int, int], Sequence[Any]],
        count: Callable[[], int],
        limit: int = MAX_PAGE_SIZE,
        total_with_page: bool = False,
    ) -> None:
        """`total_with_page`: fetching the page also learns the total (see `known_total`), so
        `totalCount` loads the page first rather than running `count()`."""
        self._args = args
        self._total_with_page = total_with_page
        self._fetch = fetch
        self._count = count
        self._limit = limit
        self._total: int | None = None
        self._page: tuple[list[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def totalCount(self) -> int:  # noqa: N802 (GraphQL field name)
        # `last` without `before` needs the total to find the page, so it cannot come from the page.
        page_first = self._total_with_page and not (self._args.last is not None and self._args.before is None)
        if self._total is None and page_first:
            self._load()
        if self._total is None:
            self._total = self._count()
        return self._total

    def known_total(self, total: int) -> None:
        """The list's length, learned while fetching a page (saves the count query)."""
        if self._total is None:
            self._total = total

    @property
    def edges(self) -> list[dict[str, Any]]:
        return self._load()[0]

    @property
    def pageInfo(self) -> dict[str, Any]:  # noqa: N802 (GraphQL field name)
        return self._load()[1]

    def nodes(self) -> list[Any]:
        return [e["node"] for e in self.edges]

    def window(self) -> tuple[int, int]:
        """`[start, end)` of the page (Relay's ApplyCursorsToEdges, then first/last)."""
        a = self._args
        start = a.after + 1 if a.after is not None else 0
        end = a.before if a.before is not None else None
        if end is not None and end < start:
            end = start
        if a.first is not None:
            end = start + a.first if end is None else min(end, start + a.first)
        if a.last is not None:
            if end is None:
                end = self.totalCount
            start = max(start, end - a.last)
        if end is None:
            end = start + self._limit
        return start, max(start, min(end, start + self._limit))

    def _load(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if self._page is None:
            start, end = self.window()
            size = end - start
            rows = list(self._fetch(start, size + 1)) if size >= 0 else []
            has_next = len(rows) > size
            edges = [{"cursor": encode_cursor(start + i), "node": row} for i, row in enumerate(rows[:size])]
            info = {
                "hasPreviousPage": start > 0,
                "hasNextPage": has_next,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            }
            self._page = (edges, info)
        return self._page


def list_connection(items: Sequence[Any], args: dict[str, Any]) -> Connection:
    """A connection over a list already in memory (a user's identities, roles, ...)."""
    return Connection(PageArgs.parse(args), lambda offset, limit: items[offset : offset + limit], lambda: len(items))
