"""Relay connections paged by keyset cursors, whose page-size cap is part of the contract.

A cursor names the row a page ended (or began) on by that row's values of the list's ordering,
the id last, not by its position: rows inserted or deleted between two requests move no page,
so a client's merged list (Apollo's) shows nothing twice and skips nothing. A page is a WHERE on
the ordering's columns and a LIMIT, never an OFFSET; the models' (column, id) indexes serve it.

strawberry-django's DjangoCursorConnection pages the same way, but its cursors hold the values
alone (a cursor of another ordering with as many keys passes), its refusals are ValueErrors
(masked as faults), it counts `totalCount` in a query of its own, and appending the id to a
model's Meta.ordering it drops the rest of it. Hence this one.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Self, cast

import strawberry
from django.core.exceptions import ValidationError
from django.db.models import F, Field, Func, IntegerField, OrderBy, Q, QuerySet, Subquery
from django.utils import timezone
from strawberry import relay
from strawberry.relay.utils import from_base64, should_resolve_list_connection_edges, to_base64
from strawberry.types import Info
from strawberry.types.nodes import SelectedField
from strawberry.utils.await_maybe import AwaitableOrValue
from strawberry_django.relay.utils import resolve_edge_class
from strawberry_django.resolvers import django_resolver

from core.errors import BadUserInput

CURSOR_PREFIX = "keyset"
CURSOR_VERSION = 1
# Far above any cursor issued (a 200-character title and an id take under 2,000): a longer one
# is refused before its JSON is read.
MAX_CURSOR_LENGTH = 4096
# Each row of a page carries its ordering's values (even those the optimizer left out of the
# query: the client did not select them) and, when asked for, the list's total.
KEY_ANNOTATION = "_keyset_{}"
TOTAL_ANNOTATION = "_keyset_total"


@dataclass(frozen=True)
class Key:
    """A column of a list's ordering, and its direction."""

    field: Field
    descending: bool

    @property
    def name(self) -> str:
        """As order_by writes it: `-price`."""
        return f"-{self.field.name}" if self.descending else self.field.name

    def text(self, value: Any) -> str:
        """`value` as a cursor holds it: its field's text, as Django's serializers write it."""
        return self.field.value_to_string(SimpleNamespace(**{self.field.attname: value}))

    def parse(self, text: object) -> Any:
        """The value `text` stands for; ValueError when no cursor issued holds it."""
        if not isinstance(text, str):
            raise ValueError(text)
        try:
            value = self.field.to_python(text)
            self.field.run_validators(value)  # lengths, digits, the integer column's range
        except ValidationError as error:
            raise ValueError(text) from error
        # Issued cursors are written by text() (one spelling per value), times with an offset.
        if self.text(value) != text or (isinstance(value, datetime) and timezone.is_naive(value)):
            raise ValueError(text)
        return value


def ordering_keys(queryset: QuerySet) -> list[Key]:
    """The queryset's final ordering (its order_by, else its model's Meta.ordering), pk last.

    The pk makes the order total, so that a cursor names one position. Only the model's own
    non-null columns may order a list: their values compare plainly, so the *_NULLS_FIRST and
    *_NULLS_LAST orderings are ASC and DESC here.
    """
    query, opts = queryset.query, queryset.model._meta
    keys = []
    for item in query.order_by or (opts.ordering if query.default_ordering else ()):
        if isinstance(item, str):
            name, descending = item.removeprefix("-"), item.startswith("-")
        elif isinstance(item, OrderBy) and isinstance(item.expression, F):
            name, descending = item.expression.name, item.descending
        else:
            raise TypeError(f"{opts.label} ordered by {item!r}: keyset pages need columns")
        field = opts.pk if name == "pk" else opts.get_field(name)
        if field.is_relation or field.null:
            raise TypeError(f"{opts.label} ordered by {name}: keyset pages need non-null columns")
        keys.append(Key(field, descending))
    if not any(key.field.primary_key for key in keys):
        keys.append(Key(opts.pk, descending=False))
    return keys


def beyond(keys: list[Key], values: list[Any], *, backward: bool) -> Q:
    """The rows strictly after the position `values` names (before it, `backward`).

    Lexicographic, each key in its own direction: k1 > v1 OR (k1 = v1 AND (k2 > v2 OR ...)),
    with < for a key that descends (or, backward, ascends).
    """

    def past(key: Key, value: Any) -> Q:
        lookup = "lt" if key.descending != backward else "gt"
        return Q(**{f"{key.field.name}__{lookup}": value})

    *leading, (key, value) = zip(keys, values, strict=True)
    condition = past(key, value)
    for key, value in reversed(leading):
        condition = past(key, value) | (Q(**{key.field.name: value}) & condition)
    return condition


def cursor_of(keys: list[Key], row: Any) -> str:
    values = [key.text(getattr(row, KEY_ANNOTATION.format(n))) for n, key in enumerate(keys)]
    payload = {"v": CURSOR_VERSION, "keys": [key.name for key in keys], "values": values}
    return to_base64(CURSOR_PREFIX, json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


def position(cursor: str, argument: str, keys: list[Key]) -> list[Any]:
    """The values of `keys` that `cursor` names; BadUserInput for a cursor not issued for them."""
    not_ours = BadUserInput(f"Argument '{argument}' is not a cursor of this connection.")
    try:
        names, texts = _payload(cursor)
    except ValueError:
        raise not_ours from None
    if names != [key.name for key in keys]:
        raise BadUserInput(
            f"Argument '{argument}' was issued for another ordering of this list: "
            "start again from the first page."
        )
    try:
        return [key.parse(text) for key, text in zip(keys, texts, strict=True)]
    except ValueError:
        raise not_ours from None


def _payload(cursor: str) -> tuple[list[str], list[Any]]:
    """The key names and value texts a cursor of our form holds; ValueError for any other."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise ValueError("too long")
    prefix, text = from_base64(cursor)
    try:
        payload = json.loads(text)
    except RecursionError as error:
        raise ValueError("nested too deeply") from error
    if prefix != CURSOR_PREFIX or not isinstance(payload, dict):
        raise ValueError(prefix)
    version, names, texts = payload.get("v"), payload.get("keys"), payload.get("values")
    if not (
        type(version) is int
        and version == CURSOR_VERSION
        and isinstance(names, list)
        and all(isinstance(name, str) for name in names)
        and isinstance(texts, list)
        and len(texts) == len(names)
    ):
        raise ValueError(payload)
    # An escaped lone surrogate is JSON, but no database takes it: UnicodeEncodeError.
    json.dumps(texts, ensure_ascii=False).encode()
    return names, texts


def page_size(first: int | None, last: int | None, most: int) -> int:
    if first is not None and last is not None:
        raise BadUserInput(
            "Arguments 'first' and 'last' cannot be given together: page forward with first "
            "and after, or backward with last and before."
        )
    for name, size in (("first", first), ("last", last)):
        if size is not None and size < 0:
            raise BadUserInput(f"Argument '{name}' must be a non-negative integer.")
        if size is not None and size > most:
            raise BadUserInput(f"Argument '{name}' cannot be higher than {most}.")
    return first if first is not None else last if last is not None else most


def count_of(rows: QuerySet) -> Subquery:
    """How many `rows` there are, as a subquery: a page and its list's total are one query."""
    counted = "DISTINCT %(expressions)s" if rows.query.distinct else "%(expressions)s"
    count = Func(F("pk"), template=f"COUNT({counted})", output_field=IntegerField())
    return Subquery(rows.order_by().annotate(_count=count).values("_count"))


def selects(info: Info, name: str) -> bool:
    """Whether the connection's selection holds field `name` (through fragments, not below)."""
    stack = [selection for field in info.selected_fields for selection in field.selections]
    while stack:
        selection = stack.pop()
        if not isinstance(selection, SelectedField):
            stack.extend(selection.selections)  # a fragment
        elif selection.name == name:
            return True
    return False


@strawberry.type(name="Connection", description="A connection to a list of items.")
class KeysetConnection(relay.Connection[relay.NodeType]):
    """A Relay connection paged by keyset cursors, `first`/`last` at most `relay_max_results`.

    Forward (`first`, `after`) or backward (`last`, `before`), not both at once; `after` and
    `before` together bound one page. hasNextPage (forward) and hasPreviousPage (backward) come
    from fetching one row more than the page; the other one is false, as Relay allows.
    Every bad argument is a BAD_USER_INPUT error raised before any SQL.
    """

    rows: strawberry.Private[QuerySet]  # the whole list: what totalCount counts
    counted: strawberry.Private[int | None] = None  # counted with the page, when asked for

    @strawberry.field(description="How many items the list holds, all pages together.")
    def total_count(self) -> int:
        if self.counted is not None:
            return self.counted
        # No page was fetched (only totalCount asked for) or it was empty: one COUNT.
        return cast("int", django_resolver(QuerySet.count)(self.rows))

    @classmethod
    def resolve_connection(
        cls,
        nodes: Any,
        *,
        info: Info,
        before: str | None = None,
        after: str | None = None,
        first: int | None = None,
        last: int | None = None,
        max_results: int | None = None,
        **kwargs: Any,
    ) -> AwaitableOrValue[Self]:
        if not isinstance(nodes, QuerySet):
            raise TypeError(f"{cls.__name__} pages querysets, not {type(nodes).__name__}")
        most = max_results if max_results is not None else info.schema.config.relay_max_results
        size = page_size(first, last, most)
        keys = ordering_keys(nodes)
        bounds = [
            beyond(keys, position(cursor, argument, keys), backward=backward)
            for argument, cursor, backward in (("after", after, False), ("before", before, True))
            if cursor is not None
        ]
        if not should_resolve_list_connection_edges(info):
            no_page = relay.PageInfo(
                has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None
            )
            return cls(edges=[], page_info=no_page, rows=nodes)

        page = nodes.order_by(*(key.name for key in keys)).annotate(
            **{KEY_ANNOTATION.format(n): F(key.field.name) for n, key in enumerate(keys)}
        )
        page = page.filter(*bounds)
        if last is not None:
            page = page.reverse()
        if selects(info, "totalCount"):
            page = page.annotate(**{TOTAL_ANNOTATION: count_of(nodes)})
        edge_class = resolve_edge_class(cls)

        def fetch() -> Self:
            rows = list(page[: size + 1])  # one more than the page: is there another?
            counted = getattr(rows[0], TOTAL_ANNOTATION, None) if rows else None
            more = len(rows) > size
            rows = rows[:size]
            if last is not None:
                rows.reverse()
            edges = [
                edge_class(
                    cursor=cursor_of(keys, row), node=cls.resolve_node(row, info=info, **kwargs)
                )
                for row in rows
            ]
            page_info = relay.PageInfo(
                has_next_page=more and last is None,
                has_previous_page=more and last is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            )
            return cls(edges=edges, page_info=page_info, rows=nodes, counted=counted)

        return django_resolver(fetch)()
