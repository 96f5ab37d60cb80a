#!/usr/bin/env python3
"""bench_membership.py BUILD_DIR [--sizes 10,50] [--runs 2] [--idle-secs 10]

Membership side by side: weft (weftd) against HashiCorp Serf (Debian
package `serf`), N processes on 127.0.0.1, same machine, same run,
alternating systems run by run.  Per run and system:

  full view    time from the start of the last process until every process
               has logged the join of all N members (weft: N-1 lines
               `member-joined`; serf: `EventMemberJoin` for all N names);
  idle bytes   bytes/s per node over --idle-secs once converged.  Measured
               the same way for both: the byte counter of the loopback
               interface of a network namespace created for the run (only
               that system's nodes live there), divided by N and the
               window: IP packets incl. headers (needs root; without root
               the cluster runs in the host namespace and this figure is
               not measured).  weft's own payload counter (sum of
               `bytes_out` of `weft membership`) is printed too;
  RSS          VmRSS of each process (/proc/PID/status) after the idle
               window: median reported;
  failure      `kill -9` of the last process; time until every other
               process has logged it failed (weft `member-failed`, serf
               `EventMemberFailed`).

weft nodes join through --peers-file (membership only, no data session);
serf agents with -join, as the anchor measurement did.  Timestamps are
taken by reader threads on each process's stdout (lines are flushed).
Every wait has a cap; every process started is killed at exit.  Prints one
JSON line per metric:
{"bench":"membership","metric":...,"value":<weft median>,"unit":...,
 "baseline":<serf median>,"ratio":value/baseline,"runs":[...],"baseline_runs":[...]}
"""
import argparse, json, os, re, shutil, signal, statistics, subprocess, sys, tempfile, threading, time

PROCS = []


def cleanup():
    for p in PROCS:
        try:
            p.kill()
        except Exception:
            pass
    for p in PROCS:
        try:
            p.wait(timeout=5)
        except Exception:
            pass
    PROCS.clear()


class Node:
    """A process whose stdout lines are timestamped by a reader thread."""

    def __init__(self, argv, ns=None):
        if ns:
            argv = ["ip", "netns", "exec", ns] + argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, text=True, bufsize=1)
        PROCS.append(self.p)
        self.lines = []  # (t, line)
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            with self.lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def first(self, rx, count=1):
        """Time of the count-th line matching rx (distinct first groups when
        rx has a group), or None."""
        seen = set()
        with self.lock:
            lines = list(self.lines)
        for t, l in lines:
            m = rx.search(l)
            if not m:
                continue
            seen.add(m.group(1) if m.groups() else len(seen))
            if len(seen) >= count:
                return t
        return None

    def rss_kib(self):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for l in f:
                    if l.startswith("VmRSS:"):
                        return int(l.split()[1])
        except OSError:
            pass
        return None


def wait_until(pred, cap_s, step=0.01):
    end = time.monotonic() + cap_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def lo_bytes(ns):
    """tx bytes of lo in namespace ns (or the host's when ns is None)."""
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["cat", "/proc/net/dev"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    for l in out.splitlines():
        if l.strip().startswith("lo:"):
            f = l.split(":", 1)[1].split()
            return int(f[8])  # transmit bytes
    return None


class Weft:
    name = "weft"
    join_rx = re.compile(r"^member-joined id=([0-9a-f]{16})")

    def __init__(self, build):
        self.weftd = os.path.join(build, "weftd")
        self.weft = os.path.join(build, "weft")

    def start(self, i, tmp, ns):
        d = os.path.join(tmp, f"w{i}")
        os.makedirs(d, mode=0o700, exist_ok=True)
        pf = os.path.join(tmp, "peers.txt")
        if i == 0:
            with open(pf, "w") as f:
                f.write(f"127.0.0.1:{27000}\n")
        argv = [self.weftd, "--data-dir", d, "--network-passphrase", "bench-membership",
                "--listen", f"127.0.0.1:{27000 + i}", "--name", f"n{i}", "--profile", "lan"]
        if i > 0:
            argv += ["--peers-file", pf]
        n = Node(argv, ns)
        n.dir = d
        return n

    def ready(self, n):
        return n.first(re.compile(r"^membership addr=")) is not None

    def full_view_t(self, n, N):
        return n.first(self.join_rx, N - 1)

    def failed_t(self, n, victim):
        return n.first(re.compile(r"^member-failed id=" + victim.short))

    def ident(self, n):
        t = n.first(re.compile(r"^node id="))
        with n.lock:
            for _, l in n.lines:
                m = re.match(r"^node id=([0-9a-f]{16})", l)
                if m:
                    n.short = m.group(1)
        return t

    def payload_bytes_out(self, nodes):
        tot = 0
        for n in nodes:
            out = subprocess.run([self.weft, "membership", "--data-dir", n.dir],
                                 capture_output=True, text=True, timeout=10).stdout
            m = re.search(r"^bytes_out=(\d+)", out, re.M)
            tot += int(m.group(1)) if m else 0
        return tot


class Serf:
    name = "serf"
    join_rx = re.compile(r"EventMemberJoin: (\S+)")

    def start(self, i, tmp, ns):
        argv = ["serf", "agent", f"-node=n{i}", f"-bind=127.0.0.1:{17000 + i}",
                f"-rpc-addr=127.0.0.1:{18000 + i}", "-log-level=info"]
        if i > 0:
            argv.append("-join=127.0.0.1:17000")
        n = Node(argv, ns)
        n.short = f"n{i}"
        return n

    def ready(self, n):
        return n.first(re.compile(r"EventMemberJoin: n0\b")) is not None

    def full_view_t(self, n, N):
        return n.first(self.join_rx, N)

    def failed_t(self, n, victim):
        return n.first(re.compile(r"EventMemberFailed: " + victim.short + r"\b"))

    def ident(self, n):
        return 0


def one_run(sysm, N, idle_s, use_ns, run):
    tmp = tempfile.mkdtemp(prefix=f"weft-bench-{sysm.name}{N}-")
    ns = f"wftbm{os.getpid()}{sysm.name[0]}{N}r{run}" if use_ns else None
    res = {"system": sysm.name, "N": N, "run": run}
    try:
        if ns:
            subprocess.run(["ip", "netns", "add", ns], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        nodes = [sysm.start(0, tmp, ns)]
        if not wait_until(lambda: sysm.ready(nodes[0]), 15):
            raise RuntimeError(f"{sysm.name} n0 did not start")
        for i in range(1, N):
            nodes.append(sysm.start(i, tmp, ns))
        t_last = time.monotonic()
        ok = wait_until(lambda: all(sysm.full_view_t(n, N) for n in nodes), 120, 0.02)
        if not ok:
            raise RuntimeError(f"{sysm.name} N={N}: no full view within 120 s")
        for n in nodes:
            sysm.ident(n)
        res["full_view_ms"] = (max(sysm.full_view_t(n, N) for n in nodes) - t_last) * 1000
        time.sleep(1.0)  # settle: the join wave's gossip drains
        b0, t0 = lo_bytes(ns) if ns else None, time.monotonic()
        w0 = sysm.payload_bytes_out(nodes) if sysm.name == "weft" else None
        time.sleep(idle_s)
        b1, t1 = lo_bytes(ns) if ns else None, time.monotonic()
        w1 = sysm.payload_bytes_out(nodes) if sysm.name == "weft" else None
        if ns and b0 is not None and b1 is not None:
            res["idle_bytes_per_s_per_node"] = (b1 - b0) / (t1 - t0) / N
        if w0 is not None:
            res["payload_bytes_out_per_s_per_node"] = (w1 - w0) / (t1 - t0) / N
        rss = [r for r in (n.rss_kib() for n in nodes) if r]
        res["rss_kib_median"] = statistics.median(rss)
        res["rss_kib_max"] = max(rss)
        victim = nodes[-1]
        victim.p.kill()
        t_kill = time.monotonic()
        others = nodes[:-1]
        ok = wait_until(lambda: all(sysm.failed_t(n, victim) for n in others), 60, 0.02)
        if ok:
            res["failure_seen_by_all_ms"] = (max(sysm.failed_t(n, victim) for n in others) - t_kill) * 1000
        else:
            res["failure_missing"] = sum(1 for n in others if not sysm.failed_t(n, victim))
    except Exception as e:  # a failed run is reported, the bench goes on
        res["error"] = str(e)
    finally:
        cleanup()
        if ns:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
    print("# run " + json.dumps(res), file=sys.stderr, flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--sizes", default="10,50")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--idle-secs", type=float, default=10.0)
    ap.add_argument("--no-serf", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    systems = [Weft(build)]
    if not a.no_serf:
        if not shutil.which("serf"):
            print("# serf missing: installing the Debian package", file=sys.stderr)
            subprocess.run(["apt-get", "install", "-y", "-q", "serf"], stdout=subprocess.DEVNULL)
        if shutil.which("serf"):
            systems.append(Serf())
        else:
            print("# serf not available: no baseline", file=sys.stderr)
    use_ns = os.geteuid() == 0 and subprocess.run(
        ["ip", "netns", "add", f"wftbm{os.getpid()}probe"], stderr=subprocess.DEVNULL).returncode == 0
    if use_ns:
        subprocess.run(["ip", "netns", "del", f"wftbm{os.getpid()}probe"])
    else:
        print("# not root: clusters run in the host namespace; idle bytes not measured", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: (cleanup(), sys.exit(130)))
    results = []
    try:
        for run in range(a.runs):
            for N in [int(x) for x in a.sizes.split(",")]:
                for s in systems:
                    results.append(one_run(s, N, a.idle_secs, use_ns, run))
    finally:
        cleanup()
    metrics = [("full_view_ms", "ms"), ("failure_seen_by_all_ms", "ms"),
               ("idle_bytes_per_s_per_node", "B/s"), ("rss_kib_median", "KiB"),
               ("payload_bytes_out_per_s_per_node", "B/s")]
    for N in [int(x) for x in a.sizes.split(",")]:
        for key, unit in metrics:
            w = [r[key] for r in results if r["system"] == "weft" and r["N"] == N and key in r]
            s = [r[key] for r in results if r["system"] == "serf" and r["N"] == N and key in r]
            if not w:
                continue
            v = statistics.median(w)
            b = statistics.median(s) if s else None
            out = {"bench": "membership", "metric": f"{key}_N{N}", "value": round(v, 1), "unit": unit,
                   "baseline": round(b, 1) if b is not None else None,
                   "ratio": round(v / b, 3) if b else None,
                   "runs": [round(x, 1) for x in w], "baseline_runs": [round(x, 1) for x in s]}
            print(json.dumps(out), flush=True)
    errs = [r for r in results if "error" in r]
    return 1 if errs and len(errs) == len(results) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup()
