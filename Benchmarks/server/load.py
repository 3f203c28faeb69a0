#!/usr/bin/env python3
"""Load test of `engram serve` with wrk from a second process on loopback.

Vector phase: a store of N Gaussian-mixture vectors built by `engram bench run` (which also gives the
in-process batched recall rate on the same data, the reference), served by `engram serve`; wrk drives
90 % vector recall / 10 % remember at each concurrency level, then 100 % vector recall.
Text phase: N synthetic text memories imported with the hashing embedder; wrk drives hybrid text
recall. Prints a table and writes WORK/results.json. Status codes are counted in wrk's Lua hooks:
2xx, 503 (the server's backpressure) and anything else (errors).

    python3 Benchmarks/server/load.py [--n 100000] [--d 384] [--duration 10] [--levels 1,8,32,128]
"""
import argparse, json, os, random, re, shutil, signal, struct, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def ensure_wrk():
    if shutil.which("wrk"):
        return
    print("installing wrk with apt-get", file=sys.stderr)
    subprocess.run(["apt-get", "update"], check=False, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)


def read_fvecs(path, limit):
    out = []
    with open(path, "rb") as f:
        while len(out) < limit:
            head = f.read(4)
            if not head:
                break
            (d,) = struct.unpack("<i", head)
            out.append(struct.unpack("<%df" % d, f.read(4 * d)))
    return out


def lua_string(s):
    return "[==[" + s + "]==]"


LUA_TAIL = r"""
local counts = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; busy = 0; other = 0; math.randomseed(os.time() + math.random(1000000)) end
function request()
  local i = math.random(#bodies)
  return wrk.format("POST", paths[i], {["Content-Type"] = "application/json"}, bodies[i])
end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 503 or status == 429 then busy = busy + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local o, b, x = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("busy"); x = x + t:get("other") end
  io.write(string.format("STATUS ok=%d busy=%d other=%d\n", o, b, x))
  io.write(string.format("LAT p50=%f p90=%f p99=%f\n", latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000))
end
"""


def write_lua(path, requests):
    with open(path, "w") as f:
        f.write("paths = {}\nbodies = {}\n")
        for i, (p, body) in enumerate(requests, 1):
            f.write("paths[%d] = %s\nbodies[%d] = %s\n" % (i, lua_string(p), i, lua_string(body)))
        f.write(LUA_TAIL)


class Server:
    def __init__(self, engram, store, workers, depth):
        env = dict(os.environ, ENGRAM_LOG_LEVEL="error")
        self.proc = subprocess.Popen(
            [engram, "serve", "--store", store, "--port", "0", "--workers", str(workers), "--queue-depth", str(depth)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        line = self.proc.stdout.readline()
        m = re.search(r":(\d+)\s*$", line)
        if not m:
            self.proc.kill()
            raise SystemExit("server did not start: " + line)
        self.url = "http://127.0.0.1:" + m.group(1)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def wrk(url, script, conns, duration):
    threads = 1 if conns == 1 else 2
    out = run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration, "--timeout", "10s", "-s", script, url])
    qps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    s = re.search(r"STATUS ok=(\d+) busy=(\d+) other=(\d+)", out)
    lat = re.search(r"LAT p50=([\d.]+) p90=([\d.]+) p99=([\d.]+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {
        "concurrency": conns, "qps": qps, "ok": int(s.group(1)), "busy_503": int(s.group(2)), "errors": int(s.group(3)),
        "p50_ms": float(lat.group(1)), "p90_ms": float(lat.group(2)), "p99_ms": float(lat.group(3)),
        "socket_errors": sock.group(1).strip() if sock else "",
    }


def words(rng, vocabulary, n):
    return " ".join(rng.choice(vocabulary) for _ in range(n))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--levels", default="1,8,32,128")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--work", default="/tmp/engram-load")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--skip-text", action="store_true")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    ensure_wrk()
    if not args.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "engram"], cwd=ROOT, check=True)
    engram = os.path.join(ROOT, ".build", "release", "engram")
    os.makedirs(args.work, exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    results = {"cpu": cpu, "cores": os.cpu_count(), "n": args.n, "d": args.d, "duration_s": args.duration, "workers": args.workers}

    # Vector phase: data, the in-process reference, the served store.
    data = os.path.join(args.work, "data-%d-%d" % (args.n, args.d))
    if not os.path.exists(os.path.join(data, "base.fvecs")):
        run([engram, "bench", "generate", "--n", str(args.n), "--d", str(args.d), "--nq", "1000", "--out", data])
    store = os.path.join(args.work, "vectors.engram")
    shutil.rmtree(store, ignore_errors=True)
    reference = json.loads(run([engram, "bench", "run", "--base", data + "/base.fvecs", "--query", data + "/query.fvecs",
                                "--store", store, "--json"]))
    reference2 = json.loads(run([engram, "bench", "run", "--base", data + "/base.fvecs", "--query", data + "/query.fvecs",
                                 "--threads", "2", "--json"]))
    results["reference"] = {"batch_qps_1_thread": reference["batch_qps"], "batch_qps_2_threads": reference2["batch_qps"],
                            "single_p50_ms": reference["single_p50_ms"], "blas_core": reference["blas_core"]}
    queries = read_fvecs(data + "/query.fvecs", 1000)
    rng = random.Random(7)
    recall = [("/v1/recall", json.dumps({"vector": [round(x, 6) for x in q], "k": 10})) for q in queries]
    remember = []
    for i in range(100):
        v = [rng.gauss(0, 1) for _ in range(args.d)]
        remember.append(("/v1/memories", json.dumps({"content": "load memory %d %d" % (i, rng.randrange(10**9)),
                                                       "namespace": "load", "embedding": [round(x, 6) for x in v]})))
    mixed = os.path.join(args.work, "mixed.lua")
    write_lua(mixed, recall[:900] + remember[:100])  # 90 % recall, 10 % remember
    pure = os.path.join(args.work, "recall.lua")
    write_lua(pure, recall)
    server = Server(engram, store, args.workers, 256)
    try:
        results["mixed"] = [wrk(server.url, mixed, c, args.duration) for c in levels]
        results["vector_recall"] = [wrk(server.url, pure, c, args.duration) for c in levels]
    finally:
        results["vector_server_exit"] = server.stop()

    # Text phase: synthetic sentences with the hashing embedder (embedding cost ~0; ranking and I/O remain).
    if not args.skip_text:
        text_store = os.path.join(args.work, "text.engram")
        shutil.rmtree(text_store, ignore_errors=True)
        run([engram, "init", "--store", text_store, "--embedder", "hashing-%d" % args.d])
        vocabulary = ["payment", "timeout", "database", "refund", "printer", "network", "deploy", "customer", "invoice",
                      "latency", "cache", "login", "password", "upgrade", "backup", "queue", "worker", "email", "report",
                      "billing", "shipping", "order", "cart", "search", "index", "memory", "disk", "cpu", "alert", "error"]
        vocabulary += ["w%04d" % i for i in range(3000)]
        fill = ["the", "a", "was", "after", "and", "of", "to", "in", "for", "with"]
        memories = os.path.join(args.work, "text.jsonl")
        with open(memories, "w") as f:
            for i in range(args.n):
                content = " ".join(rng.choice(vocabulary) + " " + rng.choice(fill) for _ in range(8))
                f.write(json.dumps({"content": content, "cause": words(rng, vocabulary, 5), "namespace": "team/%d" % (i % 100)}) + "\n")
        run([engram, "import", memories, "--store", text_store])
        text = os.path.join(args.work, "text.lua")
        write_lua(text, [("/v1/recall", json.dumps({"query": words(rng, vocabulary, 4), "k": 10})) for _ in range(500)])
        server = Server(engram, text_store, args.workers, 256)
        try:
            results["text_recall"] = [wrk(server.url, text, c, args.duration) for c in levels]
        finally:
            results["text_server_exit"] = server.stop()

    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    ref = results["reference"]["batch_qps_1_thread"]
    print("CPU: %s, %s cores; %d x %d; in-process batched recall %.0f q/s (1 thread), %.0f q/s (2 threads), BLAS %s"
          % (cpu, os.cpu_count(), args.n, args.d, ref, results["reference"]["batch_qps_2_threads"], results["reference"]["blas_core"]))
    print("| workload | concurrency | QPS | p50 ms | p99 ms | 2xx | 503 | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ["mixed", "vector_recall", "text_recall"]:
        for r in results.get(name, []):
            print("| %s | %d | %.0f | %.2f | %.2f | %d | %d | %d |" % (name, r["concurrency"], r["qps"], r["p50_ms"], r["p99_ms"],
                                                                  r["ok"], r["busy_503"], r["errors"]))
    c32 = [r for r in results["vector_recall"] if r["concurrency"] == 32]
    if c32:
        print("vector recall at concurrency 32: %.0f q/s = %.2f x the in-process batched rate (1 thread)" % (c32[0]["qps"], c32[0]["qps"] / ref))


if __name__ == "__main__":
    main()
