"""How a client reacts to Redis's answers about the Functions library.

FCALL needs the library loaded: a restart without persistence, a failover to
a replica that never had it, or FUNCTION FLUSH leave Redis without it ("Function
not found": load it, send again; nothing ran). A Redis older than 7.0, or an ACL
that denies FCALL/FUNCTION, cannot run it at all: the client falls back to
EVALSHA of the per-operation scripts, which do the same work.
"""

from __future__ import annotations

import logging
from enum import Enum

from redis.exceptions import NoPermissionError, ResponseError

log = logging.getLogger("fairqueue.engine")


class Remedy(Enum):
    LOAD = "load"  # the library is missing: FUNCTION LOAD, then send again
    EVAL = "eval"  # Functions are unavailable here: use EVALSHA from now on


def remedy(exc: BaseException) -> Remedy | None:
    """What an FCALL (or FUNCTION LOAD) error calls for; None: a real error, raise it."""
    if isinstance(exc, NoPermissionError):
        return Remedy.EVAL
    if not isinstance(exc, ResponseError):
        return None
    message = str(exc).lower()
    if "function not found" in message:
        return Remedy.LOAD
    if "unknown command" in message and ("fcall" in message or "function" in message):
        return Remedy.EVAL
    return None


def after_failed_load(exc: ResponseError) -> Remedy | None:
    """What a failed FUNCTION LOAD leaves to do: nothing (another client loaded the same
    library meanwhile: send again), EVAL (not allowed here), or raise `exc` (a real error)."""
    if "already exists" in str(exc).lower():
        return None
    if remedy(exc) is Remedy.EVAL:
        return Remedy.EVAL
    raise exc


class Mode:
    """Whether a client calls the library (FCALL) or the scripts (EVALSHA); shared by the
    copies a client makes of itself (dedicated()), so one fallback serves them all."""

    def __init__(self, functions: bool) -> None:
        self.functions = functions

    def settle(self, first: Remedy | None, then: Remedy | None, exc: BaseException) -> bool:
        """After remedy `first` (and, when it was LOAD, what the load left: `then`), whether to
        send the failed calls again; falls back to EVALSHA when that is what is left."""
        if first is None:
            return False
        if Remedy.EVAL in (first, then) and self.functions:
            log.warning("Redis Functions unavailable (%s): running the Lua scripts with EVALSHA instead", exc)
            self.functions = False
        return True
