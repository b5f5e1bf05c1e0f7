// The reference sync server for end-to-end tests: runs the real `outpost-server` binary (built by
// scripts/build.sh into build/native/server/) on a fresh SQLite store and a free port, serving the repository
// root as static files so pages and the sync API share one origin. Tests read its request log (one line per
// response, docs/server.md) to prove what reached the server, and can restart it on the same store.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SERVER_BIN = process.env.OUTPOST_SERVER_BIN ?? join(REPO_ROOT, 'build/native/server/outpost-server');

export class SyncServer {
  // Test pages come from another origin (e2e/static-server.mjs), hence CORS for any origin by default.
  constructor({ schema = join(REPO_ROOT, 'server/demo-schema.json'), extraArgs = ['--cors', '*'] } = {}) {
    if (!existsSync(SERVER_BIN)) {
      throw new Error(`${SERVER_BIN} is missing: build it with scripts/build.sh (scripts/test.sh does).`);
    }
    this.dir = mkdtempSync(join(tmpdir(), 'outpost-sync-'));
    this.schema = schema;
    this.extraArgs = extraArgs;
    this.secretFile = join(this.dir, 'secret');
    this.logFile = join(this.dir, 'requests.log');
    this.storePath = join(this.dir, 'store.db');
    execFileSync(SERVER_BIN, ['secret', this.secretFile]);
    this.proc = null;
    this.port = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again, on the same store and port after stop()). */
  async start() {
    const args = ['serve', '--store', `sqlite:${this.storePath}`, '--schema', this.schema, '--secret-file', this.secretFile,
      '--port', String(this.port), '--static', REPO_ROOT, '--log', this.logFile, ...this.extraArgs];
    this.proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.exited = exited;
    const listening = new Promise((resolvePort, reject) => {
      this.proc.stderr.on('data', (chunk) => {
        stderr += chunk;
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(stderr);
        if (m) resolvePort(Number(m[1]));
      });
      exited.then((code) => reject(new Error(`outpost-server exited (${code}) before listening:\n${stderr}`)));
    });
    this.port = await listening;
    return this;
  }

  async stop() {
    if (!this.proc) return;
    this.proc.kill('SIGTERM');
    await this.exited;
    this.proc = null;
  }

  /** Kills the server process at once (no graceful stop), as a crash would. */
  async kill() {
    if (!this.proc) return;
    this.proc.kill('SIGKILL');
    await this.exited;
    this.proc = null;
  }

  /** A device token from the token command. */
  token({ user = 'inspector', device = 'device-1', scopes = ['*'], ttl = '1d' } = {}) {
    const args = ['token', '--secret-file', this.secretFile, '--user', user, '--device', device, '--ttl', ttl];
    for (const s of scopes) args.push('--scope', s);
    return execFileSync(SERVER_BIN, args, { encoding: 'utf8' }).trim();
  }

  /** Request log lines as { method, path, status, device }. */
  requests() {
    if (!existsSync(this.logFile)) return [];
    return readFileSync(this.logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [time, method, path, status, ms, device] = line.split(' ');
        return { time, method, path, status: Number(status), ms, device };
      });
  }

  /** Everything the server holds, by pulling with an all-scopes token: rows keyed by table and key JSON. */
  async pullAll(token = this.token({ device: 'oracle' })) {
    const rows = new Map();
    let cursor;
    for (;;) {
      const body = { protocol: 1, clientId: 'oracle', limit: 5000 };
      if (cursor) body.cursor = cursor;
      const response = await fetch(`${this.url}/sync/v1/pull`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`pull failed: ${response.status} ${await response.text()}`);
      const page = await response.json();
      for (const c of page.changes) {
        const id = `${c.table}:${JSON.stringify(c.key)}`;
        if (c.kind === 'delete') rows.set(id, { deleted: true });
        else rows.set(id, Object.fromEntries(Object.entries(c.columns).map(([k, v]) => [k, v.value])));
      }
      cursor = page.cursor;
      if (!page.hasMore) return rows;
    }
  }

  dispose() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Writes a schema file for a test and returns its path. */
export function writeSchema(dir, tables) {
  const path = join(dir, `schema-${Date.now()}.json`);
  writeFileSync(path, JSON.stringify({ tables }));
  return path;
}
