// engram-client (TypeScript, compiled to dist/) against a real `engram serve` on loopback, started here
// with API keys. The binary is $ENGRAM_BINARY (default: the repository's debug build).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Engram, EngramError } from "../dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..", "..");
const binary = process.env.ENGRAM_BINARY ?? join(root, ".build", "debug", "engram");
const env = { ...process.env, ENGRAM_MODELS: "/nonexistent", ENGRAM_LOG_LEVEL: "error" };
const cli = (...args) => execFileSync(binary, args, { env, encoding: "utf8" }).trim();

let server, dir, url, admin, reader;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "engram-ts-"));
  const store = join(dir, "store");
  cli("init", "--store", store, "--embedder", "hashing");
  admin = cli("keys", "create", "--store", store, "--all-namespaces", "--actions", "read,write,forget");
  reader = cli("keys", "create", "--store", store, "--namespace", "team", "--actions", "read");
  server = spawn(binary, ["serve", "--store", store, "--port", "0", "--max-batch", "5", "--workers", "1",
    "--queue-depth", "4"], { env, stdio: ["ignore", "pipe", "ignore"] });
  url = await new Promise((resolve, reject) => {
    let text = "";
    server.stdout.on("data", (chunk) => {
      text += chunk;
      const match = text.match(/at (http:\/\/\S+)/);
      if (match) resolve(match[1]);
    });
    server.on("exit", (code) => reject(new Error(`engram serve exited with ${code}`)));
  });
});

after(async () => {
  server.kill("SIGTERM");
  await new Promise((resolve) => server.on("exit", resolve));
  rmSync(dir, { recursive: true, force: true });
});

test("remember, recall, feedback, forget: a round trip", async () => {
  const engram = new Engram({ url, apiKey: admin });
  const id = await engram.remember({
    content: "Customer says checkout is slow", cause: "payment DB pool exhausted",
    outcome: "raised the pool to 80", succeeded: true, namespace: "team/support", metadata: { ticket: "T-1" },
  });
  const hits = await engram.recall("checkout is slow", { k: 3, filter: { namespace: "team/" } });
  assert.equal(hits[0].id, id);
  assert.ok(hits[0].score > 0);
  assert.equal(hits[0].content, "Customer says checkout is slow");
  assert.equal(typeof hits[0].explain?.fused, "number");
  await engram.feedback(id, true);
  const memory = await engram.get(id);
  assert.equal(memory.helpful_count, 1);
  assert.deepEqual(memory.metadata, { ticket: "T-1" });
  await engram.forget(id);
  await assert.rejects(engram.get(id), (e) => e instanceof EngramError && e.status === 404 && e.code === "notFound");
});

test("every method", async () => {
  const engram = new Engram({ url, apiKey: admin });
  const results = await engram.rememberMany([
    { content: "deploy failed: missing env var", namespace: "team/ops" },
    { content: "deploy failed: missing env var", namespace: "team/ops" },
  ]);
  assert.deepEqual(results.map((r) => r.status), ["stored", "duplicate"]);
  const updated = await engram.update(results[0].id, { outcome: "added it to the manifest", succeeded: true });
  assert.equal(updated.supersedes, results[0].id);
  assert.deepEqual((await engram.history(updated.id)).map((m) => m.id), [updated.id, results[0].id]);
  assert.equal((await engram.search("manifest", { k: 5 }))[0].id, updated.id);
  const byVector = await engram.recall(null, { vector: new Array(384).fill(0.1), k: 1 });
  assert.equal(byVector.length, 1);
  assert.equal(await engram.count("team/ops"), 1);
  assert.equal((await engram.stats()).dimension, 384);
  assert.equal((await engram.health()).ready, true);
  assert.equal(await engram.indexStatus(), null);
  const built = await engram.buildIndex({ lists: 1 });
  assert.ok(built.lists === 1 && built.memories >= 1 && built.build_s >= 0);
  assert.equal((await engram.indexStatus()).entries, built.entries);
  await engram.dropIndex();
  assert.equal(await engram.indexStatus(), null);

  await engram.workingSet("team/ops", "plan", { step: 1 }, 60);
  assert.deepEqual((await engram.workingGet("team/ops", "plan")).value, { step: 1 });
  assert.deepEqual((await engram.workingList("team/ops")).map((e) => e.key), ["plan"]);
  await engram.workingDelete("team/ops", "plan");
  await assert.rejects(engram.workingGet("team/ops", "plan"), (e) => e.code === "notFound");
  await engram.workingSet("team/ops", "note", "check the manifest first", 60);
  const promoted = await engram.workingPromote("team/ops", "note", { tags: ["lesson"] });
  assert.equal((await engram.get(promoted)).content, "check the manifest first");

  const ids = [];
  for (let i = 0; i < 7; i++) ids.push(await engram.remember({ content: `page test ${i}`, namespace: "team/pages" }));
  const first = await engram.listPage({ namespace: "team/pages", limit: 3 });
  assert.equal(first.memories.length, 3);
  assert.ok(first.next_cursor);
  const listed = [];
  for await (const memory of engram.list({ namespace: "team/pages", pageSize: 3 })) listed.push(memory.id);
  assert.deepEqual(listed, ids);
  assert.equal(await engram.forgetMatching({ namespace: "team/" }, { confirm: true }), 9);
});

test("errors carry status, code and field", async () => {
  const engram = new Engram({ url, apiKey: admin });
  const is = (status, code, field) => (e) =>
    e instanceof EngramError && e.status === status && (!code || e.code === code) && (!field || e.field === field);
  await assert.rejects(engram.request("POST", "/v1/recall", "not an object"), is(400, "invalidArgument", "body"));
  await assert.rejects(new Engram({ url, apiKey: "egk_not_a_key" }).count(), is(401));
  const limited = new Engram({ url, apiKey: reader });
  await assert.rejects(limited.remember({ content: "x", namespace: "team/x" }), is(403, "permissionDenied"));
  await assert.rejects(limited.recall("x", { filter: { namespace: "elsewhere" } }), is(403, null, "filter.namespace"));
  await assert.rejects(engram.get("00000000-0000-7000-8000-000000000000"), is(404, "notFound", "id"));
  const six = Array.from({ length: 6 }, (_, i) => ({ content: `m${i}` }));
  await assert.rejects(engram.rememberMany(six), is(413, "tooLarge"));
  await assert.rejects(engram.remember({ content: "", namespace: "team/x" }), is(422, "invalidArgument", "content"));
  await assert.rejects(engram.forgetMatching({}, { confirm: false }), is(422, null, "confirm"));
});

test("a 503 or 429 is retried honouring Retry-After, then given up", async () => {
  let calls = 0;
  const fake = createServer((request, response) => {
    calls++;
    if (request.url === "/v1/count" && calls <= 2) {
      response.writeHead(503, { "Content-Type": "application/json", "Retry-After": "0" });
      response.end(JSON.stringify({ error: { code: "overloaded", message: "busy" } }));
    } else if (request.url === "/v1/count") {
      response.writeHead(200, { "Content-Type": "application/json" });
      response.end(JSON.stringify({ count: 7 }));
    } else {
      response.writeHead(429, { "Content-Type": "application/json", "Retry-After": "0" });
      response.end(JSON.stringify({ error: { code: "rateLimited", message: "slow down" } }));
    }
  });
  await new Promise((resolve) => fake.listen(0, "127.0.0.1", resolve));
  const fakeURL = `http://127.0.0.1:${fake.address().port}`;
  try {
    assert.equal(await new Engram({ url: fakeURL }).count(), 7);
    assert.equal(calls, 3);
    await assert.rejects(new Engram({ url: fakeURL, maxRetries: 2 }).stats(), (e) => e.status === 429 && e.code === "rateLimited");
    calls = -100;  // every count answer is a 503 now
    await assert.rejects(new Engram({ url: fakeURL, maxRetries: 1 }).count(), (e) => e.status === 503 && e.code === "overloaded");
  } finally {
    fake.close();
  }
});

test("a full queue on the real server is retried until every call is served", async () => {
  const statuses = [];
  const counting = async (input, init) => {
    const response = await fetch(input, init);
    statuses.push(response.status);
    return response;
  };
  const engram = new Engram({ url, apiKey: admin, maxRetries: 20, fetch: counting });
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => engram.recall(`query ${i}`, { k: 1 })));
  assert.equal(results.length, 200);
  assert.ok(statuses.every((s) => s === 200 || s === 503));
  assert.ok(statuses.includes(503), "the queue of 4 never filled: the retry path was not exercised");
});

test("ENGRAM_URL and ENGRAM_API_KEY are the defaults", async () => {
  process.env.ENGRAM_URL = url;
  process.env.ENGRAM_API_KEY = admin;
  try {
    assert.ok((await new Engram().count()) >= 0);
  } finally {
    delete process.env.ENGRAM_URL;
    delete process.env.ENGRAM_API_KEY;
  }
});

test("the types are generated from the current schema", () => {
  execFileSync("python3", [join(root, "clients", "generate_models.py"), "--check"]);
});

test("every route of openapi.json has a method", async () => {
  const { ROUTES, NOT_CLIENT_ROUTES } = await import("../dist/index.js");
  const { readFileSync } = await import("node:fs");
  const paths = JSON.parse(readFileSync(join(root, "Sources", "EngramServer", "openapi.json"), "utf8")).paths;
  const documented = [];
  for (const [path, item] of Object.entries(paths)) {
    if (NOT_CLIENT_ROUTES.includes(path)) continue;
    for (const method of Object.keys(item)) {
      if (["get", "put", "post", "patch", "delete"].includes(method)) documented.push(`${method.toUpperCase()} ${path}`);
    }
  }
  assert.deepEqual(documented.sort(), Object.keys(ROUTES).sort());
  for (const names of Object.values(ROUTES)) {
    for (const name of names) assert.equal(typeof Engram.prototype[name], "function", name);
  }
});
