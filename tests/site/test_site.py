"""The Django site: settings reach the engine, the placeholder pages answer."""

from __future__ import annotations

import pytest
from django.test import override_settings

from queueapp import conf


def test_fairqueue_settings_build_the_engine_config():
    with override_settings(FAIRQUEUE={"PREFIX": "{site}", "LEASE_SECONDS": 12, "RETRY": {"BASE": 2.0},
                                      "REDIS": {"SOCKET_TIMEOUT": 1.5}}):
        cfg = conf.engine_config()
        opts = conf.redis_options()
    assert (cfg.prefix, cfg.lease_seconds, cfg.retry.base) == ("{site}", 12, 2.0)
    assert opts.socket_timeout == 1.5


def test_bad_prefix_is_refused():
    with override_settings(FAIRQUEUE={"PREFIX": "no-hash-tag"}), pytest.raises(ValueError, match="hash tag"):
        conf.engine_config()


def test_dashboard_asks_for_login_and_health_answers(client):
    assert client.get("/").status_code == 302
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/login/")
    assert response.status_code == 200 and "Content-Security-Policy" in response.headers


@pytest.mark.django_db
def test_the_suite_runs_on_the_expected_database():
    """`make test` runs the DB-bound tests a second time on a private PostgreSQL."""
    import os

    from django.db import connection

    assert connection.vendor == os.environ.get("FAIRQUEUE_EXPECT_DB", connection.vendor)
