"""JSON serialization for huey messages, results and revocations — never pickle.

huey pickles task messages by default, so anyone who can write a queue row can
run code in the consumer. This serializer writes tagged JSON and reads back only
the few shapes huey needs (its Message tuple, tuples, datetimes, Error); task
arguments must be JSON values, which is checked when a task is enqueued.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from huey.registry import Message
from huey.serializer import Serializer
from huey.utils import Error

_TAG = "__mf__"


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Message):
        return {_TAG: "msg", "v": [_encode(v) for v in value]}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("task arguments: dict keys must be strings")
        if _TAG in value:
            raise TypeError(f"task arguments: the key {_TAG!r} is reserved")
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, _dt.datetime):
        return {_TAG: "dt", "v": value.isoformat()}
    if isinstance(value, Error):
        return {_TAG: "error", "v": _encode(value.metadata)}
    raise TypeError(f"task arguments must be JSON values; got {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: _decode(v) for k, v in value.items()}
    inner = value.get("v")
    if tag == "msg" and isinstance(inner, list) and len(inner) <= len(Message._fields):
        return Message(*[_decode(v) for v in inner])
    if tag == "tuple" and isinstance(inner, list):
        return tuple(_decode(v) for v in inner)
    if tag == "dt" and isinstance(inner, str):
        return _dt.datetime.fromisoformat(inner)
    if tag == "error" and isinstance(inner, dict):
        return Error(_decode(inner))
    raise ValueError("queue data has an unknown tag; refusing it")


class JSONSerializer(Serializer):
    """huey Serializer that stores UTF-8 JSON (optionally compressed) instead of pickle."""

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(_encode(data), separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def _deserialize(self, data: bytes) -> Any:
        return _decode(json.loads(bytes(data).decode("utf-8")))
