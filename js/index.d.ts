// Public types of the outpost package (js/index.js).

/** A value SQLite stores: NULL, INTEGER (number or bigint beyond 2^53), REAL, TEXT, BLOB. */
export type SqlValue = null | number | bigint | string | Uint8Array;
/** A value accepted as a parameter: booleans bind as 0/1, undefined as NULL. */
export type SqlParam = SqlValue | boolean | undefined;
/** Positional parameters for `?` placeholders, or named ones for `:name`, `@name`, `$name` (keys without the prefix). */
export type SqlParams = readonly SqlParam[] | Readonly<Record<string, SqlParam>>;
export type Row = Record<string, SqlValue>;

export interface ExecResult {
  /** Rows changed by the last statement (0 for statements that do not write). */
  changes: number;
  /** Rowid of the last inserted row on this connection. */
  lastInsertRowId: number | bigint;
}

export interface OpenOptions {
  /**
   * 'full' (default): one flush per commit; a resolved commit survives power loss.
   * 'relaxed': no flush per commit; survives a killed tab or browser, may lose the last commits on an OS
   * crash or power loss, never corrupts.
   */
  durability?: 'full' | 'relaxed';
  /** 'opfs' (default): persisted in the Origin Private File System. 'memory': gone when the worker stops. */
  storage?: 'opfs' | 'memory';
  /** How long open() waits for another tab or a dying worker to release the database (default 3000 ms). */
  lockTimeoutMs?: number;
  /** Storage slots (files) for the database, its WAL and journals; default 4. */
  poolSize?: number;
  /** Page size for a new database (default 4096). */
  pageSize?: number;
  /** Page cache budget in KiB (default 8192). */
  cacheSizeKiB?: number;
  /** Where the worker script is, if the default location (next to index.js) does not fit the deployment. */
  workerUrl?: string | URL;
  /** Enables db.debug() fault injection. Tests only. */
  testHooks?: boolean;
  /** Sync with an Outpost sync server (docs/sync.md). Without it the database is local only. */
  sync?: SyncOptions;
}

export type MergePolicy = 'lww' | 'manual' | 'first-writer-wins' | 'delete-wins' | 'counter';

export interface TrackedTableOptions {
  /** Primary-key column(s); client-generated keys (e.g. crypto.randomUUID()) are the canonical ids. */
  primaryKey: string | string[];
  /** Table policy (default 'lww'). */
  policy?: Exclude<MergePolicy, 'counter'>;
  /** Per-column policy overrides, e.g. { quantity: 'counter', notes: 'manual' }. */
  columns?: Record<string, Exclude<MergePolicy, 'delete-wins'>>;
}

export interface SyncOptions {
  /** Base URL of the sync server, e.g. 'https://api.example.com' (endpoints under /sync/v1/). */
  url: string;
  /** Bearer token for this device; replace it with db.sync.setToken() when the server says auth-required. */
  token?: string;
  /** Tracked tables: every INSERT/UPDATE/DELETE on them is recorded in the outbox in the same transaction. */
  tables: Record<string, TrackedTableOptions>;
  /** Scopes to pull (default: all the token allows). */
  scopes?: string[];
  /** Operations per push request (default 500). */
  batchSize?: number;
  retry?: { baseMs?: number; factor?: number; capMs?: number; maxAttempts?: number };
  maxOutboxOps?: number;
  maxOutboxBytes?: number;
  requestTimeoutMs?: number;
  /** Start paused (no network until db.sync.resume()). */
  paused?: boolean;
}

export type Priority = 'critical' | 'high' | 'normal' | 'low';
export type OpState = 'pending' | 'inflight' | 'done' | 'failed';
export type Connectivity = 'online' | 'degraded' | 'transitioning' | 'offline';
export type RecordSyncState = 'local-only' | 'syncing' | 'synced' | 'failed';

export interface CustomOperation {
  /** Dotted lowercase name, e.g. 'http.post'. */
  kind: string;
  target?: string;
  payload?: unknown;
  priority?: Priority;
  /** Operations on one entity are delivered in order (default: the kind). */
  entity?: string;
}

export interface OutboxEntry {
  id: string;
  kind: string;
  state: OpState;
  priority: Priority;
  table?: string;
  key?: Record<string, SqlValue>;
  columns?: Record<string, SqlValue>;
  entity?: string;
  target?: string;
  payload?: unknown;
  attempts: number;
  createdAt: number;
  nextAttemptAt?: number;
  error?: { code: string; message: string };
}

export interface OutboxStats {
  pending: number;
  inflight: number;
  failed: number;
  done: number;
  bytes: number;
}

export interface SyncStatus {
  connection: Connectivity;
  uploading: boolean;
  downloading: boolean;
  paused: boolean;
  /** Operations not yet acknowledged by the server (pending + inflight). */
  pending: number;
  failed: number;
  /** Unix ms of the last completed sync (outbox drained and pull done), or null. */
  lastSyncedAt: number | null;
}

export interface Conflict {
  id: string;
  /** The local operation the server answered with a conflict. */
  opId: string;
  table: string;
  key: Record<string, SqlValue>;
  /** Fields in conflict: this device's value and the server's (the row shows the server's until resolved). */
  fields: Record<string, { local: SqlValue; remote: SqlValue }>;
  createdAt: number;
  /** The server's version of the row when the conflict happened. */
  version: number;
  /** The row is a delete-wins tombstone on the server: it stays deleted, resolving only acknowledges. */
  deleted: boolean;
}

export interface OutboxApi {
  /** Records a custom operation durably (its own transaction); resolves with its id. */
  enqueue(op: CustomOperation): Promise<string>;
  stats(): Promise<OutboxStats>;
  list(options?: { state?: OpState; limit?: number }): Promise<OutboxEntry[]>;
  /** Moves a failed operation back to pending. */
  retry(id: string): Promise<void>;
  /** Drops an operation for good: only as an explicit user action. */
  discard(id: string): Promise<void>;
}

export interface SyncApi {
  /** The latest status (also delivered by the 'status' event). */
  readonly status: SyncStatus;
  /** Push and pull now, resetting backoff. Resolves when this round finished (or failed). */
  now(): Promise<SyncStatus>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  setToken(token: string): Promise<void>;
}

export interface ConflictsApi {
  list(): Promise<Conflict[]>;
  /** Resolves a manual conflict; the chosen value is written as a normal operation. */
  resolve(id: string, choice: { choose: 'local' | 'remote' } | { value: Record<string, SqlValue> }): Promise<void>;
}

export interface EventMap {
  status: SyncStatus;
  'op-failed': { id: string; code: string; message: string; table?: string; key?: Record<string, SqlValue>; entity?: string };
  synced: { at: number };
  'auth-required': { status: number; message: string };
  conflict: Conflict;
  stale: { offlineMs: number; pending: number };
  change: { tables: string[] };
  'clock-drift': { message: string; serverTimeMs?: number; deviceTimeMs?: number };
  /** A pull refused (4xx) or unreadable; once until a pull succeeds. Pulls keep retrying with backoff. */
  'pull-failed': { status: number; code: string; message: string; retryAt: number };
  /** Synced tables that do not exist yet: pulls wait until they are created (nothing is skipped). */
  'tables-missing': { tables: string[]; message: string };
}

export type ErrorCodeName =
  | 'OPFS_UNAVAILABLE'
  | 'DB_LOCKED'
  | 'DB_CLOSED'
  | 'INVALID_ARGUMENT'
  | 'INVALID_STATE'
  | 'WORKER_FAILED'
  | 'OUTBOX_FULL'
  | 'NOT_SYNCED'
  | 'NOT_FOUND'
  | 'SQLITE_CONSTRAINT'
  | 'SQLITE_FULL'
  | 'SQLITE_ERROR'
  | 'SQLITE_IOERR'
  | 'SQLITE_CORRUPT'
  | 'SQLITE_NOTADB'
  | 'SQLITE_RANGE'
  | 'SQLITE_CANTOPEN'
  | (string & {});

export declare const ErrorCode: Readonly<Record<string, ErrorCodeName>>;

/** The one error type of the API: every rejection is an OutpostError. */
export declare class OutpostError extends Error {
  readonly name: 'OutpostError';
  /** Stable code: an Outpost code (DB_LOCKED, ...) or SQLite's primary result code name (SQLITE_CONSTRAINT, ...). */
  readonly code: ErrorCodeName;
  /** The SQL that failed, when a statement failed. */
  readonly sql?: string;
  /** SQLite's extended result code, when SQLite raised the error. */
  readonly sqliteCode?: number;
  constructor(code: string, message: string, details?: { sql?: string; sqliteCode?: number; cause?: unknown });
}

export interface Transaction {
  exec(sql: string, params?: SqlParams): Promise<ExecResult>;
  query<T extends Row = Row>(sql: string, params?: SqlParams): Promise<T[]>;
  /** Records a custom operation in this transaction: it commits or rolls back with it. */
  enqueue(op: CustomOperation): Promise<string>;
}

export declare class Database {
  readonly name: string;
  readonly storage: 'opfs' | 'memory';
  readonly durability: 'full' | 'relaxed';
  /** Runs SQL (several statements allowed when there are no parameters). */
  exec(sql: string, params?: SqlParams): Promise<ExecResult>;
  /** Runs one statement and returns its rows as plain objects. */
  query<T extends Row = Row>(sql: string, params?: SqlParams): Promise<T[]>;
  /** Runs fn atomically: commits when it resolves, rolls back and rethrows when it rejects. Other calls wait. */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: { mode?: 'DEFERRED' | 'IMMEDIATE' | 'EXCLUSIVE' }): Promise<T>;
  /** The database as a plain SQLite file that the sqlite3 shell opens. */
  export(): Promise<Uint8Array>;
  /**
   * Replaces the database with a plain SQLite file; invalid input rejects and changes nothing. Rejects with
   * INVALID_STATE on a database opened with `sync` (open it without `sync` to import).
   */
  import(bytes: Uint8Array): Promise<void>;
  /** The outbox (sync only). */
  readonly outbox: OutboxApi;
  /** Sync status and control (sync only). */
  readonly sync: SyncApi;
  /** Manual conflicts (sync only). */
  readonly conflicts: ConflictsApi;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof EventMap>(name: K, fn: (detail: EventMap[K]) => void): () => void;
  /** Checkpoints, releases the storage lock and stops the worker. */
  close(): Promise<void>;
  /** Fault injection for tests (needs `testHooks: true`). */
  debug(action: 'failWrites', args: { mode: 'quota' | 'short' }): Promise<void>;
  debug(action: 'clearWriteFailures' | 'files', args?: object): Promise<unknown>;
}

/** Opens (creating if needed) the database `name` in a dedicated worker. */
export declare function open(name: string, options?: OpenOptions): Promise<Database>;

/** Asks the browser to exempt this origin's storage from eviction (window only) and reports usage and quota. */
export declare function requestPersistentStorage(): Promise<{ persisted: boolean; usage?: number; quota?: number }>;
/** This origin's storage usage and quota in bytes. */
export declare function storageEstimate(): Promise<{ usage?: number; quota?: number }>;
