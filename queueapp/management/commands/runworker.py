"""python manage.py runworker --worker-id ID [--concurrency N] [--async-concurrency N] [--burst] [--shards 0,2]"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections, connections

from queueapp import conf, logs, runtime, sync
from queueapp.checks import check_queue_start
from queueapp.engine.errors import QueueUnavailable
from queueapp.engine.task import InvalidTask, check_name
from queueapp.engine.worker import Worker, WorkerOptions


def lean_logging() -> None:
    """Skip what a per-task log line does not print (caller's frame, thread and process
    names): the logging HOWTO's "Optimization" knobs. About 10 % more tasks/s."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False


def quiet_django_task_log(verbosity: int) -> None:
    """Django logs every task_started/task_finished at INFO ("Task id=... state=RUNNING"):
    beside the worker's own line per task that doubles the log and costs more than the
    signals. Failures (ERROR, with the traceback) still show; -v 2 or a level configured in
    LOGGING for "django.tasks" keeps them all."""
    logger = logging.getLogger("django.tasks")
    if verbosity < 2 and logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError
    return number


def non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError
    return number


def serving(queue, spec: str):
    """The queue restricted to the shards of --shards ("0,2"); a clear error for a bad list."""
    only = getattr(queue, "only", None)
    if only is None:
        raise CommandError("--shards needs FAIRQUEUE['SHARDS'] > 1 (this queue has one shard)")
    try:
        return only([int(part) for part in spec.split(",") if part.strip()])
    except ValueError as exc:
        raise CommandError(f"--shards {spec!r}: {exc}") from exc


class Command(BaseCommand):
    help = "Run a FairQueue worker: pops tasks fairly across tenants and runs them."
    # not Django's whole suite before every start: FairQueue's own checks, once (queueapp/checks.py)
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--skip-checks", action="store_true", help="Skip system checks.")
        logs.add_level_option(parser)
        parser.add_argument(
            "--worker-id",
            default=None,
            help="this worker's id (its configuration is looked up by it); default host-pid",
        )
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=1,
            help="tasks run at once (threads), unless its stored configuration says otherwise",
        )
        parser.add_argument(
            "--async-concurrency",
            type=non_negative_int,
            default=None,
            help="async def tasks run at once on the worker's event loop, beside the threads "
            "(default FAIRQUEUE['ASYNC_CONCURRENCY'], 100; 0: they run in the threads)",
        )
        parser.add_argument(
            "--burst",
            action="store_true",
            help="exit 0 when nothing is queued for this worker, running, or due within 1 s",
        )
        parser.add_argument(
            "--grace",
            type=float,
            default=30.0,
            help="seconds running tasks may take to finish after SIGTERM (default 30)",
        )
        parser.add_argument(
            "--shards",
            default=None,
            help="with FAIRQUEUE['SHARDS'] > 1: the shards this worker serves, e.g. 0,2 (default: all)",
        )
        parser.add_argument(
            "--lease-ahead-ms",
            type=float,
            default=20.0,
            help="with one slot: while tasks average under this many ms, lease the next task while one "
            "runs, so the round trip overlaps it (default 20; 0: never)",
        )
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=0.2,
            help="longest pause between empty pops, in seconds (default 0.2)",
        )

    def handle(self, *args, **options):
        worker_id = options["worker_id"] or f"{socket.gethostname()}-{os.getpid()}"
        try:
            check_name("worker id", worker_id)
            coroutines = options["async_concurrency"]
            coroutines = conf.async_concurrency() if coroutines is None else coroutines
            worker_options = WorkerOptions(
                worker_id=worker_id,
                concurrency=options["concurrency"],
                async_concurrency=coroutines,
                burst=options["burst"],
                grace_seconds=options["grace"],
                poll_interval=options["poll_interval"],
                lease_ahead_ms=options["lease_ahead_ms"],
            )
        except (InvalidTask, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] < 3:
            lean_logging()
        quiet_django_task_log(options["verbosity"])
        logs.set_level(options["log_level"])
        self.say = logs.Say(self, "fairqueue.worker")
        if not options["skip_checks"]:
            check_queue_start(self, self.say)  # the durability warnings among them
        queue = conf.get_queue()
        if options["shards"] is not None:
            queue = serving(queue, options["shards"])
        if options["skip_checks"]:  # lost tasks are still said, once
            for _, warning in conf.durability_warnings(queue.redis):
                self.say.warning(f"warning: {warning}")
        self._sync_if_missing(queue)
        paths = runtime.discover_tasks()
        loop = worker_options.async_concurrency if runtime.has_coroutine_tasks() else 0
        self.say.info(
            f"worker {worker_id}: {len(paths)} registered task(s)"
            + (f"; async def tasks on an event loop, {loop} at once" if loop else "")
        )
        connections.close_all()  # no DB connection made during start-up is shared with task threads
        worker = Worker(
            queue,
            worker_options,
            execute=runtime.execute,
            aexecute=runtime.aexecute if loop else None,
            before_task=close_old_connections,
            resync=lambda: self._resync(queue),
        )
        self._install_signals(worker)
        sys.exit(worker.run())

    def _resync(self, queue) -> bool:
        """From the maintenance thread: the same rebuild, then let go of its DB connection."""
        try:
            return self._sync_if_missing(queue)
        finally:
            connections.close_all()

    def _sync_if_missing(self, queue) -> bool:
        """Redis restarted without persistence (or never synced): rebuild its copy from the DB.
        False when that failed (the worker serves with what Redis has and tries again later)."""
        try:
            if queue.is_synced():
                return True
            report = sync.full_sync()
        except (DatabaseError, QueueUnavailable) as exc:
            self.say.warning(
                f"could not sync the configuration from the database ({exc}); "
                "serving with what Redis has: run `manage.py syncqueue`"
            )
            return False
        self.say.info(
            f"Redis had no configuration: synced {report.tenants} tenant(s) and "
            f"{report.workers} worker configuration(s) from the database"
        )
        for (kind, name), why in sorted(report.skipped.items()):
            self.say.warning(f"skipped {kind} {name!r} (cannot be synced: {why}); fix it and run syncqueue")
        return True

    @staticmethod
    def _install_signals(worker: Worker) -> None:
        """First SIGTERM/SIGINT: finish running tasks within --grace; second: release them now."""

        def on_signal(signum, frame):
            worker.signal_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
