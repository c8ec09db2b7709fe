"""Instructions the Redis server executes per task on the hot path, counted by valgrind's
callgrind: the same on every run, where this 2-core machine's timings drift by 10-20 %
between runs (too much to see a 5 % change). Not a CI gate.

    python -m tests.perf.redis_instructions [--lua OTHER_TREE/lua] [--modes count,time,caps] [--n 300]
        [--redis-server PATH] [--profile 25]

--lua compares another tree's scripts (e.g. a `git worktree` of the commit before a change)
with this tree's, in the same run. Tasks declare cost=1 so time-fair mode writes nothing that
depends on the clock: under valgrind a task "takes" ~50x longer, which would make the
measured-cost path settle and rewrite averages far more often than it does for real.

--profile N prints where the fused ack-and-pop's instructions go (callgrind_annotate,
inclusive, per task): Redis's own functions by name when the binary has symbols. Debian's
has none; a redis-server built from source (`make` in a checkout of the same version, e.g.
7.0.15) executes the same instruction totals and names them: pass it with --redis-server.
That is how the number formatting of redis.call arguments (snprintf, 5.8 % of a fused task)
was found (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import redis

from queueapp.engine import EngineConfig, FairQueue, Task
from queueapp.engine.scripts import ScriptSet
from queueapp.engine.settings import TenantSettings
from tests.perf.bench_engine import drain_fused, many_loop
from tests.redis_server import free_port

MODES = {
    "count": ({}, {}),
    "time": ({"fairness": "time"}, {}),
    "caps": ({"fairness": "time"}, {"max_running": 1000}),
    "rates": ({"fairness": "time"}, {"max_running": 1000, "rate": 1e5}),
}


def tasks(n: int) -> list[Task]:
    return [Task("demo.noop", args=[i], user=f"u{i % 10}", cost=1) for i in range(n)]


class Callgrind:
    """redis-server under callgrind; count() zeroes the counters, runs fn, dumps, returns Ir."""

    def __init__(self, binary: str = "redis-server") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fq-callgrind-"))
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.dir}/cg.%p", binary,
             "--port", str(self.port), "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 120
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("redis-server under valgrind did not start") from None
                time.sleep(0.2)

    def count(self, fn, keep: Path | None = None) -> int:
        pid = str(self.proc.pid)
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        fn()
        subprocess.run(["callgrind_control", "-d", "measured", pid], check=True, capture_output=True)
        for _ in range(100):
            dumps = sorted(glob.glob(f"{self.dir}/cg.{pid}.*"), key=os.path.getmtime)
            text = Path(dumps[-1]).read_text() if dumps else ""
            if m := re.search(r"^(?:summary|totals): (\d+)", text, re.M):
                if keep is not None:
                    shutil.copy(dumps[-1], keep)
                for d in dumps:
                    os.remove(d)
                return int(m.group(1))
            time.sleep(0.1)
        raise SystemExit("callgrind wrote no dump")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)
        shutil.rmtree(self.dir, ignore_errors=True)


def measure(lua: str | None, mode: str, n: int, binary: str, keep: Path | None = None) -> dict[str, float]:
    """Instructions per task of each loop; `keep`: where to copy the fused loop's dump."""
    cfg, limits = MODES[mode]
    server = Callgrind(binary)
    try:
        client = redis.Redis(port=server.port, decode_responses=True)
        q = FairQueue(client, EngineConfig(prefix="{ir}", **cfg), ScriptSet(lua) if lua else None)
        if limits:
            q.set_tenants([TenantSettings(f"u{i}", **limits) for i in range(10)])
        d = q.dedicated()
        q.push_many(tasks(50))
        drain_fused(d)  # warm: the library loaded, the keys made
        batch = tasks(n)
        out = {"single push": server.count(lambda: [q.push(t) for t in batch]) / n}  # drained below
        drain_fused(d)
        batch = tasks(n)
        out["batch push"] = server.count(lambda: q.push_many(batch)) / n  # drained below
        for name, loop in (("fused ack-and-pop", drain_fused), ("ack_and_pop_many x8", partial(many_loop, k=8))):
            q.push_many(tasks(50))
            loop(d)  # warm: the library loaded, the keys made
            q.push_many(tasks(n))
            dump = keep if name == "fused ack-and-pop" else None
            out[name] = server.count(lambda loop=loop: loop(d), dump) / n
        return out
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lua", help="another tree's lua/ directory to compare (its count mode and yours)")
    parser.add_argument("--modes", default="count,time,caps", help=f"of {', '.join(MODES)}")
    parser.add_argument("--n", type=int, default=300, help="tasks per loop (valgrind is ~50x slower)")
    parser.add_argument("--redis-server", default="redis-server", help="the binary (one with symbols for --profile)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="top N functions of the fused loop")
    args = parser.parse_args()
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        sys.exit("valgrind is not installed: apt-get install valgrind")
    rows = []
    if args.lua:
        rows.append((f"{args.lua}, count", measure(args.lua, "count", args.n, args.redis_server)))
    modes = args.modes.split(",")
    dump = Path(tempfile.mkdtemp(prefix="fq-profile-")) / "fused.cg" if args.profile else None
    rows += [(f"this tree, {m}", measure(None, m, args.n, args.redis_server, dump if i == 0 else None))
             for i, m in enumerate(modes)]  # fmt: skip
    base = rows[0][1]
    print(f"\nRedis server instructions per task (callgrind, n={args.n}, ratio to the first row)")
    columns = ("single push", "batch push", "fused ack-and-pop", "ack_and_pop_many x8")
    print(f"{'scripts, mode':<40}" + "".join(f"{c:>24}" for c in columns))
    print("-" * 136)
    for label, r in rows:
        cells = [f"{r[k] / 1000:8.1f}k  {r[k] / base[k]:5.3f}" for k in columns]
        print(f"{label:<40}" + "".join(f"{c:>24}" for c in cells))
    if dump is not None:
        print_profile(dump, args.n, args.profile, f"this tree, {modes[0]}")


ANNOTATED = re.compile(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S+?):(\S+)")


def print_profile(dump: Path, n: int, top: int, label: str) -> None:
    """The fused loop's functions by inclusive instructions per task (named ones, below the
    dispatch chain of 98 % and more that every FCALL goes through)."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)], capture_output=True, text=True
    ).stdout
    print(f"\nfused ack-and-pop ({label}): instructions per task by function, inclusive")
    shown = set()
    for line in text.splitlines():
        m = ANNOTATED.match(line)
        if not m or m.group(4).startswith("0x") or m.group(4) in shown or float(m.group(2)) >= 98:
            continue  # unnamed, seen, or the event loop and command dispatch every call goes through
        shown.add(m.group(4))
        print(f"{int(m.group(1).replace(',', '')) / n / 1000:10.1f}k  {float(m.group(2)):5.1f}%  {m.group(4)}")
        if len(shown) >= top:
            break


if __name__ == "__main__":
    main()
