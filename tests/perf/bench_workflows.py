"""Workflow benchmark, engine only, one process: `python -m tests.perf.bench_workflows [--runs 5]`
(also in `make bench`). Prints a table; not a CI gate.

- Pushing a 1,000-task fan-out/fan-in pipeline (999 parallel parts, then one merge that
  depends on all of them): wall ms, round trips, Redis CPU.
- The ack of a task with 10 dependents (the ack that releases them) against the ack of
  a task with none: Redis CPU per ack, the extra per released dependent, and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from queueapp.engine import Task
from tests.perf.harness import RedisCost, bench_redis, fresh_queue


def fan_out_fan_in(n: int, user: str, tag: str) -> list[Task]:
    parts = [Task("demo.noop", id=f"{tag}-p{i}", user=user) for i in range(n - 1)]
    return [*parts, Task("demo.noop", id=f"{tag}-merge", user=user, depends_on=tuple(t.id for t in parts))]


def bench_pipeline_push(url: str, runs: int, n: int) -> list[dict[str, float]]:
    out = []
    for r in range(runs):
        q = fresh_queue(url, "wf")
        cost = RedisCost(q.redis)
        tasks = fan_out_fan_in(n, "acme", f"r{r}")
        start = time.perf_counter()
        m = cost.measure(n, lambda q=q, tasks=tasks, r=r: q.push_pipeline(f"run{r}", "acme", "fan", tasks))
        m["wall_ms"] = (time.perf_counter() - start) * 1000
        m["trips_total"] = m["trips"] * n
        out.append(m)
    return out


def bench_release(url: str, runs: int, dependents: int, acks: int = 200) -> tuple[list[float], list[float]]:
    """Redis CPU µs per ack: tasks with `dependents` dependents each, and tasks with none."""
    with_deps, plain = [], []
    for r in range(runs):
        q = fresh_queue(url, "rel")
        cost = RedisCost(q.redis)
        for label, k in (("plain", 0), ("deps", dependents)):
            tasks = []
            for i in range(acks):
                dep = Task("demo.noop", id=f"{label}{r}-{i}", user=f"u{i % 10}")
                tasks.append(dep)
                tasks += [
                    Task("demo.noop", id=f"{label}{r}-{i}-d{j}", user=f"u{i % 10}", depends_on=(dep.id,))
                    for j in range(k)
                ]
            q.push_many(tasks)
            leases = [q.pop("w1") for _ in range(acks)]
            assert all(lease is not None for lease in leases)
            m = cost.measure(acks, lambda leases=leases: [lease.ack() for lease in leases])
            (with_deps if k else plain).append(m["cpu_us"])
            while (lease := q.pop("w1")) is not None:  # the released dependents: not measured
                lease.ack()
    return with_deps, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    with bench_redis() as url:
        push = bench_pipeline_push(url, args.runs, args.n)
        with_deps, plain = bench_release(url, args.runs, 10)

    def med(key):
        return statistics.median(m[key] for m in push)

    print(f"\nWorkflows (medians of {args.runs} runs)")
    print(f"{'measure':<58} {'value':>12}")
    print("-" * 72)
    print(f"{f'push a {args.n}-task fan-out/fan-in pipeline: wall':<58} {med('wall_ms'):>10.1f} ms")
    print(f"{'  round trips for the whole pipeline':<58} {med('trips_total'):>12.0f}")
    print(f"{'  Redis CPU per task':<58} {med('cpu_us'):>9.1f} us")
    print(f"{'  Redis commands per task':<58} {med('commands'):>12.1f}")
    p, d = statistics.median(plain), statistics.median(with_deps)
    print(f"{'ack of a task with no dependents: Redis CPU':<58} {p:>9.1f} us")
    print(f"{'ack that releases 10 dependents: Redis CPU':<58} {d:>9.1f} us")
    print(f"{'  extra per released dependent':<58} {(d - p) / 10:>9.1f} us")
    print(f"{'  ratio (release ack / plain ack)':<58} {d / p:>12.2f}")


if __name__ == "__main__":
    main()
