"""Fail on any import cycle among our modules (engine, dashboard), function-level imports included.

import-linter's contracts (``lint-imports``, config in pyproject.toml) check layers and forbidden imports; a cycle
inside one layer passes them, so this lists every strongly connected group of modules in grimp's import graph
(grimp reads every import statement, also those inside functions) with one import chain that closes each cycle.
Exit 0: no cycle; 1: cycles, each printed.
"""

from __future__ import annotations

import sys

import grimp

PACKAGES = ("engine", "dashboard")


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative), each sorted, sorted by first."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in PACKAGES)
    edges = {m: sorted(n for n in graph.find_modules_directly_imported_by(m) if n in graph.modules
                       and n.split(".")[0] in PACKAGES and n != m) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return sorted(found)


def describe(graph: grimp.ImportGraph, group: list[str]) -> list[str]:
    """The imports inside ``group`` with their line numbers: 'a -> b (l.12)'."""
    lines = []
    members = set(group)
    for importer in group:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            details = graph.get_import_details(importer=importer, imported=imported)
            where = ", ".join(f"l.{d['line_number']}" for d in details)
            lines.append(f"    {importer} -> {imported} ({where})")
    return lines


def main() -> int:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    found = cycles(graph)
    if not found:
        print(f"no import cycles among the modules of {', '.join(PACKAGES)}")
        return 0
    print(f"{len(found)} import cycle(s) among our modules (a function-level import still counts):")
    for n, group in enumerate(found, 1):
        print(f"  {n}. {' <-> '.join(group)}")
        print("\n".join(describe(graph, group)))
    return 1


if __name__ == "__main__":
    sys.exit(main())
