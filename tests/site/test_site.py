"""The Django site: settings reach the engine, the placeholder pages answer."""

from __future__ import annotations

import pytest
from django.test import override_settings

from queueapp import conf


def test_fairqueue_settings_build_the_engine_config():
    with override_settings(
        FAIRQUEUE={"PREFIX": "{site}", "LEASE_SECONDS": 12, "RETRY": {"BASE": 2.0}, "REDIS": {"SOCKET_TIMEOUT": 1.5}}
    ):
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


def test_risky_redis_settings_are_reported(fq_settings, rclient):
    from queueapp import conf

    assert [w for w, _ in conf.durability_warnings(rclient)] == ["fairqueue.W002"]  # the test server keeps nothing

    rclient.config_set("maxmemory-policy", "allkeys-lru")
    try:
        assert "evict queue keys" in conf.durability_warnings(rclient)[0][1]
        ids = [w.id for w in conf.check_engine()]
        assert "fairqueue.W001" in ids and "fairqueue.W002" in ids
    finally:
        rclient.config_set("maxmemory-policy", "noeviction")
