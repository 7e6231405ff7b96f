"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): the media type of an
answer, its status code, and its HTTP caching.

The client's `Accept` picks the media type: `application/graphql-response+json` when it accepts
that at least as much as `application/json` (Apollo Client 4 asks for it first), else
`application/json`, the legacy type (a missing Accept, or `*/*`, means that one, for old
clients); neither is a 406. The status codes follow the spec for each:

- An answer with `data` (the operation ran, field errors or not) is a 200 in both.
- A GraphQL request error (the document does not parse or validate, its variables do not
  coerce, a persisted query is unknown or not allowed: GraphQL executed nothing) is a 4xx
  without `data` as graphql-response+json, and a 200 with `data: null` as application/json.
- A request that is not GraphQL over HTTP (bad JSON, no query, a batch, too large, the wrong
  method) keeps its 4xx in both, and so does a server error its 5xx.

Every answer is built as application/json by the view (`GraphQLAnswer`); `for_media_type` turns
it into the media type the request negotiated.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import get_conditional_response, patch_vary_headers

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
# A request error's status as graphql-response+json by its first error's code, when not a 400
# (the document did not parse, validate, coerce its variables or pass a limit): a fault.
REQUEST_ERROR_STATUS = {"INTERNAL_SERVER_ERROR": 500, "SERVICE_UNAVAILABLE": 503}


def negotiate(request: HttpRequest) -> str | None:
    """The media type to answer in, or None when the client accepts neither."""
    if not request.headers.get("Accept", "").strip():
        return JSON  # legacy clients send none
    # Django's parser of Accept (quality, specificity); a wildcard only ever means JSON. UTF-8
    # is all we send, so a range asking for it (as the spec recommends clients do) matches.
    graphql = request.accepted_type(f"{GRAPHQL_RESPONSE}; charset=utf-8")
    legacy = request.accepted_type(f"{JSON}; charset=utf-8")
    explicit = graphql is not None and graphql.sub_type != "*"
    if explicit and (legacy is None or graphql.quality >= legacy.quality):
        return GRAPHQL_RESPONSE
    return JSON if legacy is not None else None


@dataclass(frozen=True)
class RequestError:
    """How a request error is sent as graphql-response+json: without `data`, with this 4xx
    or 5xx status."""

    content: bytes
    status: int


class GraphQLAnswer(HttpResponse):
    """A GraphQL response, encoded as application/json (`for_media_type` sends it as the
    client asked). `request_error` is None when the operation ran (the answer has `data`);
    a request error keeps its status as application/json: 200 for a request GraphQL refused,
    the same 4xx or 5xx for one that is not GraphQL over HTTP."""

    def __init__(
        self,
        content: bytes,
        *,
        has_errors: bool,
        status: int = 200,
        request_error: RequestError | None = None,
    ) -> None:
        super().__init__(content, content_type=f"{JSON}; charset=utf-8", status=status)
        self.has_errors = has_errors
        self.request_error = request_error


def encode(payload: dict[str, Any]) -> bytes:
    """As strawberry's Django view encodes answers."""
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def answer(payload: dict[str, Any]) -> GraphQLAnswer:
    """The answer to a request GraphQL handled. A request error holds no data and no error
    with a path (every field error has one)."""
    errors = payload.get("errors") or []
    content = encode(payload)
    if payload.get("data") is not None or not errors or any(e.get("path") for e in errors):
        return GraphQLAnswer(content, has_errors=bool(errors))
    code = (errors[0].get("extensions") or {}).get("code")
    without_data = encode({k: v for k, v in payload.items() if k != "data"})
    return GraphQLAnswer(
        content,
        has_errors=True,
        request_error=RequestError(without_data, REQUEST_ERROR_STATUS.get(code, 400)),
    )


def refusal(
    status: int, message: str, code: str, *, well_formed: bool = False, **extensions: Any
) -> GraphQLAnswer:
    """A request refused before GraphQL ran, in GraphQL's shape, with `status` as
    graphql-response+json. `well_formed`: a GraphQL request error, a 200 as application/json;
    else a request that is not GraphQL over HTTP, or a fault: `status` there too."""
    errors = [{"message": message, "extensions": {"code": code, **extensions}}]
    return GraphQLAnswer(
        encode({"data": None, "errors": errors}),
        has_errors=True,
        status=200 if well_formed else status,
        request_error=RequestError(encode({"errors": errors}), status),
    )


def for_media_type(response: HttpResponseBase, media_type: str) -> HttpResponseBase:
    """`response` as `media_type`, when it is a JSON answer (not GraphiQL's page)."""
    if not response.get("Content-Type", "").startswith(JSON):
        return response
    error = response.request_error if isinstance(response, GraphQLAnswer) else None
    if media_type == GRAPHQL_RESPONSE and error is not None:
        response.content, response.status_code = error.content, error.status
    response["Content-Type"] = f"{media_type}; charset=utf-8"
    return response


def with_cache_headers(
    request: HttpRequest, response: HttpResponseBase, *, public: bool
) -> HttpResponseBase:
    """Caching headers for an answer in its final media type: a `public` one (a query of
    public fields over GET, without credentials, answered without errors) may be kept by any
    cache for HTTP_CACHE_SECONDS and revalidated by its strong ETag (a 304); nothing else may
    be kept."""
    patch_vary_headers(response, ("Accept", "Authorization"))
    cacheable = (
        public
        and isinstance(response, GraphQLAnswer)
        and response.status_code == 200
        and not response.has_errors
    )
    if not cacheable:
        response["Cache-Control"] = "no-store"
        return response
    response["Cache-Control"] = f"public, max-age={settings.HTTP_CACHE_SECONDS}"
    # The media type is part of the representation: the same data in the other type is
    # another ETag.
    digest = hashlib.sha256(response["Content-Type"].encode() + b"\n" + response.content)
    response["ETag"] = f'"{digest.hexdigest()}"'
    return get_conditional_response(request, etag=response["ETag"], response=response)
