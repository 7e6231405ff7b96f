"""The cost limit: the most fields an answer may hold, computed before the operation runs.

Every field of the answer costs 1, and a list multiplies what it holds by its most items: a
connection by its `first`/`last` (a full page, strawberry's `relay_max_results`, when neither is
given), any other list by the cap it declares (`MOST_ITEMS` in its field's metadata), which its
resolver or the data layer enforces. So the cost is an upper bound on the answer's size,
whatever the data. Saleor prices its schema the same way (a cost map, connections multiplied by
`first`); GitHub's API requires `first`/`last` (1..100) and allows 500,000 nodes per call.

The bound depends on variables (`first: $n`), which validation rules do not see, so it is
computed by a schema extension once the document is valid and before it executes: a document
over the limit is refused with no SQL run. Fragments are sized once each (per page size), so a
chain of fragments that spread each other twice is sized in linear time.

Introspection (`__schema`, `__type`) is counted one per field selected: its answer is bounded
by the schema, not by data, and production switches it off.
"""

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    value_from_ast,
)
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.optimizer import is_optimized_by_prefetching
from strawberry_django.pagination import apply_window_pagination

# The metadata key of a list field's cap: `strawberry.field(metadata=most_items(50))`.
MOST_ITEMS = "foodgraph.most_items"
# Lists whose caps are not in their field's metadata. strawberry-django's OperationInfo holds
# the messages of one refused mutation, one per invalid input field and rule (the password
# validators give several).
OTHER_LISTS = {("OperationInfo", "messages"): 20}
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"


def most_items(most: int) -> dict[str, int]:
    """Field metadata declaring that a list field answers at most `most` items."""
    return {MOST_ITEMS: most}


class CappedRelatedList(StrawberryDjangoField):
    """A list of related objects (a reverse foreign key) that answers at most its cap.

    Prefetched by the optimizer, the cap is a window over each parent's rows (strawberry-django's
    own nested pagination), so it costs no extra query; fetched on its own, a slice.
    """

    def get_queryset(
        self,
        queryset: Any,
        info: Any,
        *,
        _strawberry_related_field_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if is_optimized_by_prefetching(queryset):
            return queryset  # capped when the optimizer built the prefetch, through here
        most = self.metadata[MOST_ITEMS]
        cached = queryset._result_cache
        if cached is not None:  # prefetched by hand (an answer from memory): trim the cache
            queryset._result_cache = cached[:most]
            return queryset
        queryset = super().get_queryset(
            queryset, info, _strawberry_related_field_id=_strawberry_related_field_id, **kwargs
        )
        if _strawberry_related_field_id is None:
            return queryset[:most]
        return apply_window_pagination(
            queryset, related_field_id=_strawberry_related_field_id, offset=0, limit=most
        )


def list_size(parent: GraphQLNamedType, name: str) -> int | None:
    """The cap of list field `name` of `parent`, as its field declares it; None if undeclared."""
    graphql_field = parent.fields[name]  # type: ignore[attr-defined]
    field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    declared = (getattr(field, "metadata", None) or {}).get(MOST_ITEMS)
    return declared if declared is not None else OTHER_LISTS.get((parent.name, name))


def is_connection(graphql_type: GraphQLNamedType) -> bool:
    return isinstance(graphql_type, GraphQLObjectType) and {"edges", "pageInfo"} <= set(
        graphql_type.fields
    )


def list_fields_without_a_size(schema: GraphQLSchema) -> list[str]:
    """Every list field of the schema whose cost has no bound: it must be empty."""
    return [
        f"{parent.name}.{name}"
        for parent, name in _list_fields(schema)
        if not (name == "edges" and is_connection(parent)) and list_size(parent, name) is None
    ]


def _list_fields(schema: GraphQLSchema) -> Iterator[tuple[GraphQLObjectType, str]]:
    for graphql_type in schema.type_map.values():
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType) and not (
            graphql_type.name.startswith("__")
        ):
            for name, field in graphql_type.fields.items():
                if isinstance(get_nullable_type(field.type), GraphQLList):
                    yield graphql_type, name  # type: ignore[misc]


class Pricing:
    """The cost of one operation, for one set of variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
        page_size: int,
    ) -> None:
        self.schema, self.fragments, self.page_size = schema, fragments, page_size
        self.variables = variables
        self.defaults = {
            definition.variable.name.value: definition.default_value
            for definition in operation.variable_definitions or ()
        }
        # (fragment, the page size of the connection it is spread in, flat) -> its cost.
        self.fragment_costs: dict[tuple[str, int | None, bool], int] = {}

    def cost(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        assert root is not None  # a valid document's
        return self.selections(operation.selection_set, root, None)

    def selections(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, page: int | None
    ) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, inner or parent, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, page)
        # A union or interface answers one of its types: every branch counts (an upper bound).
        return total

    def fragment(self, name: str, page: int | None, *, flat: bool = False) -> int:
        key = (name, page, flat)
        if key not in self.fragment_costs:
            self.fragment_costs[key] = 0  # a cycle: NoFragmentCyclesRule refused it already
            fragment = self.fragments[name]
            if flat:
                cost = self.flat(fragment.selection_set)
            else:
                condition = self.schema.get_type(fragment.type_condition.name.value)
                assert condition is not None  # a valid document's
                cost = self.selections(fragment.selection_set, condition, page)
            self.fragment_costs[key] = cost
        return self.fragment_costs[key]

    def field(self, node: FieldNode, parent: GraphQLNamedType, page: int | None) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 1 + self.flat(node.selection_set)  # __typename, or introspection
        assert isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)  # a valid document's
        field_type = parent.fields[name].type
        named = get_named_type(field_type)
        inner_page = self.page_of(node) if is_connection(named) else None
        inner = self.selections(node.selection_set, named, inner_page) if node.selection_set else 0
        if not isinstance(get_nullable_type(field_type), GraphQLList):
            return 1 + inner
        if name == "edges" and is_connection(parent):
            items = page if page is not None else self.page_size
        else:
            items = list_size(parent, name) or 0  # list_fields_without_a_size is checked
        return 1 + items * max(inner, 1)

    def flat(self, selection_set: SelectionSetNode | None) -> int:
        """Fields selected, each once: introspection's answer is bounded by the schema."""
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, None, flat=True)
            else:
                total += isinstance(selection, FieldNode) + self.flat(selection.selection_set)
        return total

    def page_of(self, node: FieldNode) -> int:
        """The most edges a connection answers: `first`/`last`, else a full page; more than a
        page is refused by the connection, which then answers nothing."""
        sizes = []
        for argument in node.arguments or ():
            if argument.name.value in {"first", "last"}:
                value = self.argument_value(argument.value)
                if isinstance(value, int):
                    sizes.append(max(0, min(value, self.page_size)))
        return min(sizes) if sizes else self.page_size

    def argument_value(self, value_node: Any) -> Any:
        if isinstance(value_node, VariableNode):
            name = value_node.name.value
            if name in self.variables:
                return self.variables[name]
            default = self.defaults.get(name)
            return None if default is None else value_from_ast(default, GraphQLInt)
        value = value_from_ast(value_node, GraphQLInt)
        return None if value is Undefined else value


class CostLimit(SchemaExtension):
    """Refuses an operation whose cost is over `GRAPHQL_MAX_COST` before it runs; reports the
    cost of every operation it lets through in the answer's `extensions.cost`."""

    cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = document and get_operation_ast(document, context.operation_name)
        if operation is not None:
            fragments = {
                d.name.value: d
                for d in document.definitions  # type: ignore[union-attr]
                if isinstance(d, FragmentDefinitionNode)
            }
            variables = context.variables if isinstance(context.variables, dict) else {}
            schema = context.schema
            pricing = Pricing(
                schema._schema, fragments, operation, variables, schema.config.relay_max_results
            )
            self.cost = pricing.cost(operation)
            maximum = settings.GRAPHQL_MAX_COST
            if self.cost > maximum:
                raise GraphQLError(
                    f"The document's cost is {self.cost}, over the limit of {maximum}: it may "
                    "answer that many fields. Ask for smaller pages (first/last) or fewer "
                    "nested lists.",
                    extensions={"code": QUERY_TOO_COMPLEX, "cost": self.cost, "maxCost": maximum},
                )
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None or self.cost > settings.GRAPHQL_MAX_COST:
            return {}
        return {"cost": {"requested": self.cost, "maximum": settings.GRAPHQL_MAX_COST}}
