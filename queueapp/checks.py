"""What a queue daemon (runworker, runscheduler) checks at its own start, instead of the
whole system-check suite Django runs before every command: FairQueue's checks (settings,
Lua scripts, Redis reachable, Redis durability), once. The rest (admin, URLs, templates,
models) is the web site's and a deploy's: `manage.py check` and `migrate` still run it all."""

from __future__ import annotations

from django.core.management.base import BaseCommand, SystemCheckError

from . import conf
from .logs import Say


def check_queue_start(command: BaseCommand, say: Say | None = None) -> None:
    """Report as BaseCommand.check does: warnings to stderr, errors raise SystemCheckError
    (the command stops with Django's message). SILENCED_SYSTEM_CHECKS is honoured. With JSON
    logs each warning is one log record instead of the text block."""
    messages = [m for m in conf.check_engine() if not m.is_silenced()]
    errors = [m for m in messages if m.is_serious()]
    warnings = [m for m in messages if not m.is_serious()]
    if say is not None and say.json:
        for m in errors:
            say.error(f"{m.id}: {m.msg} ({m.hint})" if m.hint else f"{m.id}: {m.msg}")
        for m in warnings:
            say.warning(f"{m.id}: {m.msg} ({m.hint})" if m.hint else f"{m.id}: {m.msg}")
        if errors:
            raise SystemExit(1)  # said above, as records: no text block
        return
    body = ""
    for group, name, paint in ((errors, "ERRORS", command.style.ERROR), (warnings, "WARNINGS", command.style.WARNING)):
        if group:
            body += f"\n{name}:\n" + "\n".join(sorted(paint(str(m)) for m in group)) + "\n"
    if errors:
        raise SystemCheckError(command.style.ERROR("SystemCheckError: System check identified some issues:\n") + body)
    if warnings:
        command.stderr.write("System check identified some issues:\n" + body)
