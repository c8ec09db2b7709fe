"""python manage.py enqueue TASK_PATH --user U [--priority 1-6] [--args JSON] [--kwargs JSON] [--count N]"""

from __future__ import annotations

import difflib
import json
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.tasks.exceptions import InvalidTask

from queueapp import registry, runtime
from queueapp.priorities import to_django

MAX_DELAY = 10 * 365 * 86_400.0


def parse_json(text: str, kind: type, option: str):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{option} is not valid JSON: {exc}") from exc
    if not isinstance(value, kind):
        raise CommandError(f"{option} must be a JSON {'array' if kind is list else 'object'}, got {text!r}")
    return value


class Command(BaseCommand):
    help = "Enqueue a registered task for a tenant and print the task ids."

    def add_arguments(self, parser):
        parser.add_argument("task_path", help="dotted path of a registered task, e.g. queueapp.demo.echo")
        parser.add_argument("--user", required=True, help="the tenant the task runs for")
        parser.add_argument(
            "--priority",
            type=int,
            choices=range(1, 7),
            default=3,
            help="1 VERY_LOW .. 3 NORMAL .. 6 CRITICAL (default 3)",
        )
        parser.add_argument("--args", dest="call_args", default="[]", help="positional arguments as a JSON array")
        parser.add_argument("--kwargs", dest="call_kwargs", default="{}", help="keyword arguments as a JSON object")
        parser.add_argument("--count", type=int, default=1, help="enqueue N copies (one pipelined round trip)")
        parser.add_argument("--delay", type=float, default=None, help="run no earlier than SECONDS from now")

    def handle(self, *args, **options):
        runtime.discover_tasks()
        path = options["task_path"]
        task = registry.lookup(path)
        if task is None:
            known = registry.registered_paths()
            close = difflib.get_close_matches(path, known, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else f" Registered tasks: {', '.join(known)}."
            raise CommandError(f"Unknown task {path!r}: not a registered task.{hint}")
        if options["count"] < 1:
            raise CommandError("--count must be at least 1")
        call_args = parse_json(options["call_args"], list, "--args")
        call_kwargs = parse_json(options["call_kwargs"], dict, "--kwargs")
        changes = {"user": options["user"], "priority": to_django(options["priority"])}
        delay = options["delay"]
        if delay is not None:
            if not 0 <= delay <= MAX_DELAY:
                raise CommandError(f"--delay must be between 0 and {MAX_DELAY:.0f} seconds (10 years), got {delay}")
            changes["run_after"] = timedelta(seconds=delay)
        try:
            bound = task.using(**changes)
            backend = bound.get_backend()
            results = backend.enqueue_many(bound, [(call_args, call_kwargs)] * options["count"])
        except (InvalidTask, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        for result in results:
            self.stdout.write(result.id)
