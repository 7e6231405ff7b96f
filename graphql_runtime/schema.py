"""The schema's class and guards: `build_schema` makes a schema of any Query and Mutation.

Guards (all from settings): limits on a document's tokens, depth, aliases and fields (with
fragments expanded), and on its cost (graphql_runtime/cost.py), checked before anything
executes; introspection and "did you mean" suggestions that can be switched off; and
unexpected faults masked for clients, logged with the request's id. For speed
(docs/performance.md): documents are parsed and validated once per process, each operation
runs synchronously, in one hop, on the database thread, and fields that only read an
attribute take the fast path of `graphql_runtime.execution` (`GRAPHQL_FAST_EXECUTION`).
"""

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.validation import ValidationContext, ValidationRule
from strawberry import Schema
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.relay.types import InvalidGlobalIDError
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry_django.optimizer import DjangoOptimizerExtension

from core import metrics
from core.errors import DATABASE_OUTAGES, DomainError, InvalidId, ServiceUnavailable
from graphql_runtime.cost import CostLimit, list_fields_without_a_size
from graphql_runtime.errors import EXCEPTION_HANDLERS, ErrorCode, extensions_for
from graphql_runtime.execution import DirectExecutionContext
from graphql_runtime.observability import OperationMetrics
from graphql_runtime.scalars import SCALAR_OVERRIDES
from graphql_runtime.subscriptions import EventExecutionContext

logger = logging.getLogger("foodgraph.errors")

INTERNAL_ERROR_MESSAGE = "Internal server error."
# A document over one of the limits: tokens, depth, aliases, fields.
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
# graphql-core's parser stops with this when MaxTokensLimiter's count is exceeded. Words, not
# a type: the parser raises the GraphQLSyntaxError of any other syntax error.
TOKEN_LIMIT_MESSAGE = "tokens. Parsing aborted."


def is_unexpected(error: GraphQLError) -> bool:
    """Domain errors and GraphQL's own are raised on purpose; anything else is a fault to hide."""
    return error.original_error is not None and not isinstance(
        error.original_error, GraphQLError | DomainError | InvalidOperationTypeError
    )


def request_id_of(execution_context: ExecutionContext | None) -> str | None:
    request = getattr(getattr(execution_context, "context", None), "request", None)
    return getattr(request, "request_id", None)


class FoodgraphSchema(Schema):
    """Logs faults (with the request id), and gives every other error an `extensions.code`.

    Runs each operation synchronously on the thread that does the process's database work.
    Every resolver here is sync: executed asynchronously, strawberry-django would hop to that
    thread once per database-touching resolver; executed there, an operation costs one hop.
    """

    def __init__(self, *args: Any, hide_suggestions: bool, **kwargs: Any) -> None:
        self.hide_suggestions = hide_suggestions
        # Domain errors in mutations that may answer OperationInfo (graphql_runtime/errors.py).
        super().__init__(*args, exception_handlers=EXCEPTION_HANDLERS, **kwargs)

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        return await sync_to_async(self.execute_sync)(*args, **kwargs)

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncGenerator[ExecutionResult, None]:
        """Subscriptions only, over WebSocket: queries and mutations go over HTTP, where the
        view's limits, response cache and request log apply."""
        kwargs["allowed_operation_types"] = (OperationType.SUBSCRIPTION,)
        return refusals_as_errors(await super().stream(*args, **kwargs))

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_unexpected(error):
                logger.error(
                    "Unexpected error in %s (request id %s)",
                    ".".join(map(str, error.path or [])) or "the operation",
                    request_id_of(execution_context),
                    exc_info=error.original_error,
                )
                continue
            if isinstance(error.original_error, DomainError):
                error.extensions = extensions_for(error.original_error)
                continue
            if isinstance(error.original_error, InvalidOperationTypeError):  # see `stream`
                error.message = "Only subscriptions go over WebSocket; queries and mutations, HTTP."
                error.extensions = {"code": "BAD_REQUEST"}
                continue
            if self.hide_suggestions and " Did you mean " in error.message:
                # Suggestions name fields, arguments, types and enum values: introspection
                # by another door. Strawberry's own switch only covers field names.
                error.message = error.message.split(" Did you mean ")[0]
            if not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": _code_for(error)}
                if error.extensions["code"] == "INTERNAL_SERVER_ERROR":
                    request_id = request_id_of(execution_context)
                    logger.error(
                        "Server broke the schema in %s (request id %s): %s",
                        ".".join(map(str, error.path or [])),
                        request_id,
                        error.message,
                    )
                    if not settings.DEBUG:  # the message names our types and models
                        error.message = INTERNAL_ERROR_MESSAGE
                        error.extensions["requestId"] = request_id
        for error in errors:
            metrics.ERRORS.labels(answered_code(error)).inc()


async def refusals_as_errors(
    results: AsyncGenerator[ExecutionResult, None],
) -> AsyncGenerator[ExecutionResult, None]:
    """A subscription's results, its refusal before any event (no data: the cost limit, a fault)
    told as a refusal before it ran is: graphql-transport-ws's `error`, not a `next`. Every event
    has data: the subscription fields are nullable.

    A document that does not parse is one too: strawberry's stream lets the parser's error out
    when an extension parses (ParserCache), and its transport would log it as a fault; as a
    refusal, the transport closes the socket with 4400, as it means to for syntax errors.
    """
    first = True
    async with aclosing(results):
        try:
            async for result in results:
                if first and result.data is None and not isinstance(result, PreExecutionError):
                    result = PreExecutionError(
                        data=None, errors=result.errors, extensions=result.extensions
                    )
                first = False
                yield result
        except GraphQLSyntaxError as error:
            if not first:
                raise
            yield PreExecutionError(data=None, errors=[error])


def answered_code(error: GraphQLError) -> str:
    """The code the client gets: a fault's is given by MaskFaults, after this schema's turn."""
    return (error.extensions or {}).get("code") or fault_code(error)


def fault_code(error: GraphQLError) -> str:
    """A masked fault's code: a database outage is told apart, as worth retrying."""
    outage = isinstance(error.original_error, DATABASE_OUTAGES)
    return ServiceUnavailable.code if outage else "INTERNAL_SERVER_ERROR"


def _code_for(error: GraphQLError) -> str:
    """The code of an error that GraphQL raised, not we (ours carry theirs)."""
    if isinstance(error.original_error, InvalidGlobalIDError):
        return InvalidId.code
    if isinstance(error.original_error, StrawberryInputCoercionError):
        # Strawberry could not take a client's value: an argument (a malformed ID, while
        # executing) or a variable.
        return "BAD_USER_INPUT"
    if error.path:
        # Raised by graphql-core while completing a field's value: the server broke its own
        # schema (an object of the wrong type, a value its enum or scalar cannot represent).
        return "INTERNAL_SERVER_ERROR"
    syntax_error = isinstance(error.original_error or error, GraphQLSyntaxError)
    if syntax_error:
        return QUERY_TOO_COMPLEX if TOKEN_LIMIT_MESSAGE in error.message else "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        # graphql-core's own refusals of variable values (a null for a non-null type, a
        # missing one) are plain GraphQLErrors, like its validation errors: only the words
        # say which phase spoke.
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


class MaskFaults(MaskErrors):
    """A fault becomes a generic error that carries the request id, to find it in the logs.

    A database outage is told as such, with a code to retry on: without it a client could not
    tell "the database is restarting, retry" from a bug.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=INTERNAL_ERROR_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        code = fault_code(error)
        if code == ServiceUnavailable.code:
            masked.message = ServiceUnavailable.default_message
        masked.extensions = {"code": code, "requestId": request_id_of(self.execution_context)}
        return masked


def expanded_field_count(document: DocumentNode) -> int:
    """The fields a document selects with every fragment spread expanded, counted without
    expanding them: each fragment is sized once, so a chain of fragments that each spread the
    previous one twice costs its length here, not 2 to that power."""
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    sizes: dict[str, int] = {}

    def fragment_size(name: str) -> int:
        if name not in sizes:
            sizes[name] = 0  # a cycle adds nothing here: NoFragmentCyclesRule refuses it
            fragment = fragments.get(name)
            sizes[name] = size(fragment.selection_set) if fragment else 0
        return sizes[name]

    def size(selection_set: SelectionSetNode | None) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += 1 + size(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += size(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += fragment_size(selection.name.value)
        return total

    return sum(
        size(node.selection_set)
        for node in document.definitions
        if isinstance(node, OperationDefinitionNode)
    )


def too_many_fields(context: ValidationContext) -> bool:
    return expanded_field_count(context.document) > settings.GRAPHQL_MAX_FIELDS


class MaxFieldsRule(ValidationRule):
    """Refuses a document that selects too many fields once its fragments are expanded."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        if too_many_fields(context):
            limit = settings.GRAPHQL_MAX_FIELDS
            self.report_error(
                GraphQLError(
                    f"The document selects more than {limit} fields with its fragments expanded.",
                    extensions={"code": QUERY_TOO_COMPLEX},
                )
            )


def with_code(rule: type[ValidationRule], code: str) -> type[ValidationRule]:
    """`rule`, its errors carrying `code` (strawberry's limiters give none)."""

    def add_code(error: GraphQLError) -> GraphQLError:
        error.extensions = {**(error.extensions or {}), "code": code}
        return error

    class CodedRule(rule):  # type: ignore[misc, valid-type]
        def __init__(self, context: ValidationContext) -> None:
            if too_many_fields(context):
                # Strawberry's limiters expand every fragment spread, which is exponential in
                # a chain of fragments: MaxFieldsRule refuses such a document instead.
                ValidationRule.__init__(self, context)
                return
            # The limiters report from __init__, straight to the context: code those too.
            report = context.report_error
            context.report_error = lambda error: report(add_code(error))  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                del context.report_error

        def report_error(self, error: GraphQLError) -> None:
            super().report_error(add_code(error))

    return CodedRule


def coded_rules(extension: AddValidationRules, code: str) -> list[type[ValidationRule]]:
    """The validation rules of `extension`, their errors carrying `code`.

    Taken once per process: strawberry's limiters make a new rule class per instance, and an
    extension is instantiated per request (a new class each time would defeat the validation
    cache and grow memory without bound).
    """
    return [with_code(rule, code) for rule in extension.validation_rules]


class QueryOptimizer(DjangoOptimizerExtension):
    """strawberry-django's optimizer, without its hook on every field's result.

    Every query field here is a strawberry-django field, which optimizes its own queryset;
    the per-field hook only repeats that check for each of the hundreds of fields a page
    resolves.
    """

    resolve = SchemaExtension.resolve


def build_schema(query: type, mutation: type, subscription: type) -> Schema:
    """The schema with the guards that settings ask for.

    Built once per process (strawberry_django's types bind to one schema): a test of other
    settings runs another process.
    """
    introspection = settings.GRAPHQL_INTROSPECTION
    max_tokens, max_depth = settings.GRAPHQL_MAX_TOKENS, settings.GRAPHQL_MAX_DEPTH
    max_aliases = settings.GRAPHQL_MAX_ALIASES
    rules = [
        *coded_rules(QueryDepthLimiter(max_depth=max_depth), QUERY_TOO_COMPLEX),
        *coded_rules(MaxAliasesLimiter(max_alias_count=max_aliases), QUERY_TOO_COMPLEX),
        MaxFieldsRule,
    ]
    if not introspection:
        rules += coded_rules(DisableIntrospection(), "INTROSPECTION_DISABLED")
    extensions: list[Callable[[], SchemaExtension]] = [
        OperationMetrics,  # first: it times the whole operation, parsing included
        # Clients send the same few documents over and over: parse and validate each once.
        partial(ParserCache, maxsize=settings.GRAPHQL_DOCUMENT_CACHE_SIZE),
        partial(ValidationCache, maxsize=settings.GRAPHQL_DOCUMENT_CACHE_SIZE),
        partial(MaxTokensLimiter, max_token_count=max_tokens),
        partial(AddValidationRules, rules),
        CostLimit,
        QueryOptimizer,
    ]
    if settings.TRACING:  # foodgraph/tracing.py
        from graphql_runtime.tracing import OperationTracing

        extensions.append(OperationTracing)
    if not settings.DEBUG:
        extensions.append(MaskFaults)
    schema = FoodgraphSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        types=[ErrorCode],  # referenced by no field: the schema's list of codes
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not introspection),
        hide_suggestions=not introspection,
        scalar_overrides=SCALAR_OVERRIDES,
        # Off: graphql-core's executor, through strawberry's own execution context (events of
        # subscriptions executed on the database thread, all the same).
        execution_context_class=DirectExecutionContext
        if settings.GRAPHQL_FAST_EXECUTION
        else EventExecutionContext,
    )
    # `_schema` is strawberry's only way to the GraphQLSchema it built (no public accessor;
    # its maintainers point to it, strawberry issue 2590), and the cost check walks that.
    if unbounded := list_fields_without_a_size(schema._schema):
        # The cost limit could not bound them: each needs a cap (graphql_runtime/cost.py).
        raise ImproperlyConfigured(f"Lists without a cap: {', '.join(unbounded)}")
    return schema
