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
}

export type ErrorCodeName =
  | 'OPFS_UNAVAILABLE'
  | 'DB_LOCKED'
  | 'DB_CLOSED'
  | 'INVALID_ARGUMENT'
  | 'INVALID_STATE'
  | 'WORKER_FAILED'
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
  /** Replaces the database with a plain SQLite file; invalid input rejects and changes nothing. */
  import(bytes: Uint8Array): Promise<void>;
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
