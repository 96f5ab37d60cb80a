#!/usr/bin/env python3
"""check_layers.py BUILD_DIR SRC_ROOT -- the structure check.

Builds the graph "file A calls or reads something file B defines" from the
object files of libweft (nm), then fails when

  * a dependency points up the layers (base < core < protocol modules <
    drivers), e.g. the core calling into membership;
  * a protocol module reaches into the core or another module through an
    internal (weft__) symbol instead of a public header's function -- it may
    use base utilities and the public API;
  * files of the core depend on each other in a circle (engine.c -> conn.c
    -> engine.c): each circle is printed.

Prints the layers and the circles it found.  docs/ARCHITECTURE.md states
the rules.
"""
import os
import subprocess
import sys

LAYER = {"base": 0, "core": 1, "crypto": 3, "uv": 3, "platform": 3, "sim": 3, "store": 3}
MODULE_RANK = 2  # every other folder compiled into libweft is a protocol module


def objects(build):
    out = []
    for lib in ("weft_core.dir", "weft_drivers.dir"):
        root = os.path.join(build, "CMakeFiles", lib, "src")
        for d, _, files in os.walk(root):
            for f in files:
                if f.endswith(".c.o"):
                    rel = os.path.relpath(os.path.join(d, f), root)[: -len(".o")]
                    out.append((rel, os.path.join(d, f)))
    return out


def symbols(obj):
    text = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRC":
            defined.add(parts[2])
    return defined, used


def main():
    build, src = sys.argv[1], sys.argv[2]
    files = {}
    for rel, obj in objects(build):
        if not os.path.exists(os.path.join(src, "src", rel)):
            continue  # a stale object of a moved or deleted source
        files[rel] = symbols(obj)
    owner = {}
    for f, (defined, _) in files.items():
        for s in defined:
            owner[s] = f
    rank = lambda f: LAYER.get(f.split("/")[0], MODULE_RANK)
    folder = lambda f: f.split("/")[0]
    edges = {f: set() for f in files}
    problems = []
    for f, (_, used) in files.items():
        for s in used:
            g = owner.get(s)
            if not g or g == f:
                continue
            edges[f].add(g)
            if rank(g) > rank(f):
                problems.append(f"{f} uses {s} of {g}: a lower layer calls a higher one")
            if rank(f) == MODULE_RANK and s.startswith("weft__") and folder(g) != folder(f) \
                    and rank(g) != LAYER["base"]:
                problems.append(f"{f} uses internal {s} of {g}: modules reach the core and "
                                "each other through public headers only")
    # circles among core files: strongly connected components (Tarjan)
    core = [f for f in files if folder(f) == "core"]
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if folder(w) != "core":
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(core):
        if v not in index:
            visit(v)
    byrank = {}
    for f in files:
        byrank.setdefault(rank(f), set()).add(folder(f))
    names = {0: "base", 1: "core", 2: "modules", 3: "drivers"}
    print("layers: " + " < ".join(f"{names[r]} ({', '.join(sorted(byrank[r]))})"
                                 for r in sorted(byrank)))
    for c in sccs:
        print("circle in the core: " + " <-> ".join(c))
    for p in sorted(set(problems)):
        print(p)
    if sccs or problems:
        sys.exit(1)
    print(f"{len(files)} files: no circle in the core, no dependency against the layers")


if __name__ == "__main__":
    main()
