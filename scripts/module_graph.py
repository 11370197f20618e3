#!/usr/bin/env python3
"""Prints which module of the connector crate imports which (crates/kinetic/src), one line per
module: `module -> dependencies`, and the cycles among them. Modules are the top-level ones, with
auth/ and oauth/ split into their files. Usage: python3 scripts/module_graph.py [--top] [SRC_DIR]  (--top: top-level modules only)"""
import os, re, sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
TOP = "--top" in sys.argv
src = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "crates", "kinetic", "src")
SPLIT = set() if TOP else {"auth", "oauth"}

def module_of(rel):
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    if not parts:
        return None
    if parts[0] in SPLIT and len(parts) > 1:
        return f"{parts[0]}::{parts[1]}"
    return parts[0]

def target(path, here):
    # path: the words after `crate::`
    words = path.split("::")
    if words[0] in SPLIT and len(words) > 1 and words[1][:1].islower():
        cand = f"{words[0]}::{words[1]}"
        if os.path.exists(os.path.join(src, words[0], words[1] + ".rs")) or os.path.isdir(os.path.join(src, words[0], words[1])):
            return cand
    return words[0]

graph = {}
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"):
            continue
        full = os.path.join(root, f)
        rel = os.path.relpath(full, src)
        here = module_of(rel)
        if here is None:
            continue
        text = open(full).read()
        # Drop test modules (`#[cfg(test)] mod tests { ... }` and tests.rs files): not the shape.
        if os.path.basename(full) == "tests.rs":
            continue
        text = text.split("#[cfg(test)]\nmod tests {")[0]
        # Comments (doc links included) are not imports.
        text = re.sub(r"//[^\n]*", "", text)
        deps = graph.setdefault(here, set())
        for m in re.finditer(r"crate::((?:[a-z_]+::)*[A-Za-z_]+)", text):
            t = target(m.group(1), here)
            if t != here and t not in ("Error", "Result", "Secret", "Settings", "Client", "Connection", "ErrorKind", "ErrorDetail", "OAuthError", "OAuthErrorCode"):
                deps.add(t)
            elif t in ("Error", "Result", "ErrorKind", "ErrorDetail", "OAuthError", "OAuthErrorCode"):
                if here != "error": deps.add("error")
            elif t == "Secret" and here != "secret":
                deps.add("secret")
            elif t == "Settings" and here != "settings":
                deps.add("settings")
            elif t == "Client" and here != "client":
                deps.add("client")
            elif t == "Connection" and here != "connection":
                deps.add("connection")
        # `use crate::{a, b::c}` groups
        for m in re.finditer(r"use crate::\{([^}]*)\}", text):
            for item in m.group(1).split(","):
                item = item.strip()
                if not item: continue
                name = item.split("::")[0]
                mapping = {"Error": "error", "Result": "error", "ErrorKind": "error", "OAuthErrorCode": "error", "Secret": "secret", "Settings": "settings", "Client": "client", "Connection": "connection"}
                t = mapping.get(name) or target(item, here)
                if t != here: deps.add(t)
        if here.count("::"):
            parent = here.split("::")[0]
            for m in re.finditer(r"super::([a-z_]+)", text):
                cand = f"{parent}::{m.group(1)}"
                if cand != here and os.path.exists(os.path.join(src, parent, m.group(1) + ".rs")):
                    deps.add(cand)
                elif cand != here and m.group(1) not in ("tests",):
                    deps.add(parent)

# Merge `auth` (auth/mod.rs) edges with items named under it.
names = sorted(graph)
for n in names:
    print(f"{n} -> {', '.join(sorted(d for d in graph[n] if d in graph or d.split('::')[0] in graph)) or '(nothing)'}")

# Cycles: strongly connected components of size > 1.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def strong(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in graph.get(v, ()):
        if w not in graph: continue
        if w not in index:
            strong(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in names:
    if v not in index: strong(v)
print("cycles:", "; ".join(" <-> ".join(c) for c in sccs) if sccs else "none")
