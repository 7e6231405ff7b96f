"""The one GraphQL schema: it only joins the apps' Query and Mutation parts."""

from django.conf import settings
from graphql import GraphQLError
from strawberry import Schema
from strawberry.extensions import MaskErrors
from strawberry.tools import merge_types
from strawberry_django.optimizer import DjangoOptimizerExtension

import accounts.schema
import menu.schema
import orders.schema
from foodgraph.errors import DATABASE_OUTAGES, ServiceUnavailable


def is_unexpected(error: GraphQLError) -> bool:
    """Errors raised on purpose are GraphQLErrors; anything else is a fault to hide."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


class MaskFaults(MaskErrors):
    """Hides faults from clients; a database outage is told as such, with a code to retry on.

    Without it a client could not tell "the database is restarting, retry" from a bug.
    """

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if not isinstance(error.original_error, DATABASE_OUTAGES):
            return super().anonymise_error(error)
        return GraphQLError(
            ServiceUnavailable.default_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": ServiceUnavailable.code},
        )


Query = merge_types("Query", (accounts.schema.Query, menu.schema.Query, orders.schema.Query))
Mutation = merge_types(
    "Mutation", (accounts.schema.Mutation, menu.schema.Mutation, orders.schema.Mutation)
)

schema = Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        DjangoOptimizerExtension,
        *(
            []
            if settings.DEBUG
            else [
                lambda: MaskFaults(
                    should_mask_error=is_unexpected, error_message="Internal server error."
                )
            ]
        ),
    ],
)
