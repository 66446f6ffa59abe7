"""Resources and scopes as a service: create, update, delete, link to OAuth clients, list.

Follows Authgear's pkg/lib/resourcescope: a resource is identified by its URI (an https URL
without query, fragment or user info, at most 100 characters); a scope is an RFC 6749 scope-token
unique within its resource. A client must be linked to a resource before any of the resource's
scopes can be given to it; unlinking a resource keeps the client's scopes on it (as Authgear does),
so linking it again gives them back. Every change is flushed in the caller's transaction.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, and_, bindparam, delete, func, join, or_, select
from sqlalchemy.exc import IntegrityError

from app.db import Clock, utcnow
from app.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from app.extensions import db
from app.resources.models import (
    SCOPE_MAX_LENGTH,
    URI_MAX_LENGTH,
    ClientResource,
    ClientResourceScope,
    Resource,
    Scope,
)
from app.roles.service import escape_like

# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
# Scopes with a meaning of their own at the authorization endpoint (Authgear's oauth.AllowedScopes):
# a resource may not define them, so a token's scope never reads as one of them.
RESERVED_SCOPES = (
    "offline_access",
    "device_sso",
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "https://authgear.com/scopes/full-access",
    "https://authgear.com/scopes/full-userinfo",
    "https://authgear.com/scopes/pre-authenticated-url",
)


@dataclass(frozen=True)
class GrantableResource:
    """A resource linked to a client, and the names of the client's scopes on it (by name)."""

    id: str
    uri: str
    scopes: list[str]


# One row per scope of the client on the resource at `uri` (one row with no scope when it has none),
# `link_id` None when the resource is not linked to the client; no row for an unknown URI. Built once:
# building a statement costs more than running it.
_CLIENT_SCOPES = join(ClientResourceScope, Scope, Scope.id == ClientResourceScope.scope_id)
_GRANTABLE = (
    select(Resource.id, ClientResource.id.label("link_id"), Scope.scope)
    .select_from(Resource)
    .outerjoin(
        ClientResource,
        and_(ClientResource.resource_id == Resource.id, ClientResource.client_id == bindparam("client_id")),
    )
    .outerjoin(
        _CLIENT_SCOPES,
        and_(
            ClientResource.id.is_not(None),
            Scope.resource_id == Resource.id,
            ClientResourceScope.client_id == bindparam("client_id"),
        ),
    )
    .where(Resource.uri == bindparam("uri"))
    .order_by(Scope.scope)
)


class ResourceNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("ResourceNotFound", "resource not found")


class ResourceDuplicateURI(BadRequest):
    def __init__(self) -> None:
        super().__init__("ResourceDuplicateURI", "duplicate resource uri")


class ScopeNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("ScopeNotFound", "scope not found")


class ScopeDuplicate(BadRequest):
    def __init__(self) -> None:
        super().__init__("ScopeDuplicate", "duplicate scope")


class ClientNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("ClientNotFound", "client not found")


class ResourceNotAssociatedWithClient(Forbidden):
    def __init__(self) -> None:
        super().__init__("ResourceNotAssociatedWithClient", "resource is not associated with the client")


def _invalid(location: str, kind: str, message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed([{"location": location, "kind": kind, "details": details}], message)


def _length(location: str, value: str, limit: int) -> None:
    if len(value) < 1:
        raise _invalid(location, "minLength", f"{location[1:]} must not be empty", expected=1, actual=0)
    if len(value) > limit:
        raise _invalid(location, "maxLength", f"{location[1:]} is too long", expected=limit, actual=len(value))


def resource_uri_error(uri: str) -> str | None:
    """Why `uri` is not a resource URI (Authgear's `x_resource_uri` format), or None."""
    if _CONTROL_OR_SPACE.search(uri):
        return "invalid URI"
    scheme, sep, rest = uri.partition(":")
    if not sep or not rest.startswith("//"):
        # Go's url.Parse calls `https:foo` opaque; without a scheme there is no host.
        return "resource URI must start with https://" if sep else "resource URI must have non-empty host"
    try:
        parts = urlsplit(uri)
        _ = parts.port  # a malformed port is a parse error
    except ValueError:
        return "invalid URI"
    if "@" in parts.netloc:
        return "resource URI must not have user info"
    if not parts.hostname:
        return "resource URI must have non-empty host"
    if scheme.lower() != "https":
        return f"invalid scheme: {scheme.lower()}"
    if parts.query:
        return "resource URI must not have query"
    if parts.fragment:
        return "resource URI must not have fragment"
    path = parts.path or "/"
    # Authgear's FormatAbsolutePath: the path must already be in its clean form (no `//`, `.`, `..`).
    segments = path.split("/")[1:]
    inner = segments[:-1] if path.endswith("/") else segments
    if any(s in ("", ".", "..") for s in inner) or (segments and segments[-1] in (".", "..")):
        return f"invalid path: {path}"
    return None


def validate_resource_uri(uri: str) -> str:
    _length("/resourceURI", uri, URI_MAX_LENGTH)
    error = resource_uri_error(uri)
    if error is not None:
        raise _invalid("/resourceURI", "format", error, format="x_resource_uri", error=error)
    return uri


def validate_new_scope(scope: str) -> str:
    _length("/scope", scope, SCOPE_MAX_LENGTH)
    error = None
    if not _SCOPE_TOKEN.match(scope):
        error = "invalid scope-token: forbidden character"
    elif scope.startswith("https://authgear.com"):
        error = "scope not allowed"
    if error is not None:
        raise _invalid("/scope", "format", error, format="x_scope_token", error=error)
    if scope in RESERVED_SCOPES:
        raise _invalid("/scope", "not", "this scope is reserved")
    return scope


def _optional_text(value: str | None) -> str | None:
    """Authgear stores an empty name or description as none."""
    return value or None


class ResourceService:
    def __init__(self, client_exists: Callable[[str], bool], clock: Clock = utcnow) -> None:
        """`client_exists`: whether a client ID is in the project's `oauth.clients`."""
        self.client_exists = client_exists
        self.clock = clock

    # -- resources ------------------------------------------------------------------------------
    def create_resource(self, uri: str, name: str | None = None) -> Resource:
        now = self.clock()
        row = Resource(uri=validate_resource_uri(uri), name=_optional_text(name), created_at=now, updated_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            raise ResourceDuplicateURI() from None
        return row

    def update_resource(self, uri: str, name: str | None) -> Resource:
        """None leaves the name as it is; the empty string removes it."""
        row = self.resource_by_uri(uri)
        if name is not None:
            row.name = _optional_text(name)
        row.updated_at = self.clock()
        db.session.flush()
        return row

    def delete_resource(self, uri: str) -> Resource:
        """The resource, its scopes and every client link to either."""
        row = self.resource_by_uri(uri)
        # Explicit deletes rather than ON DELETE CASCADE alone: SQLite enforces foreign keys only
        # when asked to, and the links must never outlive the resource.
        for model in (ClientResourceScope, ClientResource, Scope):
            db.session.execute(delete(model).where(model.resource_id == row.id))
        db.session.delete(row)
        db.session.flush()
        return row

    def resource_by_uri(self, uri: str) -> Resource:
        # No stored URI is longer or holds a NUL (which PostgreSQL refuses in text), so neither is looked up.
        fits = len(uri) <= URI_MAX_LENGTH and "\x00" not in uri
        row = db.session.scalar(select(Resource).where(Resource.uri == uri)) if fits else None
        if row is None:
            raise ResourceNotFound()
        return row

    # -- scopes ---------------------------------------------------------------------------------
    def create_scope(self, resource_uri: str, scope: str, description: str | None = None) -> Scope:
        validate_new_scope(scope)
        resource = self.resource_by_uri(resource_uri)
        now = self.clock()
        row = Scope(
            resource_id=resource.id,
            scope=scope,
            description=_optional_text(description),
            created_at=now,
            updated_at=now,
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            raise ScopeDuplicate() from None
        return row

    def update_scope(self, resource_uri: str, scope: str, description: str | None) -> Scope:
        """None leaves the description as it is; the empty string removes it."""
        row = self.scope_of(resource_uri, scope)
        if description is not None:
            row.description = _optional_text(description)
        row.updated_at = self.clock()
        db.session.flush()
        return row

    def delete_scope(self, resource_uri: str, scope: str) -> Scope:
        row = self.scope_of(resource_uri, scope)
        db.session.execute(delete(ClientResourceScope).where(ClientResourceScope.scope_id == row.id))
        db.session.delete(row)
        db.session.flush()
        return row

    def scope_of(self, resource_uri: str, scope: str) -> Scope:
        resource = self.resource_by_uri(resource_uri)
        row = db.session.scalar(select(Scope).where(Scope.resource_id == resource.id, Scope.scope == scope))
        if row is None:
            raise ScopeNotFound()
        return row

    # -- client links ---------------------------------------------------------------------------
    def add_resource_to_client(self, resource_uri: str, client_id: str) -> Resource:
        self._client(client_id)
        resource = self.resource_by_uri(resource_uri)
        if self._client_resource(client_id, resource.id) is None:
            now = self.clock()
            link = ClientResource(client_id=client_id, resource_id=resource.id, created_at=now, updated_at=now)
            try:
                with db.session.begin_nested():
                    db.session.add(link)
                    db.session.flush()
            except IntegrityError:
                pass  # added at the same moment by another request: the link is there either way
        return resource

    def remove_resource_from_client(self, resource_uri: str, client_id: str) -> Resource:
        self._client(client_id)
        resource = self.resource_by_uri(resource_uri)
        link = (ClientResource.client_id == client_id, ClientResource.resource_id == resource.id)
        db.session.execute(delete(ClientResource).where(*link))
        db.session.flush()
        return resource

    def add_scopes_to_client(self, resource_uri: str, client_id: str, scopes: list[str]) -> list[Scope]:
        resource = self._linked_resource(resource_uri, client_id)
        wanted = self._scopes_named(resource.id, scopes)
        self._link_scopes(client_id, resource.id, wanted)
        return self.client_scopes(client_id, resource.id)

    def remove_scopes_from_client(self, resource_uri: str, client_id: str, scopes: list[str]) -> list[Scope]:
        resource = self._linked_resource(resource_uri, client_id)
        unwanted = self._scopes_named(resource.id, scopes)
        self._unlink_scopes(client_id, [s.id for s in unwanted])
        return self.client_scopes(client_id, resource.id)

    def replace_scopes_of_client(self, resource_uri: str, client_id: str, scopes: list[str]) -> list[Scope]:
        resource = self._linked_resource(resource_uri, client_id)
        wanted = self._scopes_named(resource.id, scopes)
        wanted_ids = {s.id for s in wanted}
        current = self.client_scopes(client_id, resource.id)
        self._link_scopes(client_id, resource.id, [s for s in wanted if s.id not in {c.id for c in current}])
        self._unlink_scopes(client_id, [c.id for c in current if c.id not in wanted_ids])
        return self.client_scopes(client_id, resource.id)

    # -- what a client may ask for (the token endpoint) -----------------------------------------
    def client_resource(self, client_id: str, resource_uri: str) -> Resource:
        """The resource at `resource_uri` when it is linked to the client; ResourceNotFound or
        ResourceNotAssociatedWithClient otherwise."""
        resource = self.resource_by_uri(resource_uri)
        if self._client_resource(client_id, resource.id) is None:
            raise ResourceNotAssociatedWithClient()
        return resource

    @staticmethod
    def grantable(client_id: str, resource_uri: str) -> GrantableResource:
        """What `client_resource` and `client_scopes` say together, in one statement (the token
        endpoint's client_credentials asks on every request): ResourceNotFound or
        ResourceNotAssociatedWithClient as `client_resource` raises them."""
        fits = len(resource_uri) <= URI_MAX_LENGTH and "\x00" not in resource_uri
        rows = db.session.execute(_GRANTABLE, {"uri": resource_uri, "client_id": client_id}).all() if fits else []
        if not rows:
            raise ResourceNotFound()
        if rows[0].link_id is None:
            raise ResourceNotAssociatedWithClient()
        return GrantableResource(rows[0].id, resource_uri, [r.scope for r in rows if r.scope is not None])

    @staticmethod
    def client_scopes(client_id: str, resource_id: str) -> list[Scope]:
        """The client's scopes on the resource, by scope name."""
        stmt = (
            select(Scope)
            .join(ClientResourceScope, ClientResourceScope.scope_id == Scope.id)
            .where(Scope.resource_id == resource_id, ClientResourceScope.client_id == client_id)
            .order_by(Scope.scope)
        )
        return list(db.session.scalars(stmt))

    # -- listing --------------------------------------------------------------------------------
    @staticmethod
    def resources_query(search_keyword: str | None, client_id: str | None) -> Select[Any]:
        """Resources whose URI or name contains the keyword (any case), linked to the client when
        given; newest first, as Authgear lists them."""
        stmt = select(Resource)
        if search_keyword:
            pattern = "%" + escape_like(search_keyword.lower()) + "%"
            stmt = stmt.where(
                or_(
                    func.lower(Resource.uri).like(pattern, escape="\\"),
                    func.lower(func.coalesce(Resource.name, "")).like(pattern, escape="\\"),
                )
            )
        if client_id:
            stmt = stmt.join(ClientResource, ClientResource.resource_id == Resource.id).where(
                ClientResource.client_id == client_id
            )
        return stmt

    @staticmethod
    def scopes_query(resource_id: str, search_keyword: str | None, client_id: str | None) -> Select[Any]:
        """The resource's scopes whose name or description contains the keyword, given to the
        client when given; by scope name, as Authgear lists them."""
        stmt = select(Scope).where(Scope.resource_id == resource_id)
        if search_keyword:
            pattern = "%" + escape_like(search_keyword.lower()) + "%"
            stmt = stmt.where(
                or_(
                    func.lower(Scope.scope).like(pattern, escape="\\"),
                    func.lower(func.coalesce(Scope.description, "")).like(pattern, escape="\\"),
                )
            )
        if client_id:
            stmt = stmt.join(ClientResourceScope, ClientResourceScope.scope_id == Scope.id).where(
                ClientResourceScope.client_id == client_id
            )
        return stmt

    @staticmethod
    def client_ids_of_resources(resource_ids: Iterable[str]) -> dict[str, list[str]]:
        """The linked client IDs of each resource, in one query."""
        out: dict[str, list[str]] = defaultdict(list)
        stmt = (
            select(ClientResource.resource_id, ClientResource.client_id)
            .where(ClientResource.resource_id.in_(list(resource_ids)))
            .order_by(ClientResource.created_at, ClientResource.client_id)
        )
        for resource_id, client_id in db.session.execute(stmt):
            out[resource_id].append(client_id)
        return out

    # -- internals ------------------------------------------------------------------------------
    def _client(self, client_id: str) -> None:
        if not self.client_exists(client_id):
            raise ClientNotFound()

    def _linked_resource(self, resource_uri: str, client_id: str) -> Resource:
        self._client(client_id)
        return self.client_resource(client_id, resource_uri)

    @staticmethod
    def _client_resource(client_id: str, resource_id: str) -> ClientResource | None:
        link = (ClientResource.client_id == client_id, ClientResource.resource_id == resource_id)
        return db.session.scalar(select(ClientResource).where(*link))

    @staticmethod
    def _scopes_named(resource_id: str, names: list[str]) -> list[Scope]:
        """The resource's scopes of these names, in the order given; ScopeNotFound when one is missing."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []
        found = {
            s.scope: s
            for s in db.session.scalars(select(Scope).where(Scope.resource_id == resource_id, Scope.scope.in_(wanted)))
        }
        missing = [n for n in wanted if n not in found]
        if missing:
            raise ScopeNotFound()
        return [found[n] for n in wanted]

    def _link_scopes(self, client_id: str, resource_id: str, scopes: list[Scope]) -> None:
        existing = set(
            db.session.scalars(
                select(ClientResourceScope.scope_id).where(
                    ClientResourceScope.client_id == client_id,
                    ClientResourceScope.scope_id.in_([s.id for s in scopes]),
                )
            )
        )
        now = self.clock()
        for scope in scopes:
            if scope.id in existing:
                continue
            link = ClientResourceScope(
                client_id=client_id, resource_id=resource_id, scope_id=scope.id, created_at=now, updated_at=now
            )
            try:
                with db.session.begin_nested():
                    db.session.add(link)
                    db.session.flush()
            except IntegrityError:
                pass  # given at the same moment by another request

    @staticmethod
    def _unlink_scopes(client_id: str, scope_ids: list[str]) -> None:
        if scope_ids:
            db.session.execute(
                delete(ClientResourceScope).where(
                    ClientResourceScope.client_id == client_id, ClientResourceScope.scope_id.in_(scope_ids)
                )
            )
            db.session.flush()
