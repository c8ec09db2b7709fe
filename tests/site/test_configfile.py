"""importconfig / exportconfig: the original FairQueue's YAML (tests/fixtures/fairque_config.yaml, its
sample config/fairque_config.yaml) into Tenant/WorkerConfig rows and Redis, and back. Real DB, real Redis."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from queueapp import conf
from queueapp.models import Tenant, WorkerConfig
from tests.commands import run, syncqueue

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "fairque_config.yaml"
ODD, EVEN = ["user:1", "user:3", "user:5"], ["user:2", "user:4", "user:6"]


def rows() -> dict[str, dict]:
    out = {}
    for config in WorkerConfig.objects.all():
        out[config.worker_id] = {
            "assigned": sorted(config.assigned_users.values_list("key", flat=True)),
            "steal": sorted(config.steal_targets.values_list("key", flat=True)),
            "steal_all": config.steal_all,
            "concurrency": config.concurrency,
            "poll_interval": config.poll_interval,
            "enabled": config.enabled,
            "lease_seconds": config.lease_seconds,
        }
    return out


def tenants() -> dict[str, tuple[str, int]]:
    return {t.key: (t.name, t.weight) for t in Tenant.objects.all()}


def test_sample_imports_exports_and_imports_again_unchanged(fq_settings, queue, tmp_path):
    code, out = run("importconfig", str(SAMPLE))
    assert code == 0, out
    assert tenants() == {f"user:{i}": ("", 1) for i in range(1, 7)}
    common = {"steal_all": False, "concurrency": 10, "poll_interval": 1.0, "enabled": True, "lease_seconds": None}
    assert rows() == {
        "worker-001": {"assigned": ODD, "steal": EVEN, **common},
        "worker-002": {"assigned": EVEN, "steal": ODD, **common},
    }
    assert "create tenant user:1" in out and "create worker configuration worker-002: " in out
    assert "imported " in out and "6 tenant(s) created, 2 worker configuration(s) created and 0 updated" in out
    assert "Redis: synced 6 tenant(s), 2 worker configuration(s) and 0 schedule(s)" in out
    # the queue and redis sections: settings lines to set, and what is ignored, with their lines
    assert 'FAIRQUEUE["MAX_RETRIES"] = 3  # or FAIRQUEUE_MAX_RETRIES=3 in the environment; already so' in out
    assert 'FAIRQUEUE["XCOM_TTL"] = 3600  # or FAIRQUEUE_XCOM_TTL=3600 in the environment; now 86400' in out
    assert "REDIS_URL=redis://localhost:6379/0  # now redis://127.0.0.1:" in out
    assert "line 20: queue.stats_prefix = fq (not used" in out
    assert "line 22: queue.enable_pipeline_optimization = true (not used" in out

    # Redis's copy follows, as the worker reads it
    first = queue.worker_config("worker-001")
    assert (first.assigned, first.steal, first.concurrency, first.poll_interval) == (tuple(ODD), tuple(EVEN), 10, 1.0)
    assert queue.worker_config("worker-002").assigned == tuple(EVEN)
    assert syncqueue("--check") == (0, "in sync: Redis matches the database\n")

    # the operator sets what importconfig printed; the export then says what the sample says
    fq_settings.FAIRQUEUE = {**fq_settings.FAIRQUEUE, "XCOM_TTL": 3600, "MAX_RETRIES": 3}
    exported = tmp_path / "exported.yaml"
    code, out = run("exportconfig", str(exported))
    assert (code, out) == (0, f"wrote 2 worker configuration(s) to {exported}\n")
    sample, back = yaml.safe_load(SAMPLE.read_text()), yaml.safe_load(exported.read_text())
    assert back["workers"] == sample["workers"]
    assert back["queue"] == {"default_max_retries": 3, "xcom_ttl_seconds": 3600}
    assert back["redis"]["host"] == "127.0.0.1" and back["redis"]["db"] == 0  # the current REDIS_URL
    assert run("exportconfig") == (0, exported.read_text())  # stdout: the same text

    for path in (exported, SAMPLE):  # a fixpoint: nothing changes, nothing is written
        code, out = run("importconfig", str(path))
        assert code == 0 and f"no changes: the database already matches {path}" in out, out
        assert "create " not in out and "update " not in out and "Redis: synced" not in out
    assert "already so" in run("importconfig", str(exported))[1].split("REDIS_URL=")[1]


def test_dry_run_prints_the_changes_and_writes_nothing(fq_settings, queue):
    code, out = run("importconfig", str(SAMPLE), "--dry-run")
    assert code == 0, out
    assert "would create tenant user:6" in out
    assert (
        "would create worker configuration worker-001: assigned_users=[user:1, user:3, user:5], "
        "steal_targets=[user:2, user:4, user:6], concurrency=10, poll_interval=1.0" in out
    )
    assert "dry run: 6 tenant(s) created, 2 worker configuration(s) created and 0 updated; nothing written" in out
    assert (Tenant.objects.count(), WorkerConfig.objects.count()) == (0, 0)
    assert queue.config_snapshot().workers == {} and queue.config_snapshot().tenants == {}

    # on existing rows: the fields that change, old -> new
    config = WorkerConfig.objects.create(worker_id="worker-001", concurrency=4)
    config.assigned_users.add(Tenant.objects.create(key="user:1"))
    before = rows()
    code, out = run("importconfig", str(SAMPLE), "--dry-run")
    assert (
        "would update worker configuration worker-001: concurrency 4 -> 10, poll_interval 0.2 -> 1.0, "
        "assigned_users +[user:3, user:5], steal_targets +[user:2, user:4, user:6]" in out
    )
    assert "would create tenant user:1" not in out and "5 tenant(s) created" in out
    assert rows() == before and Tenant.objects.count() == 1


def test_existing_rows_are_updated_and_tenants_kept(fq_settings, queue):
    acme = Tenant.objects.create(key="user:1", name="Acme", weight=3, paused=True)
    config = WorkerConfig.objects.create(worker_id="worker-001", concurrency=4, steal_all=True, lease_seconds=12)
    config.assigned_users.add(Tenant.objects.create(key="user:2"))  # a steal target in the file: moves over
    config.steal_targets.add(acme)  # assigned in the file
    WorkerConfig.objects.create(worker_id="worker-003")
    code, out = run("importconfig", str(SAMPLE))
    assert code == 0, out
    assert "4 tenant(s) created, 1 worker configuration(s) created and 1 updated" in out
    assert "left as is (not in the file): worker configuration worker-003" in out
    assert "create tenant user:1" not in out and "create tenant user:2" not in out
    assert tenants()["user:1"] == ("Acme", 3) and Tenant.objects.get(key="user:1").paused  # never changed
    mine = rows()["worker-001"]
    assert (mine["assigned"], mine["steal"], mine["steal_all"]) == (ODD, EVEN, False)  # "*" is not in the file
    assert (mine["concurrency"], mine["lease_seconds"]) == (10, 12.0)  # lease_seconds: not in the file, kept
    assert "worker-003" in rows()
    assert queue.worker_config("worker-001").assigned == tuple(ODD) and not queue.worker_config("worker-001").steal_all
    assert queue.config_snapshot().tenants["user:1"].weight == 3.0
    assert syncqueue("--check")[0] == 0


def test_export_keeps_steal_all_disabled_and_lease(fq_settings, queue, tmp_path):
    config = WorkerConfig.objects.create(
        worker_id="w1", concurrency=2, poll_interval=0.5, steal_all=True, enabled=False, lease_seconds=12
    )
    config.assigned_users.add(Tenant.objects.create(key="acme"))
    WorkerConfig.objects.create(worker_id="w0")
    code, text = run("exportconfig")
    assert code == 0
    workers = yaml.safe_load(text)["workers"]
    assert workers == [
        {
            "id": "w0",
            "assigned_users": [],
            "steal_targets": [],
            "poll_interval_seconds": 0.2,
            "max_concurrent_tasks": 1,
        },
        {
            "id": "w1",
            "assigned_users": ["acme"],
            "steal_targets": ["*"],
            "poll_interval_seconds": 0.5,
            "max_concurrent_tasks": 2,
            "enabled": False,
            "lease_seconds": 12.0,
        },
    ]
    path = tmp_path / "out.yaml"
    path.write_text(text)
    assert "no changes" in run("importconfig", str(path))[1]
    # into an empty database: the same rows again
    before = rows()
    WorkerConfig.objects.all().delete()
    Tenant.objects.all().delete()
    code, out = run("importconfig", str(path))
    assert code == 0 and rows() == before, out
    assert queue.worker_config("w1").steal_all and not queue.worker_config("w1").enabled


BAD = {
    "unknown worker key": (
        'workers:\n  - id: "w1"\n    max_concurrent_tasks: 2\n    max_tasks: 3\n',
        "line 4: workers[0]: unknown key 'max_tasks'",
    ),
    "wrong type": (
        'workers:\n  - id: "w1"\n    max_concurrent_tasks: "ten"\n',
        "line 3: worker w1: max_concurrent_tasks must be an integer, got 'ten'",
    ),
    "poll interval not a number": (
        "workers:\n  - id: w1\n    poll_interval_seconds: [1]\n",
        "line 3: worker w1: poll_interval_seconds must be a single value",
    ),
    "out of the model's range": (
        "workers:\n  - id: w1\n    max_concurrent_tasks: 1000\n",
        "line 3: worker w1: max_concurrent_tasks: Ensure this value is less than or equal to 256.",
    ),
    "invalid worker id": ('workers:\n  - id: "worker 1"\n', "line 2: workers[0].id 'worker 1' is not valid"),
    "unquoted number id": ("workers:\n  - id: 001\n", "line 2: workers[0].id must be a string (quote it)"),
    "invalid tenant": (
        'workers:\n  - id: w1\n    assigned_users:\n      - "user:1"\n      - "user 2"\n',
        "line 5: tenant in worker w1: assigned_users 'user 2' is not valid",
    ),
    "wildcard assigned": ('workers:\n  - id: w1\n    assigned_users: ["*"]\n', 'line 3: "*" (any tenant) is only'),
    "worker listed twice": (
        'workers:\n  - id: "w1"\n  - id: "w2"\n  - id: "w1"\n',
        "line 4: worker w1 is listed twice (first on line 2)",
    ),
    "tenant listed twice": (
        "workers:\n  - id: w1\n    steal_targets: [a, b,\n      a]\n",
        "line 4: worker w1: steal_targets lists a twice (first on line 3)",
    ),
    "assigned and stolen": (
        "workers:\n  - id: w1\n    assigned_users: [a]\n    steal_targets: [a]\n",
        "line 4: worker w1: a cannot be both in assigned_users and in steal_targets",
    ),
    "a key twice": (
        "workers:\n  - id: w1\n    max_concurrent_tasks: 2\n    max_concurrent_tasks: 3\n",
        "line 4: workers[0] sets max_concurrent_tasks twice (first on line 3)",
    ),
    "valid worker, then a bad one": (
        "workers:\n  - id: w1\n    assigned_users: [a]\n  - id: w2\n    max_concurrent_tasks: 0\n",
        "line 5: worker w2: max_concurrent_tasks: Ensure this value is greater than or equal to 1.",
    ),
    "not YAML": ("workers:\n  - id: w1\n    assigned_users: [a, b\n", "line 4: not valid YAML"),
    "not YAML either": ("workers:\n  - id: w1\n bad indent: x\n", "line 3: not valid YAML"),
    "a list, not a mapping": ("- id: w1\n", "line 1: the file must be a mapping (key: value lines), got a list"),
    "plain text": ("just some text\n", "line 1: the file must be a mapping"),
    "empty": ("# nothing here\n", "line 1: the file is empty"),
    "workers not a list": ("workers:\n  id: w1\n", "line 2: workers must be a list, got a mapping"),
    "worker not a mapping": ("workers:\n  - w1\n", "line 2: workers[0] must be a mapping"),
    "unknown top-level key": ("worker:\n  - id: w1\n", "line 1: unknown top-level key 'worker'"),
    "python tag": (
        'queue:\n  default_max_retries: 1\nworkers: !!python/object/apply:os.system ["touch {marker}"]\n',
        "line 3: workers must be a list, got a value tagged tag:yaml.org,2002:python/object/apply:os.system",
    ),
    "python tag on a value": (
        "queue:\n  xcom_ttl_seconds: !!python/name:os.system\n",
        "line 2: queue.xcom_ttl_seconds: could not determine a constructor",
    ),
    "bad queue value": (
        "queue:\n  default_max_retries: -1\n",
        "line 2: queue.default_max_retries must be an integer >= 0",
    ),
    "bad redis port": ("redis:\n  host: localhost\n  port: six\n", "line 3: redis.port must be an integer"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_naming_the_line_and_nothing_is_written(case, fq_settings, queue, tmp_path):
    text, message = BAD[case]
    marker = tmp_path / "executed"
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("{marker}", str(marker)))
    for args in ((), ("--dry-run",)):
        code, out = run("importconfig", str(path), *args, with_stderr=True)
        assert code == 1 and f"{path}, {message}" in out, out
        assert "Traceback" not in out
    assert (Tenant.objects.count(), WorkerConfig.objects.count()) == (0, 0)
    assert queue.config_snapshot().workers == {}
    assert not marker.exists()


def test_missing_file_and_not_utf8(fq_settings, tmp_path):
    missing = tmp_path / "nope.yaml"
    assert run("importconfig", str(missing), with_stderr=True) == (1, f"{missing}: no such file")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"workers:\n  - id: w1\n\xff\xfe\n")
    assert run("importconfig", str(binary), with_stderr=True) == (
        1,
        f"{binary}, line 3: not UTF-8 text, so not a YAML file",
    )
    assert run("importconfig", str(tmp_path), with_stderr=True)[1].endswith("is a directory, not a YAML file")


def test_redis_unreachable_imports_into_the_db_and_says_run_syncqueue(fq_settings, queue, caplog):
    url = fq_settings.REDIS_URL
    fq_settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    conf.get_queue.cache_clear()
    with caplog.at_level(logging.WARNING):
        code, out = run("importconfig", str(SAMPLE), with_stderr=True)
    assert code == 0, out
    assert "imported " in out and "Redis is not reachable at redis://127.0.0.1:1/0" in out
    assert out.rstrip().endswith("once Redis is up, run `manage.py syncqueue`")
    assert "Traceback" not in out and not [r for r in caplog.records if r.exc_info]
    assert len(rows()) == 2 and Tenant.objects.count() == 6  # the database has the import
    fq_settings.REDIS_URL = url
    conf.get_queue.cache_clear()
    assert queue.worker_config("worker-001") is None
    assert syncqueue()[0] == 0
    assert queue.worker_config("worker-001").assigned == tuple(ODD)


def test_exportconfig_to_an_unwritable_place(fq_settings, tmp_path):
    code, out = run("exportconfig", str(tmp_path / "no-such-dir" / "out.yaml"), with_stderr=True)
    assert code == 1 and "cannot be written" in out


def test_anchors_merge_keys_and_the_wildcard(fq_settings, queue, tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "workers:\n"
        "  - &base\n"
        "    id: w1\n"
        "    assigned_users: [a]\n"
        "    steal_targets: [b, '*']\n"
        "    max_concurrent_tasks: 4\n"
        "    task_timeout_seconds: 30\n"
        "    graceful_shutdown_timeout: 15.5\n"
        "  - <<: *base\n"
        "    id: w2\n"
        "    assigned_users: [b]\n"
        "    steal_targets: [a]\n"
    )
    code, out = run("importconfig", str(path))
    assert code == 0, out
    assert "create worker configuration w1: assigned_users=[a], steal_targets=[b, *], concurrency=4" in out
    assert "line 7: workers[0].task_timeout_seconds = 30 (not used" in out
    assert "line 8: workers[0].graceful_shutdown_timeout = 15.5 (not stored: pass it to the worker as " in out
    assert "`runworker --grace 15.5`)" in out
    got = rows()
    assert (got["w1"]["steal"], got["w1"]["steal_all"], got["w1"]["concurrency"]) == (["b"], True, 4)
    assert (got["w2"]["assigned"], got["w2"]["steal"], got["w2"]["steal_all"], got["w2"]["concurrency"]) == (
        ["b"],
        ["a"],
        False,  # its own steal_targets win over the merged ones, as yaml.safe_load has it
        4,
    )
    assert queue.worker_config("w1").steal_all and queue.config_snapshot().steal_all == ["w1"]
    assert "no changes" in run("importconfig", str(path))[1]


def test_a_worker_with_thousands_of_tenants(fq_settings, queue, tmp_path):
    users = [f"user:{i}" for i in range(1500)]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump({"workers": [{"id": "big", "assigned_users": users}]}))
    code, out = run("importconfig", str(path))
    assert code == 0 and "1500 tenant(s) created" in out, out
    assert len(queue.worker_config("big").assigned) == 1500 and Tenant.objects.count() == 1500
    assert "no changes" in run("importconfig", str(path))[1]


def test_a_list_left_out_is_kept_and_checked_against_the_other(fq_settings, queue, tmp_path):
    config = WorkerConfig.objects.create(worker_id="w1")
    config.assigned_users.add(Tenant.objects.create(key="a"))
    path = tmp_path / "steal-only.yaml"
    path.write_text("workers:\n  - id: w1\n    steal_targets: [a]\n")
    code, out = run("importconfig", str(path), with_stderr=True)
    assert code == 1 and f"{path}, line 2: worker w1: a would be both assigned and a steal target" in out, out
    path.write_text("workers:\n  - id: w1\n    steal_targets: [b]\n    max_concurrent_tasks: 3\n")
    code, out = run("importconfig", str(path))
    assert code == 0 and "update worker configuration w1: concurrency 1 -> 3, steal_targets +[b]" in out, out
    assert (rows()["w1"]["assigned"], rows()["w1"]["steal"]) == (["a"], ["b"])


def test_the_redis_password_is_never_printed(tmp_path):
    import io

    from django.core.management import call_command

    path = tmp_path / "c.yaml"
    path.write_text('redis:\n  host: "localhost"\n  password: 123456\n  passwd: "hunter2"\nworkers: []\n')
    out, err = io.StringIO(), io.StringIO()
    call_command("importconfig", str(path), "--dry-run", stdout=out, stderr=err)
    text = out.getvalue() + err.getvalue()
    assert "123456" not in text and "hunter2" not in text
    assert "REDIS_PASSWORD" in text and "redis.passwd" in text
