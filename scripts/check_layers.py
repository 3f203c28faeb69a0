#!/usr/bin/env python3
"""Checks the dependency direction of the package's layers from what SwiftPM resolved (`make layers`).

For each layer it computes every module the layer's target reaches, through this package's targets and
the products of its dependencies (`swift package describe` in .build/checkouts), and fails when one
reaches a module it must not: the core no network framework, CLI parser or MCP; the service no HTTP
framework, CLI parser or MCP; the MCP tools no HTTP framework or server.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORBIDDEN = {
    "Engram": r"^(NIO|Hummingbird|HTTPTypes|ArgumentParser|MCP$|Prometheus|PostgresNIO|Engram(Service|Server|MCP|CLI|Cluster)$)",
    "EngramService": r"^(NIOHTTP|Hummingbird|HTTPTypes|ArgumentParser|MCP$|Prometheus|PostgresNIO|Engram(Server|MCP|CLI|Cluster)$)",
    "EngramCluster": r"^(Hummingbird|ArgumentParser|MCP$|Prometheus|Engram(Server|MCP|CLI)$)",
    "EngramMCP": r"^(NIOHTTP|Hummingbird|HTTPTypes|ArgumentParser|Prometheus|Engram(Server|CLI)$)",
}
descriptions = {}


def describe(path):
    if path not in descriptions:
        out = subprocess.run(["swift", "package", "describe", "--type", "json"], cwd=path, check=True,
                             capture_output=True, text=True).stdout
        descriptions[path] = json.loads(out[out.index("{"):])
    return descriptions[path]


def checkout(package):
    for name in os.listdir(os.path.join(ROOT, ".build", "checkouts")):
        if name.lower() == package.lower():
            return os.path.join(ROOT, ".build", "checkouts", name)
    return None  # a dependency no built target uses (a plugin, a test-only package) is not checked out


def closure(path, target, seen):
    d = describe(path)
    targets = {t["name"]: t for t in d["targets"]}
    if (path, target) in seen:
        return
    seen.add((path, target))
    t = targets[target]
    for dep in t.get("target_dependencies", []):
        closure(path, dep, seen)
    for product in t.get("product_dependencies", []):
        # A product of a dependency: find which package has it.
        for dep in d.get("dependencies", []):
            dpath = checkout(dep["identity"])
            if dpath is None:
                continue
            products = {p["name"]: p for p in describe(dpath)["products"]}
            if product in products:
                for pt in products[product]["targets"]:
                    closure(dpath, pt, seen)
                break


failed = False
for layer, pattern in FORBIDDEN.items():
    seen = set()
    closure(ROOT, layer, seen)
    modules = sorted({t for _, t in seen} - {layer})
    bad = [m for m in modules if re.search(pattern, m)]
    print(f"{layer}: reaches {len(modules)} modules" + (f"; FORBIDDEN: {', '.join(bad)}" if bad else ""))
    failed |= bool(bad)
sys.exit(1 if failed else 0)
