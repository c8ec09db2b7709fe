"""Every Redis key name, in one place (mirrored by lua/lib/keys.lua).

All keys start with one prefix holding exactly one hash tag (default ``{fq}``),
so every script touches a single Redis Cluster slot. Layout::

    {fq}:task:<id>                hash   the task record
    {fq}:q:<user>:crit            list   CRITICAL lane (FIFO)
    {fq}:q:<user>:norm            zset   priorities 1..5, score = aged enqueue time
    {fq}:ready:all                zset   tenants with work -> virtual time
    {fq}:ready:<worker>:assigned  zset   a configured worker's assigned tenants with work
    {fq}:ready:<worker>:steal     zset   ... and its steal targets with work
    {fq}:tsets:<user>             set    per-worker ready sets the tenant belongs to
    {fq}:cfg:worker:<worker>      hash   worker configuration (synced)
    {fq}:cfg:weights              hash   tenant -> weight (only weights != 1); "<tenant>|cost" -> its
                                  average run time in ms (time-fair mode)
    {fq}:cfg:paused               set    paused tenants
    {fq}:cfg:tenants              set    registered tenants (Tenant rows in the Django DB)
    {fq}:cfg:workers              set    configured worker ids
    {fq}:cfg:steal_all            set    enabled workers whose steal targets include "*"
    {fq}:cfg:synced               string when the last full sync from the DB ran (ms)
    {fq:0}:cfg:pins               hash   SHARDS > 1, in shard 0 only: tenant -> the shard an operator pinned it to
    {fq}:sched:all                set    schedule names
    {fq}:sched:cfg:<name>         hash   a schedule's configuration (synced)
    {fq}:sched:state:<name>       hash   next fire, last fire, last task, skipped count
    {fq}:sched:version            string bumped on every schedule change
    {fq}:sched:fire:<fire key>    string one per fire (SET NX, expires): no double fire
    {fq}:sched:leader             string the scheduler leader's lease (redis-py Lock)
    {fq}:tenants:lex              zset   every tenant seen or registered, score 0 (search by prefix)
    {fq}:recent:<user>            list   the tenant's last 50 finished task ids, newest first
    {fq}:subs:<user>              hash   sub-key -> its last fair-queueing tag, "~max" -> the largest
    {fq}:fair:n:<epoch minute>    zset   tasks served per tenant that minute (expires)
    {fq}:fair:w:<epoch minute>    hash   "<user>:<bucket>" -> waits in that quarter-octave bucket (expires)
    {fq}:fair:ms:<epoch minute>   hash   worker time (whole ms) per tenant that minute, time-fair mode only (expires)
    {fq}:running                  zset   task id -> lease deadline (ms)
    {fq}:held                     zset   tenants held at their cap or rate limit -> when to look again (ms)
    {fq}:running:t:<user>         set    a capped tenant's running task ids (its cap counts them), and
                                         "|held" while the tenant is held at its cap (lib/limits CAP_MARK)
    {fq}:delayed                  zset   task id -> due time (ms)
    {fq}:dlq, {fq}:dlq:<user>     zset   dead letters -> time of death (ms)
    {fq}:backlog                  zset   tenant -> number of queued tasks (> 0 only)
    {fq}:tenants                  zset   every tenant ever seen -> first seen (ms)
    {fq}:stats:t:<user>, :stats:p:<prio>   hash  counters and gauges per tenant and per priority
                                  (p:0: records without a priority); totals = sum over p:0..6
    {fq}:tp:<epoch minute>        hash   per-minute throughput (expires)
    {fq}:workers                  zset   worker id -> last heartbeat (ms)
    {fq}:worker:<worker>          hash   worker report (expires)
    {fq}:deps:waiting:<id>        set    the dependencies of <id> that have not succeeded yet
    {fq}:deps:blocked:<id>        set    the tasks waiting on <id>
    {fq}:waiting                  zset   tasks waiting on dependencies -> enqueued (ms)
    {fq}:pipe:<run>               hash   a pipeline run: user, name, total, done, per-state counts, times
    {fq}:pipe:tasks:<run>         list   its task ids in topological order
    {fq}:pipe:steps:<run>         hash   step name -> task id
    {fq}:pipes, {fq}:pipes:t:<user> zset pipeline runs (all, one tenant's) -> created (ms)
    {fq}:pipes:ending             zset   "<run>|<user>" of finished runs -> when their keys expire (ms)
    {fq}:xcom:<ns>:<user>         hash   XCom key -> "<expires ms>|<JSON>"; ns: a run id, or "-" for the
                                  tenant's own scope (the hash expires with its longest-lived value)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CAP_MARK = "|held"  # in running:t:<user> while the tenant is held at its cap (lua/lib/limits.lua)
_TAG = re.compile(r"\{([^{}]+)\}")


def hash_tag_of(prefix: str) -> str:
    """The prefix's single hash tag; raises ValueError unless there is exactly one."""
    tags = _TAG.findall(prefix)
    if len(tags) != 1 or prefix.count("{") != 1 or prefix.count("}") != 1:
        raise ValueError(f"key prefix {prefix!r} must contain exactly one hash tag like '{{fq}}'")
    return str(tags[0])


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "{fq}"

    def __post_init__(self) -> None:
        hash_tag_of(self.prefix)

    def _k(self, *parts: str | int) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    def task(self, task_id: str) -> str:
        return self._k("task", task_id)

    def crit(self, user: str) -> str:
        return self._k("q", user, "crit")

    def norm(self, user: str) -> str:
        return self._k("q", user, "norm")

    def ready_all(self) -> str:
        return self._k("ready", "all")

    def ready_assigned(self, worker: str) -> str:
        return self._k("ready", worker, "assigned")

    def ready_steal(self, worker: str) -> str:
        return self._k("ready", worker, "steal")

    def tsets(self, user: str) -> str:
        return self._k("tsets", user)

    def worker_cfg(self, worker: str) -> str:
        return self._k("cfg", "worker", worker)

    def weights(self) -> str:
        return self._k("cfg", "weights")

    def paused(self) -> str:
        return self._k("cfg", "paused")

    def registered(self) -> str:
        return self._k("cfg", "tenants")

    def configured(self) -> str:
        return self._k("cfg", "workers")

    def steal_all(self) -> str:
        return self._k("cfg", "steal_all")

    def synced(self) -> str:
        return self._k("cfg", "synced")

    def pins(self) -> str:
        """tenant -> shard, the operators' overrides of the hash (shards.py; read in shard 0 only)."""
        return self._k("cfg", "pins")

    def schedules(self) -> str:
        return self._k("sched", "all")

    def schedule(self, name: str) -> str:
        return self._k("sched", "cfg", name)

    def schedule_state(self, name: str) -> str:
        return self._k("sched", "state", name)

    def schedules_version(self) -> str:
        return self._k("sched", "version")

    def fire(self, key: str) -> str:
        return self._k("sched", "fire", key)

    def scheduler_leader(self) -> str:
        return self._k("sched", "leader")

    def tenants_lex(self) -> str:
        return self._k("tenants", "lex")

    def subs(self, user: str) -> str:
        return self._k("subs", user)

    def recent(self, user: str) -> str:
        return self._k("recent", user)

    def fair_served(self, minute: int) -> str:
        return self._k("fair", "n", minute)

    def fair_wait(self, minute: int) -> str:
        return self._k("fair", "w", minute)

    def fair_ms(self, minute: int) -> str:
        return self._k("fair", "ms", minute)

    def held(self) -> str:
        return self._k("held")

    def running_of(self, user: str) -> str:
        return self._k("running", "t", user)

    def running(self) -> str:
        return self._k("running")

    def delayed(self) -> str:
        return self._k("delayed")

    def dlq(self) -> str:
        return self._k("dlq")

    def dlq_user(self, user: str) -> str:
        return self._k("dlq", user)

    def backlog(self) -> str:
        return self._k("backlog")

    def tenants(self) -> str:
        return self._k("tenants")

    def stats_user(self, user: str) -> str:
        return self._k("stats", "t", user)

    def stats_prio(self, prio: int) -> str:
        return self._k("stats", "p", prio)

    def stats_func(self) -> str:
        return self._k("stats", "f")

    def throughput(self, minute: int) -> str:
        return self._k("tp", minute)

    def workers(self) -> str:
        return self._k("workers")

    def worker_info(self, worker: str) -> str:
        return self._k("worker", worker)

    def deps_waiting(self, task_id: str) -> str:
        return self._k("deps", "waiting", task_id)

    def deps_blocked(self, task_id: str) -> str:
        return self._k("deps", "blocked", task_id)

    def waiting(self) -> str:
        return self._k("waiting")

    def pipeline(self, run: str) -> str:
        return self._k("pipe", run)

    def pipeline_tasks(self, run: str) -> str:
        return self._k("pipe", "tasks", run)

    def pipeline_steps(self, run: str) -> str:
        return self._k("pipe", "steps", run)

    def pipelines(self) -> str:
        return self._k("pipes")

    def pipelines_ending(self) -> str:
        return self._k("pipes", "ending")

    def pipelines_user(self, user: str) -> str:
        return self._k("pipes", "t", user)

    def xcom(self, ns: str, user: str) -> str:
        return self._k("xcom", ns, user)
