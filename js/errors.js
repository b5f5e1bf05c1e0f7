// OutpostError: the one error type of the public API. Every failure, whether it starts in SQLite, in the
// storage layer or in the worker plumbing, reaches the caller as an OutpostError with a stable `code`, a
// message that says what to do, and the SQL that failed (if any).

/** Codes that Outpost itself raises; SQLite failures use SQLite's primary code names (SQLITE_CONSTRAINT, ...). */
export const ErrorCode = Object.freeze({
  OPFS_UNAVAILABLE: 'OPFS_UNAVAILABLE',
  DB_LOCKED: 'DB_LOCKED',
  DB_CLOSED: 'DB_CLOSED',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  INVALID_STATE: 'INVALID_STATE',
  WORKER_FAILED: 'WORKER_FAILED',
  OUTBOX_FULL: 'OUTBOX_FULL',
  NOT_SYNCED: 'NOT_SYNCED',
  NOT_FOUND: 'NOT_FOUND',
  SQLITE_CONSTRAINT: 'SQLITE_CONSTRAINT',
  SQLITE_FULL: 'SQLITE_FULL',
  SQLITE_ERROR: 'SQLITE_ERROR',
  SQLITE_IOERR: 'SQLITE_IOERR',
  SQLITE_CORRUPT: 'SQLITE_CORRUPT',
  SQLITE_NOTADB: 'SQLITE_NOTADB',
  SQLITE_RANGE: 'SQLITE_RANGE',
  SQLITE_CANTOPEN: 'SQLITE_CANTOPEN',
});

export class OutpostError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {{ sql?: string, sqliteCode?: number, cause?: unknown }} [details]
   */
  constructor(code, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'OutpostError';
    this.code = code;
    if (details.sql !== undefined) this.sql = details.sql;
    if (details.sqliteCode !== undefined) this.sqliteCode = details.sqliteCode;
  }

  /** The plain object that crosses a MessagePort (structured clone drops the class). */
  toJSON() {
    return { code: this.code, message: this.message, sql: this.sql, sqliteCode: this.sqliteCode };
  }

  /** Rebuilds an OutpostError from toJSON() output or the engine's {code, message, sql} objects. */
  static from(plain) {
    if (plain instanceof OutpostError) return plain;
    return new OutpostError(plain.code || ErrorCode.WORKER_FAILED, plain.message || 'Unknown error', {
      sql: plain.sql,
      sqliteCode: plain.sqliteCode,
    });
  }
}
