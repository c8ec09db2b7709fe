"""Scheduler faults with real `manage.py runscheduler` processes (reliability-anchors section 6).

T15  the leader is SIGSTOPped past its lease, another takes over, the old one is SIGCONTed
T16  every scheduler stopped while an every-second schedule is due (scaled from 10 minutes
     of `* * * * *` to ~8 s of `* * * * * *`): catch-up per missed-fire policy
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from queueapp.engine import Task, cron
from queueapp.engine.scheduler import dt
from queueapp.models import Schedule
from tests.fault_harness import drain, note, tally
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LEASE = 2


def fires_of(queue, name: str, user: str = "acme") -> list[Task]:
    """The tasks a schedule enqueued (nothing runs them here), by due time."""
    tasks = queue.tenant_queue(user, 0, 10_000).items
    mine = [t for t in tasks if t.id.startswith(f"cron:{name}:")]
    return sorted(mine, key=lambda t: int(t.id.rsplit(":", 1)[1]))


def due_ms(task: Task) -> int:
    return int(task.id.rsplit(":", 1)[1])


def every_second(name: str, policy: str = Schedule.SKIP) -> Schedule:
    return Schedule.objects.create(
        name=name, cron="* * * * * *", task="queueapp.demo.noop", user="acme", missed_fire_policy=policy
    )


def args():
    return ("--tick", "0.2", "--lease", str(LEASE))


def run_and_tally(label: str, queue, env, workers, ids: list[str]):
    """Run what the schedules enqueued (a burst worker), then the standard tally over the fires;
    duplicates = deliveries beyond the first."""
    workers(env, "--worker-id", "drain", "--burst").wait(90)
    drain(queue, timeout=60)
    return tally(label, queue, ids, runs={i: queue.get_task(i).deliveries for i in ids})


def stop(*procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.wait(15) == 0


@pytest.mark.faults
def test_t15_a_paused_leader_steps_down_before_it_fires_again(
    fq_settings, queue, env, schedulers, workers, tmp_path, raw
):
    every_second("tick")
    leader = schedulers(env, *args())
    wait_for(lambda: len(fires_of(queue, "tick")) >= 2, timeout=60, what="the first scheduler firing")
    follower = schedulers(env, *args())
    follower_log = tmp_path / "runscheduler-1.log"
    wait_for(lambda: "scheduler starting" in follower_log.read_text(), timeout=60, what="the second scheduler")
    leader_log = tmp_path / "runscheduler-0.log"
    before = len(leader_log.read_bytes())

    os.kill(leader.pid, signal.SIGSTOP)
    paused_at = time.time()
    note("T15", f"SIGSTOP the leader for {3 * LEASE} s (lease {LEASE} s)")
    wait_for(
        lambda: due_ms(fires_of(queue, "tick")[-1]) > paused_at * 1000 + 1000,
        timeout=LEASE + 10,
        what="the follower taking over",
    )
    wait_for(lambda: time.time() - paused_at >= 3 * LEASE, timeout=3 * LEASE + 5, what="the pause")
    os.kill(leader.pid, signal.SIGCONT)
    resumed_at = time.time()
    note("T15", "SIGCONT the old leader")
    wait_for(lambda: "lost the leader lease" in leader_log.read_text(), timeout=15, what="the old leader stepping down")
    wait_for(lambda: due_ms(fires_of(queue, "tick")[-1]) > resumed_at * 1000 + 2000, timeout=15, what="fires after it")
    stop(leader, follower)

    after = leader_log.read_bytes()[before:].decode()
    lines = [line for line in after.splitlines() if "lost the leader lease" in line or "fired" in line]
    assert lines and "lost the leader lease" in lines[0]  # it stepped down before firing anything
    assert "now the leader" not in after.split("lost the leader lease")[0]
    fires = fires_of(queue, "tick")
    due = [due_ms(t) for t in fires]
    assert len(set(due)) == len(due)  # one task per due second
    gaps = [b - a for a, b in zip(due, due[1:], strict=False)]
    assert max(gaps) <= (LEASE + 2) * 1000  # the takeover skipped at most the lease (+1 s, +1 s tick)

    # A stale leader forced to fire anyway (paused between its lease check and the fire): the
    # per-fire key keeps it at one task per due time.
    latest = dt(due[-1])
    key = cron.fire_key("tick", "* * * * * *", "UTC", latest)
    task = Task("queueapp.demo.noop", user="acme")
    task.id = "cron:" + key
    assert queue.fire_schedule("tick", [(key, due[-1], task)], None) == (0, 1)  # (fired, duplicate)
    assert len(fires_of(queue, "tick")) == len(fires)
    print(f"T15 detail: fires={len(due)} distinct_due_times={len(set(due))} longest_gap_ms={max(gaps)}")
    t = run_and_tally("T15", queue, env, workers, [f.id for f in fires])
    assert t.lost == 0 and t.duplicates == 0 and not t.not_one_commit()


@pytest.mark.faults
def test_t16_missed_fires_follow_the_policy_after_every_scheduler_was_down(
    fq_settings, queue, env, schedulers, workers, raw
):
    """T16 names catchup latest/all/none. This project has run_once (= latest: one catch-up) and
    skip (= none); there is no 'all' (replay every missed fire, max_catchup): checked as refused."""
    every_second("skipper", Schedule.SKIP)
    every_second("catcher", Schedule.RUN_ONCE)
    first = schedulers(env, *args())
    wait_for(lambda: all(len(fires_of(queue, n)) >= 2 for n in ("skipper", "catcher")), timeout=60, what="both firing")
    stop(first)
    stopped_at = time.time()
    down = 8
    note("T16", f"every scheduler stopped for {down} s with two every-second schedules (skip, run_once)")
    wait_for(lambda: time.time() - stopped_at >= down, timeout=down + 5, what="the outage")
    restarted_at = time.time()
    second = schedulers(env, *args())
    wait_for(
        lambda: all(due_ms(fires_of(queue, n)[-1]) > restarted_at * 1000 + 1000 for n in ("skipper", "catcher")),
        timeout=60,
        what="both firing after the restart",
    )
    stop(second)

    def late(name):  # fires enqueued more than 1 s after their due time: catch-ups
        return [t for t in fires_of(queue, name) if t.enqueued_at - due_ms(t) > 1000]

    def skipped(name):
        return int(raw.hget(queue.config.keys.schedule_state(name), "skipped") or 0)

    for name in ("skipper", "catcher"):
        due = [due_ms(t) for t in fires_of(queue, name)]
        assert len(set(due)) == len(due)
    assert late("skipper") == []  # none: nothing of the outage runs
    assert len(late("catcher")) == 1  # latest: exactly one catch-up
    assert skipped("skipper") >= down - 2 and skipped("catcher") >= down - 3  # counted
    with pytest.raises(cron.CronError):
        cron.due_fires("* * * * * *", "UTC", dt(0), dt(10_000), policy="all")
    ids = [t.id for n in ("skipper", "catcher") for t in fires_of(queue, n)]
    print(
        f"T16 detail: down_s={down} skip_catchups={len(late('skipper'))} skip_skipped={skipped('skipper')} "
        f"run_once_catchups={len(late('catcher'))} run_once_skipped={skipped('catcher')}"
    )
    t = run_and_tally("T16", queue, env, workers, ids)
    assert t.lost == 0 and t.duplicates == 0 and not t.not_one_commit()


@pytest.mark.xfail(
    strict=True,
    reason="not implemented: the schedule's skipped-fire count (sched:<name>:state 'skipped') is kept in "
    "Redis but no dashboard page shows it (T16: skipped fires visible in the dashboard)",
)
def test_t16_skipped_fires_are_shown_on_the_schedules_page(fq_settings, queue, raw, client, django_user_model):
    every_second("skipper")
    raw.hset(queue.config.keys.schedule_state("skipper"), "skipped", 7)
    client.force_login(django_user_model.objects.create_user("op", password="pw", is_staff=True))
    page = client.get("/schedules/").content.decode()
    assert "skipped" in page.lower() and "7" in page
