"""The fast path of execution: fields that only read an attribute skip the general machinery.

Strawberry wraps every field's resolver (arguments, Info, field extensions), strawberry-django
adds lookups of its own, and graphql-core builds an Info and walks its completion steps for
every field: several microseconds a field, most of what a page of fifty items costs. A field
with no resolver and no extension needs none of it when it reads a plain attribute, a scalar
or enum column, or a foreign key whose type does not narrow its queryset; a node's ID is base64 of
"Type:key". `DirectExecutionContext` reads and completes such fields itself; anything unusual
(a null, a value of the wrong type) goes the general way, which words its errors.

The schema itself is left as strawberry built it: the context finds these fields once in the
GraphQLSchema it runs on. `build_schema` uses it unless `GRAPHQL_FAST_EXECUTION` is off; then
every field runs through strawberry's and graphql-core's own machinery. `test_execution.py`
holds the two ways to the same answers, and `make test` runs the whole suite both ways.

The extension point is public: strawberry's `Schema(execution_context_class=...)`, which is
graphql-core's. The hooks overridden and called here (`execute_field`, `complete_value`,
`collect_and_execute_subfields`, ...) are graphql-core's ExecutionContext methods: not
underscored, but left out of its documentation, so a graphql-core upgrade may move them. The
equality tests are what catch that.
"""

from collections.abc import Callable
from functools import cache
from operator import attrgetter
from typing import Any, NamedTuple

from django.core.exceptions import FieldDoesNotExist
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    get_nullable_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry import relay
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryOptional
from strawberry.types.field import StrawberryField
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.utils.typing import get_django_definition

from graphql_runtime.subscriptions import EventExecutionContext

# Completes a directly read value; None sends the field the general way.
Completer = Callable[["DirectExecutionContext", Any, FieldDetailsList, Path], Any]
NO_DIRECT_FIELDS: dict[str, "DirectField"] = {}


class DirectField(NamedTuple):
    """How to read a field's value off its parent, and how to complete it."""

    read: Callable[[Any], Any]
    complete: Completer


class DirectExecutionContext(EventExecutionContext):
    """Reads and completes the fields of `direct_fields` without building an Info or walking
    graphql-core's completion steps; every other field goes the general way.

    Subclasses strawberry's own context (the default of `Schema(execution_context_class=)`),
    whose Info carries the operation's context, through `EventExecutionContext`. Operations
    and subscription events run synchronously (`FoodgraphSchema.execute`, `execute_event`), so
    no value here is awaitable.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        middleware = self.middleware_manager
        # A schema extension's `resolve` hook runs as graphql-core middleware around each
        # field's resolver, which a field read directly would skip: then every field goes the
        # general way. (No extension of ours has one: see QueryOptimizer.)
        wrapped = middleware is not None and bool(middleware.middlewares)
        self.direct_fields = {} if wrapped else direct_fields(self.schema)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        name = field_details_list[0].node.name.value
        direct = self.direct_fields.get(parent_type.name, NO_DIRECT_FIELDS).get(name)
        if direct is None:
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )
        try:
            value = direct.read(source)
            completed = direct.complete(self, value, field_details_list, path)
            if completed is not None:
                return completed
            # The value read, completed the general way: as graphql-core's execute_field
            # does once the resolver has returned.
            field = parent_type.fields[name]
            nodes = [details.node for details in field_details_list]
            info = self.build_resolve_info(field, nodes, parent_type, path)
            return self.complete_value(
                field.type, field_details_list, info, path, value, position_context
            )
        except Exception as raw_error:  # as graphql-core handles a field's error
            field_type = parent_type.fields[name].type
            self.handle_field_error(raw_error, field_type, field_details_list, path)
            return None


def leaf_completer(leaf_type: GraphQLScalarType | GraphQLEnumType) -> Completer:
    coerce = leaf_type.coerce_output_value

    def complete(context: DirectExecutionContext, value: Any, *_: Any) -> Any:
        return None if value is None else coerce(value)

    return complete


def instance_check(object_type: GraphQLObjectType) -> Callable[[Any], bool]:
    """Whether a value is a non-null instance of the type, as graphql-core would check it."""
    is_type_of = object_type.is_type_of

    def is_instance(value: Any) -> bool:
        return value is not None and (not is_type_of or is_type_of(value, None))

    return is_instance


def object_completer(object_type: GraphQLObjectType) -> Completer:
    is_instance = instance_check(object_type)

    def complete(
        context: DirectExecutionContext, value: Any, fields: FieldDetailsList, path: Path
    ) -> Any:
        if not is_instance(value):
            return None
        return context.collect_and_execute_subfields(object_type, fields, path, value, None)

    return complete


def object_list_completer(object_type: GraphQLObjectType) -> Completer:
    """For lists of non-null objects, such as a connection's edges."""
    is_instance = instance_check(object_type)

    def complete(
        context: DirectExecutionContext, value: Any, fields: FieldDetailsList, path: Path
    ) -> Any:
        if not isinstance(value, list) or not all(map(is_instance, value)):
            return None
        execute = context.collect_and_execute_subfields
        return [
            execute(object_type, fields, path.add_key(index), item, None)
            for index, item in enumerate(value)
        ]

    return complete


def completer_for(field_type: GraphQLOutputType) -> Completer | None:
    value_type = get_nullable_type(field_type)
    if isinstance(value_type, GraphQLScalarType | GraphQLEnumType):
        return leaf_completer(value_type)
    if isinstance(value_type, GraphQLObjectType):
        return object_completer(value_type)
    if isinstance(value_type, GraphQLList) and isinstance(value_type.of_type, GraphQLNonNull):
        item_type = value_type.of_type.of_type
        if isinstance(item_type, GraphQLObjectType):
            return object_list_completer(item_type)
    return None


@cache
def direct_fields(graphql_schema: GraphQLSchema) -> dict[str, dict[str, DirectField]]:
    """For each object type's name, its fields (by name) that can be read and completed
    directly. Found once per schema: the first operation pays for it."""
    found: dict[str, dict[str, DirectField]] = {}
    for graphql_type in graphql_schema.type_map.values():
        if isinstance(graphql_type, GraphQLObjectType):
            for name, graphql_field in graphql_type.fields.items():
                read = direct_reader(graphql_type, name, graphql_field)
                complete = completer_for(graphql_field.type)
                if read is not None and complete is not None:
                    found.setdefault(graphql_type.name, {})[name] = DirectField(read, complete)
    return found


def direct_reader(
    graphql_type: GraphQLObjectType, name: str, graphql_field: GraphQLField
) -> Callable[[Any], Any] | None:
    """A reader of the field's value, or None where strawberry's resolver is needed."""
    # Strawberry links each GraphQL type and field back to its definition under this key of
    # graphql-core's `extensions`. Its public look-ups (`Schema.get_type_by_name`,
    # `get_field_for_type`) need the strawberry Schema, which an execution context is not given.
    definition = (graphql_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)
    django_definition = get_django_definition(origin)
    if name == "id" and django_definition is not None and issubclass(origin, relay.Node):
        # strawberry-django's resolve_id reads the same attribute off the instance.
        return global_id_reader(graphql_type.name, origin.resolve_id_attr())
    if not isinstance(field, StrawberryField) or field.base_resolver or field.extensions:
        return None
    if django_definition is None:
        return attrgetter(field.python_name)  # a plain strawberry type's attribute
    if not isinstance(field, StrawberryDjangoField):
        return None
    try:
        model_field = django_definition.model._meta.get_field(field.django_name)
    except FieldDoesNotExist:
        return None
    if not model_field.is_relation:
        # An enum's GraphQL type maps the stored value to its name, as it does for
        # strawberry-django's resolver (which passes the value on as it is).
        leaf = isinstance(
            get_nullable_type(graphql_field.type), GraphQLScalarType | GraphQLEnumType
        )
        return attrgetter(model_field.attname) if leaf else None
    target = field.type.of_type if isinstance(field.type, StrawberryOptional) else field.type
    if model_field.many_to_one and not hasattr(target, "get_queryset"):
        return attrgetter(model_field.name)  # select_related by the optimizer
    return None


def global_id_reader(type_name: str, attname: str) -> Callable[[Any], str]:
    """A Relay node's `id`, as strawberry makes it: base64 of "Type:key"."""
    key_of = attrgetter(attname)

    def read(source: Any) -> str:
        return relay.to_base64(type_name, key_of(source))

    return read
