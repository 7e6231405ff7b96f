"""Documents a request names by their SHA-256 instead of sending them: Apollo's automatic
persisted queries (APQ) and the trusted documents registered at build time.

APQ (https://www.apollographql.com/docs/apollo-server/performance/apq): a client sends
`extensions.persistedQuery = {version: 1, sha256Hash}` without the query. When the server does
not know the hash, it answers PERSISTED_QUERY_NOT_FOUND, and Apollo's PersistedQueryLink sends
the query with its hash again: the hash is checked against the query's text and, if the document
parses, kept in Django's cache (Redis: shared by every worker and pod) for
PERSISTED_QUERY_SECONDS. A cache outage only costs the client the full query.

Trusted documents: the manifest `make codegen` writes from clients/operations/ (the SHA-256 of
each document a client sends -> that document, clients/persisted-documents.cjs). Its documents
are known by hash without being registered, and may be named by the GraphQL-over-HTTP
persisted-document request's `documentId` (`sha256:<hex>`). With TRUSTED_DOCUMENTS on, nothing
else runs: a document neither named by a registered hash nor hashing to one is refused
(PERSISTED_QUERY_NOT_ALLOWED) before it is parsed, and APQ registers nothing.
"""

import hashlib
import json
import logging
import re
from functools import cache
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from graphql import GraphQLError, parse
from redis import RedisError

from core.caching import cache as shared_cache

logger = logging.getLogger("foodgraph.errors")

APQ_VERSION = 1
APQ_KEY = "graphql-apq:{digest}"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
DOCUMENT_ID_PREFIX = "sha256:"
NOT_ALLOWED_MESSAGE = (
    "Only the operations of the app's builds (clients/operations) may run here: this document "
    "is not one of them."
)


class Refused(Exception):
    """A request whose document cannot be had. `well_formed`: a GraphQL request error (the
    request itself is right); otherwise the request is not GraphQL over HTTP."""

    def __init__(self, status: int, message: str, *, code: str, well_formed: bool) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.well_formed = status, message, code, well_formed


def not_found() -> Refused:
    # Apollo's links retry with the full query on this message or code.
    return Refused(
        404, "PersistedQueryNotFound", code="PERSISTED_QUERY_NOT_FOUND", well_formed=True
    )


def not_allowed() -> Refused:
    return Refused(403, NOT_ALLOWED_MESSAGE, code="PERSISTED_QUERY_NOT_ALLOWED", well_formed=True)


def bad_request(message: str, *, code: str = "BAD_REQUEST") -> Refused:
    return Refused(400, message, code=code, well_formed=False)


@cache
def registered() -> dict[str, str]:
    """The trusted documents' manifest: SHA-256 -> document."""
    return json.loads(settings.TRUSTED_DOCUMENTS_MANIFEST.read_text())


def digest_of(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


async def document_for(
    query: str | None, extensions: dict[str, Any] | None, document_id: object
) -> str | None:
    """The document to run: `query`, or the one a hash or `documentId` names.

    Raises Refused when the request names a document badly or one that cannot run here.
    """
    persisted_query = (extensions or {}).get("persistedQuery")
    if document_id is not None:
        if query is not None or persisted_query is not None:
            raise bad_request("Send a documentId without a query or a persistedQuery.")
        return await known(digest_of_document_id(document_id))
    if persisted_query is not None:
        digest = digest_of_persisted_query(persisted_query)
        if query is None:
            return await known(digest)
        if digest_of(query) != digest:
            raise bad_request(
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query.",
                code="BAD_USER_INPUT",
            )
        if settings.TRUSTED_DOCUMENTS and digest not in registered():
            raise not_allowed()
        if digest not in registered() and parses(query):
            await sync_to_async(keep)(digest, query)
        return query
    if settings.TRUSTED_DOCUMENTS and query is not None and digest_of(query) not in registered():
        raise not_allowed()
    return query


def digest_of_document_id(document_id: object) -> str:
    if not isinstance(document_id, str) or not document_id.startswith(DOCUMENT_ID_PREFIX):
        raise bad_request("documentId must be 'sha256:' and the document's SHA-256 in hex.")
    digest = document_id.removeprefix(DOCUMENT_ID_PREFIX)
    if not SHA256_HEX.fullmatch(digest):
        raise bad_request("documentId must be 'sha256:' and 64 lower-case hex digits.")
    return digest


def digest_of_persisted_query(persisted_query: object) -> str:
    if not isinstance(persisted_query, dict):
        raise bad_request("extensions.persistedQuery must be an object.")
    version = persisted_query.get("version")
    if version != APQ_VERSION:
        raise bad_request(
            f"Persisted query version {version} is not supported: only version {APQ_VERSION}."
        )
    digest = persisted_query.get("sha256Hash")
    if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
        raise bad_request(
            "extensions.persistedQuery.sha256Hash must be 64 lower-case hex digits: the "
            "SHA-256 of the query."
        )
    return digest


async def known(digest: str) -> str:
    """The document of `digest`: a trusted one, else (unless only those may run) one kept."""
    if document := registered().get(digest):
        return document
    if settings.TRUSTED_DOCUMENTS:
        raise not_allowed()
    if document := await sync_to_async(kept)(digest):
        return document
    raise not_found()


def parses(query: str) -> bool:
    """Whether `query` parses within the token limit: only such documents are kept."""
    try:
        parse(query, max_tokens=settings.GRAPHQL_MAX_TOKENS)
    except GraphQLError:
        return False
    return True


def kept(digest: str) -> str | None:
    try:
        return shared_cache.get(APQ_KEY.format(digest=digest))
    except RedisError:
        logger.warning("Persisted queries unavailable; asking for the query", exc_info=True)
        return None


def keep(digest: str, query: str) -> None:
    try:
        shared_cache.set(APQ_KEY.format(digest=digest), query, settings.PERSISTED_QUERY_SECONDS)
    except RedisError:
        logger.warning("Persisted queries unavailable; not kept", exc_info=True)
