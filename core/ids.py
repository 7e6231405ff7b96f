"""Opaque Relay IDs in arguments: decode them to primary keys of the expected type."""

from strawberry import relay

from core.errors import NotFound


def pk_from_global_id(
    global_id: relay.GlobalID, type_name: str, *, field: str | None = None
) -> int:
    """The primary key a global ID names; NotFound otherwise (keyed as `NotFound` keys it).

    An ID of another type, or one that is not a number, is "not found" like a missing row.
    """
    pk = pk_or_none(global_id, type_name)
    if pk is None:
        raise NotFound(type_name, field=field)
    return pk


def pk_or_none(global_id: relay.GlobalID, type_name: str) -> int | None:
    """The primary key a global ID names, or None when it is not an ID of `type_name`."""
    if global_id.type_name == type_name and global_id.node_id.isdigit():
        return int(global_id.node_id)
    return None
