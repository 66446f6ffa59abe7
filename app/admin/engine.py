"""Executes Admin API documents: parse and validate once per distinct document (LRU cache),
refuse abusive documents by depth and cost, run the resolvers, format errors in one place.

Cost is a static estimate of the objects a document can return: every field costs 1 times the
number of parents it is resolved for, a connection multiplies the cost of its `edges` by its page
size (`first`/`last` when given as a literal, else the page size limit) and adds a fixed cost for
its database query (once per field: batch loaders fetch it for all parents together). An
operation has at most MAX_ROOT_FIELDS top-level fields (aliases included). The limits depend on
the document only, so a cached document is checked once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute_sync,
    get_named_type,
    parse,
    validate,
)

from app.admin.errors import format_error
from app.admin.pagination import MAX_PAGE_SIZE
from app.errors import BadRequest

MAX_DEPTH = 15
MAX_COST = 500_000
CONNECTION_QUERY_COST = 10
MAX_ROOT_FIELDS = 50
MAX_TOKENS = 20_000
CACHE_SIZE = 512


@dataclass(frozen=True)
class Prepared:
    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]


class AdminGraphQL:
    def __init__(
        self, schema: GraphQLSchema, max_depth: int = MAX_DEPTH, max_cost: int = MAX_COST, cache_size: int = CACHE_SIZE
    ) -> None:
        self.schema = schema
        self.max_depth = max_depth
        self.max_cost = max_cost
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = threading.Lock()

    def prepare(self, query: str) -> Prepared:
        """The parsed document, or the errors that stop it; cached by the query text."""
        with self._lock:
            hit = self._cache.get(query)
            if hit is not None:
                self._cache.move_to_end(query)
                return hit
        prepared = self._prepare(query)
        with self._lock:
            self._cache[query] = prepared
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return prepared

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
            errors = validate(self.schema, document)
            if errors:
                return Prepared(None, tuple(errors))
            limit_error = self._check_limits(document)
        except GraphQLSyntaxError as error:
            return Prepared(None, (error,))
        except RecursionError:
            # Thousands of nested selections or list literals: deeper than any limit, refused as such.
            message = f"query is too deep: more than {self.max_depth} levels"
            error = GraphQLError(
                message, original_error=BadRequest("QueryTooDeep", message, {"maxDepth": self.max_depth})
            )
            return Prepared(None, (error,))
        if limit_error is not None:
            return Prepared(None, (limit_error,))
        return Prepared(document, ())

    def execute(
        self, query: str, variables: dict[str, Any] | None, operation_name: str | None, context: Any
    ) -> tuple[dict[str, Any], bool]:
        """The response body and whether it is free of errors."""
        prepared = self.prepare(query)
        if prepared.document is None:
            return {"errors": [format_error(e) for e in prepared.errors]}, False
        result: ExecutionResult = execute_sync(
            self.schema,
            prepared.document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
        )
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [format_error(e) for e in result.errors]
        body["data"] = result.data
        return body, not result.errors

    # -- depth and cost ---------------------------------------------------------------------------
    def _check_limits(self, document: DocumentNode) -> GraphQLError | None:
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        for op in document.definitions:
            if not isinstance(op, OperationDefinitionNode):
                continue
            root = self.schema.get_root_type(op.operation)
            root_fields = len(_flatten(op.selection_set, fragments))
            if root_fields > MAX_ROOT_FIELDS:
                message = f"too many top-level fields: {root_fields}, at most {MAX_ROOT_FIELDS}"
                return GraphQLError(
                    message,
                    original_error=BadRequest(
                        "QueryTooComplex", message, {"rootFields": root_fields, "maxRootFields": MAX_ROOT_FIELDS}
                    ),
                )
            walker = _Walker(self.schema, fragments)
            cost = walker.cost(op.selection_set, root, 1, 1)
            if walker.max_depth > self.max_depth:
                return GraphQLError(
                    f"query is too deep: {walker.max_depth} levels, at most {self.max_depth}",
                    original_error=BadRequest(
                        "QueryTooDeep",
                        f"query is too deep: {walker.max_depth} levels, at most {self.max_depth}",
                        {"depth": walker.max_depth, "maxDepth": self.max_depth},
                    ),
                )
            if cost > self.max_cost:
                return GraphQLError(
                    f"query is too complex: cost {cost}, at most {self.max_cost}",
                    original_error=BadRequest(
                        "QueryTooComplex",
                        f"query is too complex: cost {cost}, at most {self.max_cost}",
                        {"cost": cost, "maxCost": self.max_cost},
                    ),
                )
        return None


class _Walker:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.max_depth = 0

    def cost(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None, multiplier: int, depth: int
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, multiplier, depth)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    target = self.schema.get_type(selection.type_condition.name.value)
                total += self.cost(selection.selection_set, target, multiplier, depth)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                target = self.schema.get_type(fragment.type_condition.name.value)
                total += self.cost(fragment.selection_set, target, multiplier, depth)
        return total

    def _field(self, node: FieldNode, parent: GraphQLNamedType | None, multiplier: int, depth: int) -> int:
        self.max_depth = max(self.max_depth, depth)
        field_type = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(node.name.value)
            field_type = get_named_type(definition.type) if definition is not None else None
        if node.name.value == "__schema":
            field_type = self.schema.get_type("__Schema")
        elif node.name.value == "__type":
            field_type = self.schema.get_type("__Type")
        total = multiplier
        if field_type is not None and field_type.name.endswith("Connection") and node.selection_set is not None:
            total += CONNECTION_QUERY_COST  # batch loaders: one query per field, not per parent
            page = _page_size(node.arguments)
            for sub in _flatten(node.selection_set, self.fragments):
                sub_mult = multiplier * page if sub.name.value == "edges" else multiplier
                sub_type = field_type.fields.get(sub.name.value) if isinstance(field_type, GraphQLObjectType) else None
                named = get_named_type(sub_type.type) if sub_type is not None else None
                self.max_depth = max(self.max_depth, depth + 1)
                total += sub_mult + self.cost(sub.selection_set, named, sub_mult, depth + 2)
            return total
        return total + self.cost(node.selection_set, field_type, multiplier, depth + 1)


def _flatten(selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]) -> Sequence[FieldNode]:
    """The fields of a selection set on a concrete type, fragments expanded."""
    out: list[FieldNode] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            out.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            out.extend(_flatten(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            out.extend(_flatten(fragments[selection.name.value].selection_set, fragments))
    return out


def _page_size(arguments: Sequence[Any]) -> int:
    """The literal `first`/`last`; a variable or no argument counts as a full page."""
    sizes = [
        int(arg.value.value)
        for arg in arguments or ()
        if arg.name.value in ("first", "last") and isinstance(arg.value, IntValueNode)
    ]
    if not sizes:
        return MAX_PAGE_SIZE
    return max(0, min(max(sizes), MAX_PAGE_SIZE))
