"""Paired timing, shared by every bench in bench/ (imported, not run).

Ours (A) and a baseline (B) run in turn, A B A B ..., DEFAULT_PAIRS pairs unless told, and the
ratio A/B is taken within each pair: the development machine is shared, its speed drifts from
one minute to the next, and two runs seconds apart see the same machine where two medians taken
minutes apart do not. The summary of a comparison is the median of the pair ratios with their
min–max.

Each run is one child process, its start-up included. Wall time is a monotonic clock around
it; CPU time is user + system of the child and of the children it waited for (npm, pip, node),
from the kernel's accounting of the reaped child (os.wait4). On a shared machine CPU time is
the steadier figure: waiting for a core shows in wall time only.

A baseline run that fails is reported as failed (with its last error line), never timed, and
leaves its pair out of the ratios; a run of ours that fails stops the bench.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

DEFAULT_PAIRS = 8
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Run:
    """One finished child: wall and CPU seconds, exit code, output, and what hooks attached."""

    def __init__(self, wall, cpu, code, stdout, stderr):
        self.wall, self.cpu, self.code = wall, cpu, code
        self.stdout, self.stderr = stdout, stderr
        self.extra = {}

    @property
    def ok(self):
        return self.code == 0

    def reason(self):
        lines = [l for l in self.stderr.strip().splitlines() if l.strip()]
        return "exit %d%s" % (self.code, ": " + lines[-1].strip()[:160] if lines else "")


def run(cmd, cwd=None, env=None):
    """Runs `cmd` once; its output goes to temporary files, so the child is reaped by wait4
    here (subprocess's pipes would reap it themselves and lose its resource usage)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: no second wait
        out.seek(0)
        err.seek(0)
        return Run(wall, usage.ru_utime + usage.ru_stime, proc.returncode,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


class Side:
    """One side of a comparison: the command and, untimed, what precedes and follows each run.

    prepare() runs before every run (clear caches, edit a source, delete a stack); counter(),
    if given, is read just before and after the run and the difference is kept as
    run.extra["requests"] (e.g. the requests a proxy forwarded); check(run) may return a
    reason the run's result is wrong, which counts the run as failed."""

    def __init__(self, label, cmd, cwd=None, env=None, prepare=None, counter=None, check=None):
        self.label, self.cmd, self.cwd, self.env = label, cmd, cwd, env
        self.prepare, self.counter, self.check = prepare, counter, check

    def go(self):
        if self.prepare:
            self.prepare()
        before = self.counter() if self.counter else None
        r = run(self.cmd, self.cwd, self.env)
        if self.counter:
            r.extra["requests"] = self.counter() - before
        if r.ok and self.check:
            wrong = self.check(r)
            if wrong:
                r.code, r.stderr = -1, r.stderr + "\n" + wrong
        return r


def ours_ok(side, r):
    if not r.ok:
        sys.exit("bench: %s failed (%s); ours must work for its time to mean anything:\n%s"
                 % (side.label, r.reason(), r.stderr[-3000:]))
    return r


class Result:
    """The runs of a comparison (or of ours alone, when there is no baseline)."""

    def __init__(self, ours, peer=None):
        self.ours, self.peer = ours, peer
        self.a, self.b = [], []

    def failed(self):
        return [r for r in self.b if not r.ok]

    def ratios(self, key):
        return [getattr(a, key) / getattr(b, key) for a, b in zip(self.a, self.b)
                if b.ok and getattr(b, key) > 0]

    def ratio(self, key="wall"):
        """(median, min, max) of the pair ratios A/B, or None when no pair has a timed B."""
        r = self.ratios(key)
        return (statistics.median(r), min(r), max(r)) if r else None


def compare(ours, peer, pairs=DEFAULT_PAIRS, log=True):
    """A B A B ...: `pairs` pairs of ours and the baseline, one right after the other."""
    result = Result(ours, peer)
    for i in range(pairs):
        if log:
            print("bench:   %s vs %s, pair %d/%d" % (ours.label, peer.label, i + 1, pairs), file=sys.stderr)
        result.a.append(ours_ok(ours, ours.go()))
        result.b.append(peer.go())
    return result


def alone(ours, runs=DEFAULT_PAIRS, log=True):
    """Ours only, `runs` times: for a figure that has no baseline to pair it with."""
    result = Result(ours)
    if log:
        print("bench:   %s, %d runs" % (ours.label, runs), file=sys.stderr)
    for _ in range(runs):
        result.a.append(ours_ok(ours, ours.go()))
    return result


def stats(values):
    return (statistics.median(values), min(values), max(values)) if values else None


def fmt_time(seconds):
    return "%.0f ms" % (seconds * 1000) if seconds < 1 else "%.2f s" % seconds


def fmt_spread(triple, fmt=fmt_time):
    """median (min–max)"""
    if triple is None:
        return "–"
    return "%s (%s–%s)" % (fmt(triple[0]), fmt(triple[1]), fmt(triple[2]))


def fmt_ratio(triple):
    if triple is None:
        return "–"
    f = lambda r: ("%.2f" if r >= 0.1 else "%.3f" if r >= 0.01 else "%.4f") % r
    return "%s× (%s–%s)" % (f(triple[0]), f(triple[1]), f(triple[2]))


def side_cells(runs):
    """Wall and CPU of one side's runs; a side whose runs all failed says so instead."""
    timed = [r for r in runs if r.ok]
    failed = [r for r in runs if not r.ok]
    if not timed:
        return ["failed (%d of %d runs: %s)" % (len(failed), len(runs), failed[-1].reason()), "–"]
    wall = fmt_spread(stats([r.wall for r in timed]))
    if failed:
        wall += " (%d of %d runs failed: %s)" % (len(failed), len(runs), failed[-1].reason())
    return [wall, fmt_spread(stats([r.cpu for r in timed]))]


HEADER = ("| scenario | ours: wall | ours: CPU | baseline | baseline: wall | baseline: CPU "
          "| ours/baseline wall | ours/baseline CPU |\n|---|---:|---:|---|---:|---:|---:|---:|")


def row(label, result):
    """One markdown row under HEADER: medians (min–max) of each side, then the median (min–max)
    of the pair ratios."""
    cells = [label] + side_cells(result.a)
    if result.peer is None:
        cells += ["–", "–", "–", "–", "–"]
    else:
        cells += [result.peer.label] + side_cells(result.b)
        cells += [fmt_ratio(result.ratio("wall")), fmt_ratio(result.ratio("cpu"))]
    return "| " + " | ".join(cells) + " |"


def conditions(started_load):
    """The machine while the bench ran: cores, and the load average before and after."""
    return "%d cores, load average %s at the start and %s at the end, %s UTC" % (
        os.cpu_count(), started_load, load(), time.strftime("%Y-%m-%d %H:%M", time.gmtime()))


def load():
    with open("/proc/loadavg") as f:
        return "/".join(f.read().split()[:3])


def release_binary(given=None):
    """The binary to time: `given`, else the release build, built (or brought up to date) here
    so a bench never times a debug build or a stale one."""
    if given:
        path = os.path.abspath(given)
        if not os.access(path, os.X_OK):
            sys.exit("bench: %s is not an executable" % path)
        return path
    print("bench: cargo build --release (up to date in a second when nothing changed)", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    return os.path.join(target, "release", "scorekeep-deploy")


def add_pairs_argument(parser, default=DEFAULT_PAIRS):
    parser.add_argument("--pairs", type=int, default=default,
                        help="pairs of runs, ours and the baseline in turn (default %d)" % default)
