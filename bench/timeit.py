"""Run a command several times and print "median min max" in seconds.

    timeit.py wall RUNS CMD...   time the whole process (stdout discarded)
    timeit.py self RUNS CMD...   the command prints its own seconds

stdin is /dev/null.  A run that fails stops everything with its status.
"""
import statistics
import subprocess
import sys
import time


def main():
    mode, runs, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    times = []
    for _ in range(runs):
        if mode == "wall":
            t0 = time.perf_counter()
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        else:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, text=True)
            if p.returncode == 0:
                times.append(float(p.stdout.split()[-1]))
        if p.returncode != 0:
            sys.exit("timeit: %s exited with %d" % (cmd[0], p.returncode))
    print("%.6f %.6f %.6f" % (statistics.median(times), min(times), max(times)))


if __name__ == "__main__":
    main()
