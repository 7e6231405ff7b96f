"""The fast path of execution: fields that only read an attribute skip the general machinery.

Strawberry wraps every field's resolver (arguments, Info, field extensions), strawberry-django
adds lookups of its own, and graphql-core builds an Info and walks its completion steps for
every field: several microseconds a field, most of what a page of fifty items costs. A field
with no resolver and no extension needs none of it when it reads a plain attribute, a scalar
or enum column, or a foreign key whose type does not narrow its queryset; a node's ID is base64 of
"Type:key". Such fields get a bare resolver, and `DirectExecutionContext` completes their
values directly. Anything unusual (a null, a value of the wrong type) goes the general way,
which words its errors. `test_execution.py` holds the two ways to the same answers, and the
whole test suite runs through this one.
"""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    get_nullable_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry import Schema, relay
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryOptional
from strawberry.types.field import StrawberryField
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.utils.typing import get_django_definition

# Completes a directly read value; None sends the field the general way.
Completer = Callable[["DirectExecutionContext", Any, FieldDetailsList, Path], Any]


class DirectExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Completes the fields that `read_attributes_directly` prepared without building an Info
    or walking graphql-core's completion steps; every other field goes the general way.

    Operations run synchronously (`FoodgraphSchema.execute`), so no value here is awaitable.
    """

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        field = parent_type.fields.get(field_details_list[0].node.name.value)
        complete: Completer | None = getattr(field and field.resolve, "complete", None)
        if complete is not None:
            try:
                completed = complete(self, field.resolve(source, None), field_details_list, path)
            except Exception as raw_error:  # as graphql-core handles a field's error
                self.handle_field_error(raw_error, field.type, field_details_list, path)
                return None
            if completed is not None:
                return completed
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )


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


def read_attributes_directly(schema: Schema) -> None:
    """Gives the fields that only read an attribute a bare resolver and a completer."""
    for graphql_type in schema._schema.type_map.values():
        if isinstance(graphql_type, GraphQLObjectType):
            for name, graphql_field in graphql_type.fields.items():
                if resolve := direct_resolver(graphql_type, name, graphql_field):
                    resolve.complete = completer_for(graphql_field.type)  # type: ignore[attr-defined]
                    graphql_field.resolve = resolve


def direct_resolver(
    graphql_type: GraphQLObjectType, name: str, graphql_field: GraphQLField
) -> Callable[..., Any] | None:
    """A bare resolver for the field, or None where strawberry's own is needed."""
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
        return attribute_reader(field.python_name)  # a plain strawberry type's attribute
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
        return attribute_reader(model_field.attname) if leaf else None
    target = field.type.of_type if isinstance(field.type, StrawberryOptional) else field.type
    if model_field.many_to_one and not hasattr(target, "get_queryset"):
        return attribute_reader(model_field.name)  # select_related by the optimizer
    return None


def attribute_reader(attname: str) -> Callable[..., Any]:
    def read(source: Any, info: GraphQLResolveInfo | None) -> Any:
        return getattr(source, attname)

    return read


def global_id_reader(type_name: str, attname: str) -> Callable[..., Any]:
    """A Relay node's `id`, as strawberry makes it: base64 of "Type:key"."""

    def read(source: Any, info: GraphQLResolveInfo | None) -> str:
        return relay.to_base64(type_name, getattr(source, attname))

    return read
