"""The Python side of the benchmarks: multiprocessing.Pool doing the work
the dlpool benchmarks do, the way a Python user would write it.

    pool_bench.py jsonl FILE      JSON Lines [a, b] -> a + b, on stdout
    pool_bench.py imap N          print the seconds imap over N pairs took
    pool_bench.py startup         a Pool(2), one apply, close and join
    pool_bench.py latency COUNT   print the median and 99th percentile, in
                                  microseconds, of COUNT pool.apply(add2,
                                  (1, 2)) round trips after a warm-up
    pool_bench.py balance TASKS SEED
                                  imap with chunksize=1 over TASKS tasks of
                                  0-20 ms CPU (balance.c's durations); print
                                  percent over the ideal makespan, the
                                  makespan and the ideal in ms
    pool_bench.py big TASKS SIZE  imap of TASKS results of SIZE bytes each;
                                  print GB/s of results and the seconds
    pool_bench.py spin TASKS US   pool.map (its default chunk size) of
                                  TASKS tasks of US microseconds of CPU
                                  each; print the seconds

Every mode uses the fork start method and two worker processes, and times
only the work: the pool is created before the clock starts.
"""
import json
import multiprocessing
import sys
import time

CHUNK = 10000


def add(pair):
    return pair[0] + pair[1]


def add2(a, b):
    return a + b


def jsonl(path):
    ctx = multiprocessing.get_context("fork")
    out = sys.stdout
    with open(path) as f, ctx.Pool(2) as pool:
        tasks = (json.loads(line) for line in f)
        for r in pool.imap(add, tasks, chunksize=CHUNK):
            out.write(json.dumps(r) + "\n")
        pool.close()
        pool.join()


def imap(n):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        t0 = time.perf_counter()
        total = 0
        for r in pool.imap(add, zip(range(n), range(n)), chunksize=CHUNK):
            total += r
        t1 = time.perf_counter()
        pool.close()
        pool.join()
    if total != n * (n - 1):
        sys.exit("pool_bench: wrong sum %d" % total)
    print("%.6f" % (t1 - t0))


def startup():
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(2)
    r = pool.apply(add2, (1, 2))
    pool.close()
    pool.join()
    print(r)


def quantile(v, q):
    """The q-quantile of sorted samples by the nearest rank, as latency.c
    computes it."""
    k = int(q * len(v) + 0.5)
    return v[min(max(k - 1, 0), len(v) - 1)]


def latency(count):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        for _ in range(min(count, 1000)):
            pool.apply(add2, (1, 2))
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            r = pool.apply(add2, (1, 2))
            times.append((time.perf_counter() - t0) * 1e6)
            if r != 3:
                sys.exit("pool_bench: wrong result %r" % r)
        pool.close()
        pool.join()
    times.sort()
    print("%.2f %.2f" % (quantile(times, 0.5), quantile(times, 0.99)))


MAX_US = 20000
MASK = (1 << 64) - 1


def durations(n, seed):
    """balance.c's task durations in microseconds: the same 64-bit LCG."""
    x, out = seed, []
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & MASK
        out.append((x >> 33) % (MAX_US + 1))
    return out


def spin(us):
    """Keep the CPU busy for us microseconds of this thread's CPU time, as
    spin.c does."""
    end = time.thread_time() + us / 1e6
    while time.thread_time() < end:
        pass
    return us


def balance(n, seed):
    us = durations(n, seed)
    ideal = max(sum(us) / 2, max(us))
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        t0 = time.perf_counter()
        got = list(pool.imap(spin, us, chunksize=1))
        t1 = time.perf_counter()
        pool.close()
        pool.join()
    if got != us:
        sys.exit("pool_bench: wrong results")
    span = (t1 - t0) * 1e6
    print("%.2f %.2f %.2f" % ((span / ideal - 1) * 100, span / 1e3,
                              ideal / 1e3))


def big_value(size):
    return b"x" * size


def big(n, size):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        t0 = time.perf_counter()
        for r in pool.imap(big_value, (size for _ in range(n))):
            if len(r) != size or r[0] != 0x78 or r[-1] != 0x78:
                sys.exit("pool_bench: wrong result")
        t1 = time.perf_counter()
        pool.close()
        pool.join()
    print("%.3f %.6f" % (n * size / (t1 - t0) / 1e9, t1 - t0))


def spin_map(n, us):
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        t0 = time.perf_counter()
        got = pool.map(spin, [us] * n)
        t1 = time.perf_counter()
        pool.close()
        pool.join()
    if got != [us] * n:
        sys.exit("pool_bench: wrong results")
    print("%.6f" % (t1 - t0))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "jsonl":
        jsonl(sys.argv[2])
    elif mode == "imap":
        imap(int(sys.argv[2]))
    elif mode == "startup":
        startup()
    elif mode == "latency":
        latency(int(sys.argv[2]))
    elif mode == "balance":
        balance(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "big":
        big(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "spin":
        spin_map(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit("pool_bench: unknown mode " + mode)
