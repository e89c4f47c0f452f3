"""File paths as JSON task arguments: names that are not valid UTF-8 survive the trip.

Queue messages are UTF-8 JSON; a path with undecodable bytes (``os.fsdecode`` surrogates) cannot be
encoded as is, so it travels as ``"b64:" + base64(bytes)``. Real paths are absolute, so the prefix is
unambiguous.
"""

from __future__ import annotations

import base64
import os

_PREFIX = "b64:"


def encode_path(path: str) -> str:
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return _PREFIX + base64.b64encode(os.fsencode(path)).decode("ascii")


def decode_path(value: str) -> str:
    if value.startswith(_PREFIX):
        return os.fsdecode(base64.b64decode(value[len(_PREFIX) :]))
    return value


def encode_paths(paths: list[str]) -> list[str]:
    return [encode_path(p) for p in paths]


def decode_paths(values: list[str]) -> list[str]:
    return [decode_path(str(v)) for v in values]
