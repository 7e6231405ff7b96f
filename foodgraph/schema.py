"""The one GraphQL schema: it only joins the apps' Query and Mutation parts."""

from typing import Any

import strawberry
from asgiref.sync import sync_to_async
from django.conf import settings
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension, ValidationCache
from strawberry.tools import merge_types
from strawberry.types import ExecutionResult
from strawberry_django.optimizer import DjangoOptimizerExtension

import accounts.schema
import menu.schema
import orders.schema


def is_unexpected(error: GraphQLError) -> bool:
    """Errors raised on purpose are GraphQLErrors; anything else is a fault to hide."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


class QueryOptimizer(DjangoOptimizerExtension):
    """strawberry-django's optimizer, without its hook on every field's result.

    Every query field here is a strawberry-django field, which optimizes its own queryset;
    the per-field hook only repeats that check for each of the hundreds of fields a page
    resolves.
    """

    resolve = SchemaExtension.resolve


class Schema(strawberry.Schema):
    """Runs each operation synchronously on the thread that does the process's database work.

    Every resolver here is sync. Executed asynchronously, strawberry-django would hop to that
    thread once per database-touching resolver; executed there, an operation costs one hop.
    """

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        return await sync_to_async(self.execute_sync)(*args, **kwargs)


Query = merge_types("Query", (accounts.schema.Query, menu.schema.Query, orders.schema.Query))
Mutation = merge_types(
    "Mutation", (accounts.schema.Mutation, menu.schema.Mutation, orders.schema.Mutation)
)

schema = Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        # Clients send the same few documents over and over: parse and validate each once.
        ParserCache(maxsize=settings.GRAPHQL_DOCUMENT_CACHE_SIZE),
        ValidationCache(maxsize=settings.GRAPHQL_DOCUMENT_CACHE_SIZE),
        QueryOptimizer,
        *(
            []
            if settings.DEBUG
            else [
                lambda: MaskErrors(
                    should_mask_error=is_unexpected, error_message="Internal server error."
                )
            ]
        ),
    ],
)
