"""The one GraphQL schema: the apps' Query, Mutation and Subscription parts, joined, with the
guards of `graphql_runtime.schema`."""

from strawberry.tools import merge_types

import accounts.schema
import menu.schema
import orders.schema
import orders.subscriptions
from graphql_runtime.schema import build_schema

Query = merge_types("Query", (accounts.schema.Query, menu.schema.Query, orders.schema.Query))
Mutation = merge_types(
    "Mutation", (accounts.schema.Mutation, menu.schema.Mutation, orders.schema.Mutation)
)

Subscription = merge_types("Subscription", (orders.subscriptions.Subscription,))

schema = build_schema(Query, Mutation, Subscription)
