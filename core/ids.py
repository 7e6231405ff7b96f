"""Opaque Relay IDs in arguments: decode them to primary keys of the expected type."""

from strawberry import relay
from strawberry.relay import GlobalIDValueError

from core.errors import InvalidId


def pk_from_global_id(global_id: str, type_name: str, *, field: str | None = None) -> int:
    """The primary key of the `type_name` a global ID names; InvalidId otherwise (a value that
    is no ID of ours, or an ID of another type), keyed as `NotFound` keys it.

    Mutations take their IDs as plain `ID` strings and decode them here, so that a malformed
    ID is refused like any other bad input: an `OperationInfo` message naming its argument.
    """
    try:
        decoded = relay.GlobalID.from_id(global_id)
    except GlobalIDValueError:
        raise InvalidId(type_name, field=field) from None
    pk = pk_or_none(decoded, type_name)
    if pk is None:
        raise InvalidId(type_name, field=field)
    return pk


def pk_or_none(global_id: relay.GlobalID, type_name: str) -> int | None:
    """The primary key a global ID names, or None when it is not an ID of `type_name`."""
    if global_id.type_name == type_name and global_id.node_id.isdigit():
        return int(global_id.node_id)
    return None
