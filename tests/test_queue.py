"""The queue: JSON messages on every backend, tampered rows refused without running code."""

import datetime as dt
import json
import pickle
import uuid

import pytest
from huey import SqliteHuey
from huey.registry import Message

from worker.config import load_settings
from worker.queue import QueueCounts, build_huey, queue_counts, read_counts, read_sqlite_file
from worker.serializer import JSONSerializer


@pytest.fixture
def huey(queue_url, home):
    home.mkdir(parents=True, exist_ok=True)
    h = build_huey(
        load_settings(
            {
                "MEDIFLUX_HOME": str(home),
                "MEDIFLUX_QUEUE_URL": queue_url,
                "MEDIFLUX_QUEUE_NAME": "t" + uuid.uuid4().hex[:10],
            }
        )
    )
    yield h
    h.flush()


def test_messages_are_json_on_every_backend(huey):
    @huey.task()
    def add(a, b, opts=None):
        return a + b

    add(1, 2, opts={"when": "2026-01-01", "ids": [1, 2]})
    later = add.s(3, 4)
    later.eta = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=1)
    huey.add_schedule(later)
    assert queue_counts(huey) == {"pending": 1, "scheduled": 1}
    for raw in huey.storage.enqueued_items() + huey.storage.scheduled_items():
        decoded = json.loads(bytes(raw).decode("utf-8"))  # plain JSON, not a pickle
        assert decoded["__mf__"] == "msg"
    task = huey.dequeue()
    assert task.args == (1, 2) and task.kwargs == {"opts": {"when": "2026-01-01", "ids": [1, 2]}}
    assert huey.execute(task) == 3


def test_pending_tasks_are_counted_per_priority_on_every_backend(huey):
    high = huey.task(priority=10, name="high")(lambda: None)
    low = huey.task(priority=-10, name="low")(lambda: None)
    plain = huey.task(name="plain")(lambda: None)
    assert read_counts(huey) == QueueCounts(0, 0, {})
    for task in (high, high, high, low, plain):
        task()
    later = plain.s()
    later.eta = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=1)
    huey.add_schedule(later)
    counts = read_counts(huey)
    assert counts == QueueCounts(5, 1, {10: 3, 0: 1, -10: 1})
    assert list(counts.by_priority) == [10, 0, -10]  # highest first, the order the consumer takes them
    assert queue_counts(huey) == {"pending": 5, "scheduled": 1}
    path = getattr(huey.storage, "filename", None)
    if path is not None:  # SQLite: the same counts from the file opened read-only, no huey built
        assert read_sqlite_file(path, huey.name) == counts


def test_non_json_arguments_are_refused_at_enqueue(huey):
    @huey.task()
    def noop(x):
        return x

    with pytest.raises(TypeError, match="JSON"):
        noop(object())
    with pytest.raises(TypeError):
        noop({1: "int keys"})
    assert huey.pending_count() == 0


def test_a_tampered_pickle_row_never_executes(tmp_path):
    marker = tmp_path / "pwned"
    huey = SqliteHuey("t", filename=str(tmp_path / "q.db"), serializer=JSONSerializer(), results=False)

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    huey.storage.enqueue(pickle.dumps(Evil()))
    with pytest.raises(Exception):
        huey.dequeue()
    assert not marker.exists()
    # A row with a forged tag is refused as well.
    huey.storage.enqueue(b'{"__mf__": "pickle", "v": "gASV"}')
    with pytest.raises(ValueError, match="unknown tag"):
        huey.dequeue()


def test_round_trip_of_huey_internals():
    s = JSONSerializer()
    eta = dt.datetime(2026, 5, 1, 8, 0)
    msg = Message(
        "id-1", "tasks.x", eta, 2, 5, 10, ("a", 1), {"k": [1, {"z": None}]}, None, None, None, None, 30, None, 1.5
    )
    assert s.deserialize(s.serialize(msg)) == msg
    assert s.deserialize(s.serialize((eta, False))) == (eta, False)


def test_ingestion_is_taken_before_analysis_on_every_backend(huey):
    """A backlog's ingestion tasks run before the analysis their commits trigger (priorities), and
    tasks of one priority keep their order."""
    from worker.queue import PRIORITY_ANALYSIS, PRIORITY_INGEST

    @huey.task(priority=PRIORITY_ANALYSIS)
    def analyse(n):
        return n

    @huey.task(priority=PRIORITY_INGEST)
    def ingest(n):
        return n

    @huey.task()
    def other(n):
        return n

    analyse(1)
    other(2)
    ingest(3)
    analyse(4)
    ingest(5)
    order = []
    while (task := huey.dequeue()) is not None:
        order.append(huey.execute(task))
    assert order == [3, 5, 2, 1, 4]
