"""Running a management command in-process as an operator would, for assertions on its exit
code and output (CommandError becomes its return code, as manage.py exits)."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.core.management.base import CommandError


def run(name: str, *args: str, with_stderr: bool = False) -> tuple[int, str]:
    """(exit code, stdout) of `manage.py <name> <args>`; with_stderr: stderr and the error too."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as exc:
        extra = err.getvalue() + str(exc) if with_stderr else ""
        return exc.returncode, out.getvalue() + extra
    return 0, out.getvalue() + (err.getvalue() if with_stderr else "")


def syncqueue(*args: str) -> tuple[int, str]:
    return run("syncqueue", *args)
