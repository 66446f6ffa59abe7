"""Per-request state of the Admin API: the caller, the services and the batch loaders.

Batch loading without an event loop: every resolver that returns a list of objects records their
IDs (`see`). When a field of one of them first needs related rows (identities, roles, ...), its
loader fetches them for all the IDs seen so far in one query, so a page of 100 users costs one
query per related table instead of 100.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.context import RequestContext
from app.services import Services

BatchFn = Callable[[list[Any]], dict[Any, Any]]


class BatchLoader:
    def __init__(self, ctx: AdminContext, kind: str, fn: BatchFn, default: Callable[[], Any]) -> None:
        self.ctx = ctx
        self.kind = kind
        self.fn = fn
        self.default = default
        self.cache: dict[Any, Any] = {}

    def load(self, key: Any) -> Any:
        if key not in self.cache:
            keys = {key} | {k for k in self.ctx.seen[self.kind] if k not in self.cache}
            found = self.fn(sorted(keys))
            for k in keys:
                self.cache[k] = found.get(k, self.default())
        return self.cache[key]


@dataclass
class AdminContext:
    services: Services
    request: RequestContext
    audit_context: dict[str, Any] | None = None
    seen: defaultdict[str, set[Any]] = field(default_factory=lambda: defaultdict(set))
    loaders: dict[Any, BatchLoader] = field(default_factory=dict)

    def see(self, kind: str, keys: Iterable[Any]) -> None:
        """Records objects that a list returned, so their loaders batch them together."""
        self.seen[kind].update(keys)

    def loader(self, name: Any, kind: str, fn: BatchFn, default: Callable[[], Any] = list) -> BatchLoader:
        loader = self.loaders.get(name)
        if loader is None:
            loader = self.loaders[name] = BatchLoader(self, kind, fn, default)
        return loader

    def reset(self) -> None:
        """Forgets loaded rows; mutations call it so their payloads show the new state."""
        self.loaders.clear()
