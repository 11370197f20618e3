#!/usr/bin/env python3
"""The module graph of a crate: which module imports which, one line per module
(`module -> dependencies`), and the cycles among them.

Usage:
  python3 scripts/module_graph.py [--top] [SRC_DIR]   one crate (default: the connector,
      crates/kinetic/src; --top: top-level modules only, else auth/ and oauth/ split into files)
  python3 scripts/module_graph.py --check             every crate and the web app: no import
      cycle and no source file over 1,000 lines (tests excepted), beyond the known ones listed in
      KNOWN below; exits 1 on a new one, or on a known one that is gone (take it off the list).
      scripts/test.sh runs it.

Imports are read from the source: `crate::a::...` paths, `use crate::{a, b::c}` groups, names the
crate root re-exports (`pub use error::{SqlError, ...}` makes `crate::SqlError` an import of
`error`), and `super::x` inside a folder. Comments and `#[cfg(test)] mod tests` are not imports."""
import os, re, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CRATES = [
    "crates/kinetic/src",
    "crates/kinetic-odata/src",
    "crates/kinetic-emulator/src",
    "crates/kinetic-sql/src",
    "crates/kinetic-cli/src",
    "crates/kinetic-py/src",
    "crates/layer-check/src",
    "examples/webapp/src",
]
LONGEST = 1000

# Known exceptions, each with its reason, while one is mended: every entry must still be true
# (a mended one is taken off), and nothing else may appear. Empty since issue 27.
KNOWN = {"cycles": {}, "long": []}


def reexports(src):
    """Names the crate root re-exports, by module: `pub use error::{A, B}` -> {A: error, B: error}."""
    out = {}
    for root_file in ("lib.rs", "main.rs"):
        path = os.path.join(src, root_file)
        if not os.path.exists(path):
            continue
        text = re.sub(r"//[^\n]*", "", open(path).read())
        for m in re.finditer(r"pub use (?:crate::)?([a-z_]+)::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)", text):
            module, names = m.group(1), m.group(2).strip("{}")
            for name in names.split(","):
                name = name.strip().split(" as ")[-1].split("::")[-1].strip()
                if name and name != "self":
                    out[name] = module
    return out


def graph_of(src, split):
    """`{module: {modules it imports}}` for the crate at `src`."""
    names = reexports(src)

    def module_of(rel):
        parts = rel[:-3].split(os.sep)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        if not parts:
            return None
        if parts[0] in split and len(parts) > 1:
            return f"{parts[0]}::{parts[1]}"
        return parts[0]

    def target(path):
        words = path.split("::")
        if words[0] in names:
            return names[words[0]]
        if words[0] in split and len(words) > 1 and words[1][:1].islower():
            if os.path.exists(os.path.join(src, words[0], words[1] + ".rs")) or os.path.isdir(
                os.path.join(src, words[0], words[1])
            ):
                return f"{words[0]}::{words[1]}"
        return words[0]

    graph = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            full = os.path.join(root, f)
            here = module_of(os.path.relpath(full, src))
            if here is None:
                continue
            text = open(full).read().split("#[cfg(test)]\nmod tests {")[0]
            text = re.sub(r"//[^\n]*", "", text)
            deps = graph.setdefault(here, set())
            for m in re.finditer(r"crate::((?:[a-z_]+::)*[A-Za-z_][A-Za-z0-9_]*)", text):
                deps.add(target(m.group(1)))
            for m in re.finditer(r"use crate::\{([^}]*)\}", text):
                for item in m.group(1).split(","):
                    item = item.strip()
                    if item:
                        deps.add(target(item))
            if "::" in here:
                parent = here.split("::")[0]
                for m in re.finditer(r"super::([a-z_]+)", text):
                    cand = f"{parent}::{m.group(1)}"
                    if os.path.exists(os.path.join(src, parent, m.group(1) + ".rs")):
                        deps.add(cand)
                    elif m.group(1) != "tests":
                        deps.add(parent)
            deps.discard(here)
    # Only modules of the crate count (a re-exported type resolved to its module above).
    for deps in graph.values():
        deps.intersection_update(graph)
    return graph


def cycles(graph):
    """Strongly connected components of more than one module, each sorted."""
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
                sccs.append(" <-> ".join(sorted(comp)))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(sccs)


def long_files(src_rel):
    out = []
    for root, _, files in os.walk(os.path.join(ROOT, src_rel)):
        for f in files:
            if not f.endswith(".rs") or f == "tests.rs":
                continue
            full = os.path.join(root, f)
            with open(full) as fh:
                n = sum(1 for _ in fh)
            if n > LONGEST:
                out.append((os.path.relpath(full, ROOT), n))
    return sorted(out)


def check():
    problems, stale = [], []
    for src in CRATES:
        found = cycles(graph_of(os.path.join(ROOT, src), set()))
        known = KNOWN["cycles"].get(src, [])
        print(f"{src}: cycles: {'; '.join(found) if found else 'none'}")
        problems += [f"{src}: a new import cycle: {c}" for c in found if c not in known]
        stale += [f"{src}: the cycle {c} is gone" for c in known if c not in found]
        for path, n in long_files(src):
            print(f"{path}: {n} lines")
            if path not in KNOWN["long"]:
                problems.append(f"{path}: {n} lines, over {LONGEST} (split it into rooms with one job each)")
    for path in KNOWN["long"]:
        full = os.path.join(ROOT, path)
        if not os.path.exists(full) or sum(1 for _ in open(full)) <= LONGEST:
            stale.append(f"{path} is no longer over {LONGEST} lines")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    for s in stale:
        print(f"error: {s}: take it off KNOWN in scripts/module_graph.py", file=sys.stderr)
    return 1 if problems or stale else 0


def main():
    if "--check" in sys.argv:
        sys.exit(check())
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src = args[0] if args else os.path.join(ROOT, "crates", "kinetic", "src")
    split = set() if "--top" in sys.argv else {"auth", "oauth"}
    graph = graph_of(src, split)
    for n in sorted(graph):
        print(f"{n} -> {', '.join(sorted(graph[n])) or '(nothing)'}")
    found = cycles(graph)
    print("cycles:", "; ".join(found) if found else "none")


main()
