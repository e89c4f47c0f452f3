"""Click callbacks shared by commands: arguments checked by the project's rules before anything starts."""

from __future__ import annotations

import click

from worker.userids import InvalidUserId, validate_user_id


def user_id(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A ``USER_ID`` argument or ``--user`` option: the shared rule; the error never echoes the value."""
    if value is None:
        return None
    try:
        return validate_user_id(value)
    except InvalidUserId as exc:
        raise click.BadParameter(str(exc)) from None
