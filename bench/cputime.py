#!/usr/bin/env python3
"""cputime - run a command and print the CPU time each thread of its
process tree used, by process, so that one can see where a run's CPU goes
(rank 0, the bridges, an agent, the workers of an MPI run, say).

Usage: bench/cputime.py COMMAND [ARG...]

It samples /proc every 2 ms while the command runs and keeps each thread's
last reading: a thread that ends between two samples loses at most 2 ms of
its time.  Threads are listed under their process, with the process's
parent, so a process tree reads from the listing; times are in ms (the
kernel counts in clock ticks of 10 ms).
"""
import os
import subprocess
import sys
import time


def sample(seen, ticks):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    s = f.read()
            except OSError:
                continue
            comm = s[s.index("(") + 1:s.rindex(")")]
            f = s[s.rindex(")") + 2:].split()
            ms = (int(f[11]) + int(f[12])) * 1000 // ticks
            seen[(int(pid), int(tid))] = (comm, int(f[1]), ms)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip())
    ticks = os.sysconf("SC_CLK_TCK")
    before = {}
    sample(before, ticks)
    t0 = time.monotonic()
    child = subprocess.Popen(sys.argv[1:])
    seen = {}
    while child.poll() is None:
        sample(seen, ticks)
        time.sleep(0.002)
    wall = time.monotonic() - t0
    # The command's tree: its process and every process below it.
    tree = {child.pid}
    grew = True
    while grew:
        grew = False
        for (pid, tid), (comm, ppid, ms) in seen.items():
            if pid == tid and ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    total = 0
    print(f"{'pid':>7} {'tid':>7} {'parent':>7}  {'name':<16} {'cpu ms':>7}")
    for (pid, tid), (comm, ppid, ms) in sorted(seen.items()):
        if pid not in tree or (pid, tid) in before:
            continue
        parent = seen.get((pid, pid), (None, 0, 0))[1]
        if ms > 0:
            print(f"{pid:>7} {tid:>7} {parent:>7}  {comm:<16} {ms:>7}")
        total += ms
    print(f"total {total} ms of CPU in {wall * 1000:.0f} ms "
          f"({os.cpu_count()} CPUs); exit status {child.returncode}")
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
