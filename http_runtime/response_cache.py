"""A cache of whole GraphQL responses for public queries, dropped at once by any menu write.

Only queries that read nothing but public root fields (the view's `public_query_fields`) are
cached, whoever sends them: their answer is the same for every caller, and nothing in them
reads the caller, so a signed-in customer's menu is served from here too. What a document
selects decides, not whether a token came with it. Each entry keeps the generation it was
computed in, and a write to the menu starts a new generation once its transaction commits, so
every worker of every pod stops serving the old entries at the same moment. The generation and
the entry come back in one round trip.

This needs a cache that every worker shares (Redis): a per-process cache could not be told
about a write made by another worker, so without REDIS_URL the response cache is off.
"""

import hashlib
import json
import uuid
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse

from core.caching import cache

GENERATION_KEY = "graphql-response:generation"
ENTRY_KEY = "graphql-response:{digest}"


def key_for(
    query: str | None,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    public_fields: frozenset[str],
) -> str | None:
    """The cache key of a GraphQL request (its document resolved from any hash), or None when
    its answer must not be cached: unless it reads nothing but `public_fields`, root fields the
    same for every caller."""
    # Strawberry checks the query's type, not operationName's.
    if not isinstance(query, str) or not isinstance(operation_name, str | None):
        return None
    if not reads_only_public_fields(query, operation_name, public_fields):
        return None
    canonical = json.dumps([query, operation_name, variables or {}], sort_keys=True)
    return ENTRY_KEY.format(digest=hashlib.sha256(canonical.encode()).hexdigest())


@lru_cache(maxsize=settings.GRAPHQL_DOCUMENT_CACHE_SIZE)
def reads_only_public_fields(
    query: str, operation_name: str | None, public_fields: frozenset[str]
) -> bool:
    """Whether the operation is a query of public root fields only (no fragments at the root)."""
    try:
        document = parse(query)
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
        return False
    return all(
        isinstance(selection, FieldNode)
        and (selection.name.value in public_fields or selection.name.value == "__typename")
        for selection in operations[0].selection_set.selections
    )


def lookup(key: str) -> tuple[str, bytes | None]:
    """(the current generation, the response cached in it or None)."""
    found = cache.get_many([GENERATION_KEY, key])
    generation = found.get(GENERATION_KEY) or _first_generation()
    entry: Any = found.get(key)
    if entry is not None and entry[0] == generation:
        return generation, entry[1]
    return generation, None


def store(key: str, generation: str, content: bytes) -> None:
    # An entry computed while a write committed carries the generation read before it, which
    # that write has already replaced: it is never served.
    cache.set(key, (generation, content), settings.RESPONSE_CACHE_SECONDS)


def invalidate_on_commit() -> None:
    """Drop every cached response once the current transaction (if any) commits."""
    transaction.on_commit(_new_generation, robust=True)  # a cache outage must not fail the write


def _new_generation() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def _first_generation() -> str:
    """A generation for a cache that has none yet; workers racing to make one agree on it."""
    generation = uuid.uuid4().hex
    if cache.add(GENERATION_KEY, generation, timeout=None):
        return generation
    return cache.get(GENERATION_KEY) or generation
