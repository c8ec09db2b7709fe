"""Coroutine tasks through one real `manage.py runworker` process (issue 13):
`python -m tests.perf.bench_async --tasks 1000 --ms 50 --async-concurrency 200 --sync 100 --runs 3`.
Prints a table; not a CI gate.

Each run pushes, with one push_many and before the worker starts, --tasks
coroutine tasks (engine Task(..., coroutine=True), sleeping --ms each:
`tests.coroutine_tasks.pause`, nothing but the sleep, or with --task nap
`tests.coroutine_tasks.nap`, which also keeps a ledger) and --sync
`tests.fixture_tasks.record` tasks (1 ms each), over 10 tenants, the sync ones
interleaved evenly among the async ones (made in push order: time-ordered ids
break the ties of equal lane scores). Then ONE worker runs them: `runworker
--burst --concurrency 2 --async-concurrency N`, and exits when nothing is left.
A run is complete when the worker exited 0 and every task succeeded (stats and
the ledger agree); the table shows complete runs only (a burst worker that quits
early looks fast), the FAIL lines the others.

- wall s: from starting the process to its exit (Python and Django start-up
  included, about 1 s here);
- drain s: first task's started_at to last task's finished_at (task records,
  epoch ms), which leaves out start-up; sync done s: when the last sync task
  finished, on that same clock (they must drain beside the coroutines, not after);
- tasks/s: all tasks / drain s;
- peak in flight (--task nap): the most coroutines running at once (the ledger's
  `<ledger>:peak`), which must not exceed the async concurrency;
- Redis commands/task: INFO commandstats of the queue's Redis over the whole
  worker run (start-up, heartbeat and maintenance included; scripts' inner
  commands counted). The ledger lives on a second private redis-server
  (FQ_LEDGER_URL), so its writes are not counted.

Then the same with `--async-concurrency 0` (the coroutine tasks run one per
thread through async_to_sync) for comparison, unless --no-baseline.

Done when (issue 13): with async concurrency 200, 1,000 x 50 ms in under 2 s
wall (the median of the complete runs; runs over it are listed), every run
complete, peak <= the async concurrency. started_at is when the engine leased a
task. Exit status 1 when any of that fails.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

from queueapp.engine import FairQueue, Task
from tests.perf.harness import RedisCost, bench_redis, fresh_queue, stop_process
from tests.processes import start_worker, worker_env
from tests.redis_server import RedisServer

TENANTS = 10
THREADS = 2
TASK_MODULES = "queueapp.demo,tests.fixture_tasks,tests.coroutine_tasks"
TARGET_WALL = 2.0  # seconds, issue 13's done-when (1,000 x 50 ms at 200)
LOG_DIR = Path(tempfile.mkdtemp(prefix="fq-bench-async-"))
PROBLEMS = ("Traceback", "ERROR", "CRITICAL", "WARNING", "warning:", "Error", "exception")
# what this setup always logs: a private Redis without persistence, and no migrated
# database behind the worker (like bench_worker), so its configuration sync fails
# at start and the maintenance thread says so again later
EXPECTED = (
    "Redis keeps nothing on disk",
    "could not sync the configuration from the database",
    "Redis has no configuration",
)
_seq = iter(range(1_000_000))


def log_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return ["(no log)"]


def expected(line: str) -> bool:
    return any(e in line for e in EXPECTED)


def batch(n: int, ms: int, m: int, pure: bool) -> tuple[list[Task], list[str], list[str]]:
    """n nap tasks and m record tasks over TENANTS tenants, the sync ones spread evenly
    among the async ones; returns (tasks in push order, async ids, sync ids). The tasks
    are made in push order: ids are time-ordered and break the ties between the equal
    lane scores of one push_many chunk, so creation order is the order served."""
    slots = sorted([(i / n, "a", i) for i in range(n)] + [((i + 0.5) / m, "s", i) for i in range(m)])
    order: list[Task] = []
    async_ids: list[str] = []
    sync_ids: list[str] = []
    for _, kind, i in slots:
        tenant = f"t{i % TENANTS}"
        if kind == "a":
            if pure:  # nothing but await asyncio.sleep: the task issue 13 names
                task = Task("tests.coroutine_tasks.pause", args=[ms], user=tenant, coroutine=True, max_retries=0)
            else:
                task = Task("tests.coroutine_tasks.nap", args=[tenant, ms], user=tenant, coroutine=True, max_retries=0)
            async_ids.append(task.id)
        else:
            task = Task("tests.fixture_tasks.record", args=[f"s{i}", 1], user=tenant, max_retries=0)
            sync_ids.append(task.id)
        order.append(task)
    return order, async_ids, sync_ids


def one_run(url: str, ledger_url: str, n: int, ms: int, m: int, coroutines: int, timeout: float, pure: bool) -> dict:
    k = next(_seq)
    q: FairQueue = fresh_queue(url, f"async{k}")
    ledger_client = redis.Redis.from_url(ledger_url, decode_responses=True)
    ledger = f"bench-async-{k}-{uuid.uuid4().hex[:8]}"
    tasks, async_ids, sync_ids = batch(n, ms, m, pure)
    q.push_many(tasks)
    env = worker_env(url, q.config.prefix, ledger=ledger, FQ_LEDGER_URL=ledger_url, FAIRQUEUE_TASK_MODULES=TASK_MODULES)
    log = LOG_DIR / f"run{k}-async{coroutines}.log"
    args = ("--worker-id", "bench-async", "--burst", "--concurrency", str(THREADS))
    args += ("--async-concurrency", str(coroutines), "--skip-checks")
    out: dict = {}

    def run_worker() -> None:
        start = time.perf_counter()
        proc = start_worker(env, *args, log=log)
        try:
            out["code"] = proc.wait(timeout)
        except BaseException:
            out["code"] = stop_process(proc, grace=5.0)
            raise RuntimeError(f"worker did not finish within {timeout:.0f} s; log {log}") from None
        finally:
            out["wall"] = time.perf_counter() - start

    cost = RedisCost(q.redis).measure(n + m, run_worker)
    records = {t.id: t for t in q.tasks(async_ids + sync_ids)}
    stats = q.stats()
    done = ledger_client.hgetall(f"{ledger}:done")
    # pause keeps no ledger: its peak is not measured (nap's is), its completions are the records'
    peak = int(ledger_client.get(f"{ledger}:peak") or 0) if not pure else -1
    if pure:
        done = {**done, "t-pause": str(sum(1 for i in async_ids if i in records and records[i].state == "succeeded"))}
    starts = [t.started_at for t in records.values() if t.started_at]
    ends = [t.finished_at for t in records.values() if t.finished_at]
    sync_ends = [records[i].finished_at for i in sync_ids if i in records and records[i].finished_at]
    first = min(starts) if starts else 0
    lines = log_lines(log)
    ledger_client.close()
    return {
        "wall": out["wall"],
        "code": out.get("code"),
        "drain": (max(ends) - first) / 1000 if ends else float("nan"),
        "sync_done": (max(sync_ends) - first) / 1000 if sync_ends else float("nan"),
        "succeeded": stats.get("succeeded", 0),
        "stats": stats,
        "async_done": sum(int(v) for t, v in done.items() if t.startswith("t")),
        "sync_done_ledger": sum(int(v) for t, v in done.items() if t.startswith("s")),
        "peak": peak,
        "commands": cost["commands"],
        "cpu_us": cost["cpu_us"],
        "log": log,
        "problems": [line for line in lines if any(p in line for p in PROBLEMS) and not expected(line)],
        "expected": sum(1 for line in lines if expected(line)),
        "complete": out.get("code") == 0
        and stats.get("succeeded", 0) == n + m
        and sum(int(v) for t, v in done.items() if t.startswith("t")) == n
        and sum(int(v) for t, v in done.items() if t.startswith("s")) == m,
    }


def run_mode(url: str, ledger_url: str, args, coroutines: int) -> list[dict]:
    results = []
    for _ in range(args.runs):
        results.append(
            one_run(url, ledger_url, args.tasks, args.ms, args.sync, coroutines, args.timeout, args.task == "pause")
        )
    return results


def spread(values: list[float], fmt: str) -> str:
    values = [v for v in values if v == v]  # no NaN (sync done s without sync tasks)
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def print_results(args, modes: list[tuple[str, int, list[dict]]]) -> None:
    """Timings of the complete runs only (a worker that exits with tasks left looks fast)."""
    total = args.tasks + args.sync
    print(
        f"\nCoroutine tasks, one runworker process (--concurrency {THREADS} --burst): "
        f"{args.tasks:,} x {args.task}({args.ms} ms) + {args.sync:,} x record(1 ms), {TENANTS} tenants; "
        f"median (min-max) of the complete runs"
    )
    head = (
        f"{'mode':<22} {'tasks':>6} {'complete':>9} {'wall s':>18} {'drain s':>18} {'sync done s':>18} "
        f"{'tasks/s':>18} {'peak in flight':>15} {'Redis cmds/task':>16}"
    )
    print(head)
    print("-" * len(head))
    for name, _, results in modes:
        done = [r for r in results if r["complete"]]
        cells = ["-"] * 6
        if done:
            cells = [
                spread([r["wall"] for r in done], ".2f"),
                spread([r["drain"] for r in done], ".2f"),
                spread([r["sync_done"] for r in done], ".2f"),
                spread([total / r["drain"] for r in done], ",.0f"),
                spread([r["peak"] for r in done], ".0f") if done and done[0]["peak"] >= 0 else "-",
                spread([r["commands"] for r in done], ".1f"),
            ]
        print(
            f"{name:<22} {total:>6,} {f'{len(done)}/{len(results)}':>9} {cells[0]:>18} {cells[1]:>18} "
            f"{cells[2]:>18} {cells[3]:>18} {cells[4]:>15} {cells[5]:>16}"
        )


def check(args, modes: list[tuple[str, int, list[dict]]]) -> bool:
    total = args.tasks + args.sync
    ok = True
    for name, coroutines, results in modes:
        for run, r in enumerate(results, 1):
            where = f"{name}, run {run}"
            if r["code"] != 0:
                ok = False
                print(f"FAIL {where}: worker exited with {r['code']} (log {r['log']})")
            if r["succeeded"] != total:
                ok = False
                print(f"FAIL {where}: {r['succeeded']:,} of {total:,} succeeded; stats {r['stats']}")
            if (r["async_done"], r["sync_done_ledger"]) != (args.tasks, args.sync):
                ok = False
                print(f"FAIL {where}: ledger finishes {r['async_done']} async, {r['sync_done_ledger']} sync")
            limit = coroutines or THREADS
            if r["peak"] > limit:
                ok = False
                print(f"FAIL {where}: {r['peak']} coroutines in flight at once, limit {limit}")
            if r["problems"]:
                print(f"note {where}: {len(r['problems'])} warning/error line(s) in {r['log']}:")
                for line in r["problems"][:5]:
                    print(f"    {line[:200]}")
    known = sum(r["expected"] for _, _, rs in modes for r in rs)
    if known:
        print(f"({known} expected start-up line(s) in the worker logs: no persistence, no migrated database)")
    first_name, _, first = modes[0]
    walls = [r["wall"] for r in first if r["complete"]]
    median = statistics.median(walls) if walls else float("nan")
    over = [f"{w:.2f}" for w in walls if w >= TARGET_WALL]
    verdict = bool(walls) and median < TARGET_WALL
    print(
        f"\n{'PASS' if verdict else 'FAIL'}: {first_name}: median wall {median:.2f} s over "
        f"{len(walls)} complete run(s) of {len(first)} "
        f"(issue 13: under {TARGET_WALL:g} s for 1,000 x 50 ms at 200, sync tasks beside); "
        + (f"{len(over)} run(s) at or over it: {', '.join(over)} s" if over else "no complete run over it")
    )
    if not ok:
        print("FAIL: see the FAIL lines above (those runs are left out of the table)")
    return ok and verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="coroutine tasks per run")
    parser.add_argument("--ms", type=int, default=50, help="each coroutine's asyncio.sleep, in ms")
    parser.add_argument(
        "--task",
        choices=("pause", "nap"),
        default="pause",
        help="pause: only await asyncio.sleep (issue 13's task); nap: also writes a ledger (6 Redis "
        "commands on the async client) and measures the peak in flight",
    )
    parser.add_argument("--async-concurrency", type=int, default=200, help="runworker --async-concurrency")
    parser.add_argument("--sync", type=int, default=100, help="sync record(1 ms) tasks per run, beside them")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="skip the --async-concurrency 0 comparison")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one worker run may take")
    args = parser.parse_args()
    if args.async_concurrency < 1:
        parser.error("--async-concurrency must be at least 1 (the baseline runs with 0)")
    plan = [(f"async concurrency {args.async_concurrency}", args.async_concurrency)]
    if not args.no_baseline:
        plan.append(("async concurrency 0", 0))
    modes: list[tuple[str, int, list[dict]]] = []
    ledger_server = RedisServer().start()
    try:
        with bench_redis() as url:
            for name, coroutines in plan:
                modes.append((name, coroutines, run_mode(url, ledger_server.url, args, coroutines)))
    except BaseException:
        print(f"worker logs kept in {LOG_DIR}")
        raise
    finally:
        ledger_server.cleanup()
    print_results(args, modes)
    ok = check(args, modes)
    if ok and not any(r["problems"] for _, _, rs in modes for r in rs):
        shutil.rmtree(LOG_DIR, ignore_errors=True)
    else:
        print(f"worker logs kept in {LOG_DIR}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
