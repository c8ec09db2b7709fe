"""The unit of I/O the sans-IO core hands to a client: a Call (one script or one
plain Redis command, with the parser of its reply) and a Plan (a generator that
yields Calls, or lists of Calls run as one pipeline, and returns a value).

Core, reads and fairness build their operations from the two helpers here;
FairQueue and AsyncFairQueue each have one loop that runs a Plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

type Step = Call[Any] | list[Call[Any]]
type Plan[T] = Generator[Step, Any, T]


def _identity(reply: Any) -> Any:
    return reply


@dataclass(frozen=True, slots=True)
class Call[T]:
    script: str | None  # lua/<script>.lua, or None for a plain Redis command
    args: tuple[Any, ...]  # script: (ARGV[1] JSON,); command: the command words
    parse: Callable[[Any], T]
    keys: tuple[str, ...] = ()


_encode = json.JSONEncoder(separators=(",", ":")).encode  # built once: json.dumps with separators builds one per call


def script[T](name: str, params: dict[str, Any], parse: Callable[[Any], T], prefix: str) -> Call[T]:
    """A call of lua/<name>.lua: KEYS[1] is the key prefix, ARGV[1] the params as one JSON object."""
    return Call(name, (_encode(params),), parse, (prefix,))


def command(*args: Any, parse: Callable[[Any], Any] = _identity) -> Call[Any]:
    """A plain Redis command (reads and the odd SET)."""
    return Call(None, args, parse)


def once[T](call: Call[T]) -> Plan[T]:
    """A plan of exactly one call: what single-step operations are."""
    reply: T = yield call
    return reply


def then[T, U](plan: Plan[T], convert: Callable[[T], U]) -> Plan[U]:
    """`plan` with its result converted (e.g. a batch operation used for one item)."""
    return convert((yield from plan))


def drive[T](plan: Plan[T], execute: Callable[[Step], Any]) -> T:
    """Run `plan` to its end, executing each step with `execute` (the sync client's loop;
    the async client has the same loop with an await)."""
    try:
        step = next(plan)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    return drive_from(plan, step, execute)


def drive_from[T](plan: Plan[T], step: Step, execute: Callable[[Step], Any]) -> T:
    """`drive` for a plan whose first step was taken already (maybe on another thread)."""
    try:
        while True:
            step = plan.send(execute(step))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
