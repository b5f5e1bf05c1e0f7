// Store: where the reference server keeps synced rows, the operation log (for idempotency) and the change
// sequence. Two backends implement it: SQLite in WAL mode (the embedded default, sqlite_store.cc) and
// PostgreSQL through libpqxx (pg_store.cc, several server processes share one database). The HTTP layer
// (http_server.cc) decodes, authenticates and then calls exactly one Store method per request.
//
// Invariants:
//  - Push applies a batch in ONE store transaction, in order; either every result is durable or none is.
//  - An operation id is applied at most once, ever: a replay returns `duplicate` with the original outcome
//    and changes nothing (the op log is keyed by id and written in the same transaction as the change).
//  - Every applied change gets the next value of one store-wide sequence (the row's `version`), and a pull
//    never skips a version that a later pull could still see: a cursor only moves past committed versions.
//  - Rows are merged with outpost::merge (the same code the client runs) under the table's TablePolicy.
//  - A row belongs to exactly one scope (see TableSchema); a Principal only reads and writes its scopes.
#ifndef OUTPOST_SERVER_STORE_H_
#define OUTPOST_SERVER_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "outpost/merge.h"
#include "outpost/protocol.h"
#include "outpost/status.h"

namespace outpost::server {

// One synced table as the server knows it (from the server's schema file, docs/server.md).
struct TableSchema {
  std::string name;
  std::vector<std::string> key;      // primary-key columns, in order
  std::vector<std::string> columns;  // the other columns the protocol may carry
  // Which scope a row is in: the TEXT/INTEGER value of this column (e.g. "project" → scope "team-7"), or,
  // when empty, the fixed `scope` below for every row.
  std::string scope_column;
  std::string scope = "default";
  merge::TablePolicy policy;
};

struct Schema {
  std::map<std::string, TableSchema> tables;
  // Parses the schema JSON (docs/server.md); INVALID_ARGUMENT with the offending path on error.
  static Status FromJson(const std::string& json, Schema* out);
};

// Who is asking: the verified claims of a bearer token.
struct Principal {
  std::string user;
  std::string device;
  std::vector<std::string> scopes;  // "*" allows every scope
  bool Allows(const std::string& scope) const;
};

struct StoreOptions {
  int64_t tombstone_retention_ms = 30LL * 24 * 3600 * 1000;
  int64_t max_drift_ms = 5 * 60 * 1000;  // HLCs further ahead of the server clock are rejected CLOCK_DRIFT
  int busy_timeout_ms = 10000;           // how long a push waits for another writer's lock, then UNAVAILABLE
  int max_connections = 4;               // postgresql: connections per Store (one per concurrent request)
  int max_retries = 5;                   // postgresql: attempts after a serialization failure or deadlock
};

class Store {
 public:
  virtual ~Store() = default;
  virtual std::string name() const = 0;  // "sqlite" or "postgresql"

  // Applies `request` for `who` (one result per op, in order, into *response). Per-op problems (unknown
  // table/column, scope not allowed, clock drift, merge conflicts) are results, not errors; a non-OK Status
  // means nothing was applied (store unavailable: UNAVAILABLE; bug: INTERNAL).
  virtual Status Push(const Principal& who, const protocol::PushRequest& request, int64_t now_ms,
                      protocol::PushResponse* response) = 0;

  // One page of changes after request.cursor in the scopes `who` may read (request.scopes if given, each of
  // which must be allowed, else FORBIDDEN). At most `page_size` changes.
  virtual Status Pull(const Principal& who, const protocol::PullRequest& request, size_t page_size,
                      int64_t now_ms, protocol::PullResponse* response) = 0;

  // Removes tombstones older than the retention; cursors from before them then get resync-required.
  virtual Status PruneTombstones(int64_t now_ms) = 0;

  // Health counts: {"changes": rows with a version, "ops": logged operation ids, "tombstones": ...}.
  virtual Status Counts(std::map<std::string, int64_t>* counts) = 0;
};

// sqlite: path to a database file (created if missing). postgresql: a libpq connection string.
Status OpenSqliteStore(const std::string& path, const Schema& schema, const StoreOptions& options,
                       std::unique_ptr<Store>* out);
Status OpenPostgresStore(const std::string& conninfo, const Schema& schema, const StoreOptions& options,
                         std::unique_ptr<Store>* out);

}  // namespace outpost::server

#endif  // OUTPOST_SERVER_STORE_H_
