"""What a relay pass sends: the rows it took, decoded and merged into tasks, and the id ranges a SentTask lists.

No Django: plain functions of the rows (project/outbox/services.py reads and writes them).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

# What one publish sent: (outbox row ids, task, args, kwargs).
Send = tuple[list[int], str, list, dict]


def decoded(fetched: list[tuple]) -> list[tuple[int, str, list, dict]]:
    """(id, task, args, kwargs) rows read through a plain cursor, by id, their JSON decoded. One json.loads per
    column, not per row: 500 calls cost more than the statement's own work (about 1 ms)."""
    if not fetched:
        return []
    fetched = sorted(fetched)
    columns = []
    for values in ([row[2] for row in fetched], [row[3] for row in fetched]):
        if all(isinstance(value, str) for value in values):
            columns.append(json.loads("[" + ",".join(values) + "]"))
        else:
            columns.append([json_value(value) for value in values])
    return [(row[0], row[1], args, kwargs) for row, args, kwargs in zip(fetched, *columns, strict=True)]


def json_value(value):
    """A JSON column read through a plain cursor: Django has psycopg return it as text."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _merge_id_lists(args_of_rows: list[list]) -> list:
    """[[ids], [ids], ...] -> [all ids], each task's single argument being a list of ids."""
    return [[item for args in args_of_rows for item in args[0]]]


# Tasks whose pending rows the relay merges into one task per batch: their only argument is a list
# (of ids, or days), and running them on the union is the same as running them on each list.
COALESCED_TASKS: dict[str, Callable[[list[list]], list]] = {
    "reviews.extract_aspects": _merge_id_lists,
    "reviews.extract_fresh_aspects": _merge_id_lists,
    "analytics.rebuild_marked_rollup_days": _merge_id_lists,  # its list is of days
}
COALESCE_MAX_IDS = 1000


def coalesced(rows: list[tuple]) -> Iterable[Send]:
    """(message ids, task, args, kwargs) to send, in row order; runs of mergeable rows become one."""
    group: list[tuple] = []

    def flush():
        if group:
            task = group[0][1]
            yield [row[0] for row in group], task, COALESCED_TASKS[task]([row[2] for row in group]), {}
            group.clear()

    size = 0
    for row in rows:
        message_id, task, args, kwargs = row
        mergeable = task in COALESCED_TASKS and not kwargs and len(args) == 1 and isinstance(args[0], list)
        if not mergeable or (group and (group[0][1] != task or size + len(args[0]) > COALESCE_MAX_IDS)):
            yield from flush()
            size = 0
        if mergeable:
            group.append(row)
            size += len(args[0])
        else:
            yield [message_id], task, args, kwargs
    yield from flush()


def id_ranges(ids: Iterable[int]) -> str:
    """[101, 102, 103, 107] -> '101-103, 107'."""
    ranges: list[list[int]] = []
    for value in sorted(ids):
        if ranges and value == ranges[-1][1] + 1:
            ranges[-1][1] = value
        else:
            ranges.append([value, value])
    return ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges)
