#!/usr/bin/env python3
"""include-circles.py ROOT - fail when two modules include each other.

A module is a file stem (foo.c, foo.h, foo.cc, foo.cu are module foo); an
edge foo -> bar is an #include "bar.h" in any file of foo. Every circle,
direct or round a longer path, is printed and fails the test: a layer may
only include the layers below it (README, "Layout"). Build folders and
hidden folders (.git, .venv) are not looked at."""
import os,re,sys,collections
root=sys.argv[1]
mods=collections.defaultdict(set); have=set()
for d,_,fs in os.walk(root):
    # not build trees, nor hidden folders: .git, and a .venv whose packages
    # (torch, triton) bring C headers of their own
    if any(p.startswith('build') or (p.startswith('.') and p != '.') for p in os.path.relpath(d, root).split(os.sep)): continue
    for f in fs:
        if re.search(r'\.(c|h|cc|cu)$',f):
            stem=f.rsplit('.',1)[0]; have.add(stem)
            for l in open(os.path.join(d,f),errors='ignore'):
                m=re.match(r'\s*#\s*include\s+"([^"]+)\.h"',l)
                if m:
                    t=os.path.basename(m.group(1))
                    if t!=stem: mods[stem].add(t)
cyc=set()
def dfs(u,path,seen):
    for v in mods.get(u,()):
        if v in path: cyc.add(tuple(path[path.index(v):]+[v]))
        elif v not in seen: seen.add(v); dfs(v,path+[v],seen)
for u in list(mods): dfs(u,[u],{u})
for c in sorted(cyc):
    print('include circle: ' + ' -> '.join(c))
if cyc:
    sys.exit(1)
print('no include circles among %d modules' % len(have))
