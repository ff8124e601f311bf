#!/usr/bin/env python3
"""Lists the pairs of modules of the shmpipe library that name each other (`crate::a` in b and
`crate::b` in a), and longer cycles: the module graph must stay acyclic (issue 11).

Usage: scripts/module_cycles.py [SRC_DIR]   (default shmpipe/src); exits 1 on a cycle.
A module is a top-level file or directory of the crate; doc comments and `crate::` in strings
are ignored."""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', 'shmpipe', 'src')
mods = {}
for entry in sorted(os.listdir(src)):
    path = os.path.join(src, entry)
    name = entry[:-3] if entry.endswith('.rs') else entry
    if name in ('lib', 'main'):
        continue
    files = []
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            files += [os.path.join(root, n) for n in names if n.endswith('.rs')]
    elif entry.endswith('.rs'):
        files = [path]
    mods[name] = files

def code(text):
    out = []
    for line in text.split('\n'):
        s = line.strip()
        if s.startswith('//'):
            continue
        out.append(re.sub(r'"(\\.|[^"\\])*"', '""', line))
    return '\n'.join(out)

edges = {m: set() for m in mods}
for m, files in mods.items():
    for f in files:
        text = code(open(f).read())
        for target in re.findall(r'\bcrate::([a-z_]+)', text):
            if target in mods and target != m:
                edges[m].add(target)
        # `use crate::{a, b::c}` groups
        for group in re.findall(r'use crate::\{([^}]*)\}', text, re.S):
            for target in re.findall(r'(?:^|,)\s*([a-z_]+)', group):
                if target in mods and target != m:
                    edges[m].add(target)

cycles = []
state = {}
stack = []
def visit(m):
    state[m] = 1
    stack.append(m)
    for t in sorted(edges[m]):
        if state.get(t) == 1:
            cycles.append(stack[stack.index(t):] + [t])
        elif t not in state:
            visit(t)
    stack.pop()
    state[m] = 2
for m in sorted(mods):
    if m not in state:
        visit(m)
for c in cycles:
    print('cycle: ' + ' -> '.join(c))
print(f'{len(mods)} modules, {sum(len(e) for e in edges.values())} edges, {len(cycles)} cycles')
sys.exit(1 if cycles else 0)
