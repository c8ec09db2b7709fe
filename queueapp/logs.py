"""How the daemons (runworker, runscheduler) talk: Python logging, text or one JSON object
per line (FAIRQUEUE_LOG_FORMAT=json, settings.LOGGING's "json" formatter), and the level
from --log-level. In JSON mode what a command would print itself (the start-up checks,
"N registered task(s)") goes through logging too, so every line a log pipeline reads is JSON."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def json_mode() -> bool:
    return getattr(settings, "FAIRQUEUE_LOG_FORMAT", "text") == "json"


def set_level(level: str | None) -> None:
    """--log-level: the root logger's level (its handlers pass everything on)."""
    if level:
        logging.getLogger().setLevel(level)


def add_level_option(parser) -> None:
    parser.add_argument(
        "--log-level",
        choices=LEVELS,
        type=str.upper,
        default=None,
        help="log level of this process (default LOG_LEVEL, INFO); WARNING leaves out the line per task",
    )


class Say:
    """A daemon's own messages: to stdout/stderr as text, or as log records in JSON mode."""

    def __init__(self, command: BaseCommand, logger: str) -> None:
        self.command = command
        self.log = logging.getLogger(logger)
        self.json = json_mode()
        if self.json:  # Python's warnings and a thread's uncaught exception: records too, not text
            logging.captureWarnings(True)
            threading.excepthook = self._thread_died

    def _thread_died(self, args: threading.ExceptHookArgs) -> None:
        exc = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value else None
        self.log.critical("thread %s died", args.thread.name if args.thread else "?", exc_info=exc)

    def error(self, message: str) -> None:
        if self.json:
            self.log.error(message)
        else:
            self.command.stderr.write(message)

    def info(self, message: str) -> None:
        if self.json:
            self.log.info(message)
        else:
            self.command.stdout.write(message)

    def warning(self, message: str) -> None:
        if self.json:
            self.log.warning(message)
        else:
            self.command.stderr.write(message)
