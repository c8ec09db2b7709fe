"""What runworker and runscheduler check at their start (queueapp/checks.py): FairQueue's
checks once, errors stop the command with Django's SystemCheckError, silenced ones stay quiet."""

from __future__ import annotations

import io
import socket

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import BaseCommand, SystemCheckError

from queueapp.checks import check_queue_start


def command() -> BaseCommand:
    return BaseCommand(stderr=io.StringIO(), no_color=True)


def written(cmd: BaseCommand) -> str:
    return cmd.stderr._out.getvalue()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_durability_warning_is_shown_once(fq_settings):
    cmd = command()
    check_queue_start(cmd)  # the test server keeps nothing on disk
    text = written(cmd)
    assert text.count("fairqueue.W002") == 1 and text.startswith("System check identified some issues:")
    assert "WARNINGS:" in text and "HINT: See docs/operations.md" in text


def test_a_silenced_warning_is_not_shown(fq_settings):
    fq_settings.SILENCED_SYSTEM_CHECKS = ["fairqueue.W002"]
    cmd = command()
    check_queue_start(cmd)
    assert written(cmd) == ""


def test_an_unreachable_redis_stops_the_start_without_the_password(settings):
    settings.REDIS_URL = f"redis://u:secret@127.0.0.1:{closed_port()}/0"
    with pytest.raises(SystemCheckError, match="fairqueue.E003") as caught:
        check_queue_start(command())
    assert str(caught.value).startswith("SystemCheckError: System check identified some issues:")
    assert "ERRORS:" in str(caught.value) and "secret" not in str(caught.value)


def test_invalid_settings_stop_the_start(fq_settings):
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "PREFIX": "no-hash-tag"}
    with pytest.raises(SystemCheckError, match="fairqueue.E001"):
        check_queue_start(command())


@pytest.mark.parametrize("name", ["runworker", "runscheduler"])
def test_the_daemons_check_at_start_and_keep_skip_checks(settings, name):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    with pytest.raises(SystemCheckError, match="fairqueue.E003"):
        call_command(name, skip_checks=False, stdout=io.StringIO(), stderr=io.StringIO())
    parser = load_command_class("queueapp", name).create_parser("manage.py", name)
    assert parser.parse_args(["--skip-checks"]).skip_checks is True
