"""The Python side of the benchmarks: multiprocessing.Pool doing the work
the dlpool benchmarks do, the way a Python user would write it.

    pool_bench.py jsonl FILE      JSON Lines [a, b] -> a + b, on stdout
    pool_bench.py imap N          print the seconds imap over N pairs took
    pool_bench.py startup         a Pool(2), one apply, close and join
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


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "jsonl":
        jsonl(sys.argv[2])
    elif mode == "imap":
        imap(int(sys.argv[2]))
    elif mode == "startup":
        startup()
    else:
        sys.exit("pool_bench: unknown mode " + mode)
