"""An async Django view enqueues with `await task.aenqueue(...)` (redis.asyncio, no
thread hop) through Django's async test client, and a real worker runs the task."""

from __future__ import annotations

import asyncio

import pytest
from django.test import AsyncClient

from queueapp.engine import State
from tests.processes import wait_for

pytestmark = pytest.mark.usefixtures("fq_settings")


def test_an_async_view_enqueues_and_the_task_runs(settings, queue, env, ledger, workers):
    settings.ROOT_URLCONF = "tests.async_views"

    async def post():
        return await AsyncClient().post("/hooks/", {"tag": "from-async-view"}, content_type="application/json")

    response = asyncio.run(post())
    assert response.status_code == 202 and response.json()["status"] == "READY"
    task_id = response.json()["id"]
    assert queue.get_task(task_id).user == "acme"
    workers(env, "--worker-id", "w1")
    wait_for(lambda: queue.get_task(task_id).state == State.SUCCEEDED, timeout=60, what="the task to run")
    assert ledger.runs("from-async-view") == 1
