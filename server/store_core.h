// The part of a Store both backends share: validating pushed operations against the schema and the
// principal, merging them with outpost::merge, assigning versions, and turning stored rows into pull pages.
// A backend only provides the storage primitives below inside its own transaction, so SQLite and PostgreSQL
// cannot decide differently about the same batch.
//
// Invariants:
//  - The rows LoadRows returns stay as loaded until the push commits (SQLite: BEGIN IMMEDIATE holds the
//    write lock from the first read; PostgreSQL: SELECT ... FOR UPDATE), so the merge works on the latest
//    state.
//  - Versions are assigned last: RunPush merges the whole batch with provisional versions (kProvisional and
//    up), then calls ReserveVersions once and rewrites the provisional versions into the reserved ones before
//    anything is encoded or written. The backend guarantees that no pull passes a reserved version before
//    the batch commits or fails (SQLite: BEGIN IMMEDIATE serializes whole pushes; PostgreSQL: pulls stop
//    below the oldest push in flight, see pg_store.cc), so pushes need not hold a lock while they merge.
//  - Stored rows are generic: (table, canonical key JSON, scope, version, deleted, delete_hlc, live_hlc,
//    columns JSON with value/hlc/version per column). Table and column names from requests are values in
//    these rows, never SQL identifiers.
//  - RunPush is deterministic given the stored state: a backend may call it again after a retryable failure.
#ifndef OUTPOST_SERVER_STORE_CORE_H_
#define OUTPOST_SERVER_STORE_CORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store.h"


namespace outpost::server::core {

// A row as a backend keeps it.
struct StoredRow {
  std::string table;
  std::string key_json;  // canonical (keys sorted, compact): the row's identity within its table
  std::string scope;     // "" when unknown (a delete of a never-seen row in a scopeColumn table)
  merge::RowState state;
  int64_t changed_ms = 0;  // server time of the last change: tombstone retention counts from it
};

using RowRef = std::pair<std::string, std::string>;  // (table, key_json)

struct LoggedOp {
  std::string user;  // the principal that first pushed it
  protocol::OpOutcome outcome;
};

struct OpLogEntry {
  std::string id;
  std::string client_id;
  std::string user;
  std::string outcome_json;  // EncodeOutcome
  int64_t created_ms = 0;
};

struct CustomOpEntry {
  std::string id;
  std::string kind;
  std::string entity;
  std::string target;
  std::string payload;
  std::string client_id;
  std::string user;
  int64_t version = 0;
  int64_t created_ms = 0;
};

// Everything one push batch writes, in one go, at the end of its transaction.
struct PushWrites {
  std::vector<StoredRow> rows;  // the final state of every row the batch changed
  std::vector<OpLogEntry> ops;  // every op seen for the first time (applied, conflict and rejected)
  std::vector<CustomOpEntry> custom;
};

// Storage primitives a backend provides inside its push transaction.
class PushTxn {
 public:
  virtual ~PushTxn() = default;
  // The logged outcome of each id already in the op log (absent ids are new).
  virtual Status FindOps(const std::vector<std::string>& ids, std::map<std::string, LoggedOp>* out) = 0;
  // The stored rows for these refs (absent: never seen).
  virtual Status LoadRows(const std::vector<RowRef>& refs, std::map<RowRef, StoredRow>* out) = 0;
  // Advances the version counter by `count` (>= 1) and returns the first of the `count` versions in *first.
  // Called at most once per push, after every read. A push that fails afterwards may leave a gap.
  virtual Status ReserveVersions(int64_t count, int64_t* first) = 0;
  virtual Status Write(const PushWrites& writes) = 0;
};

// Versions handed to the merge before ReserveVersions: above every real version (protocol versions are
// safe integers, < 2^53), so a batch's own changes are told apart and renumbered. The merge decides nothing
// by the new version's value, only by stored ones against an op's base_version; a later op of the same
// batch sees an earlier one's columns at a provisional version, above any base_version, i.e. as a change it
// cannot have seen, which is what the real (not yet committed) version would say for any honest client.
inline constexpr int64_t kProvisional = int64_t{1} << 60;

Status RunPush(const Schema& schema, const StoreOptions& options, const Principal& who,
               const protocol::PushRequest& request, int64_t now_ms, PushTxn* txn, protocol::PushResponse* response);

// One row change as a pull query returns it.
struct ChangeRow {
  std::string table;
  std::string key_json;
  int64_t version = 0;
  bool deleted = false;
  std::string delete_hlc;
  std::string columns_json;
};

// What a backend reads for a pull, from one consistent snapshot.
struct PullSnapshot {
  int64_t current_version = 0;  // highest committed version
  int64_t pruned_version = 0;   // highest version of a pruned tombstone
  std::vector<ChangeRow> rows;  // version > after, in the scopes, by version, at most `limit`
};

class PullReader {
 public:
  virtual ~PullReader() = default;
  // `scopes` null: every scope.
  virtual Status Read(int64_t after, const std::vector<std::string>* scopes, size_t limit, PullSnapshot* out) = 0;
};

Status RunPull(const Principal& who, const protocol::PullRequest& request, size_t page_size, PullReader* reader,
               protocol::PullResponse* response);

// 1-128 characters from A-Z a-z 0-9 . _ : - (the protocol's scope alphabet).
bool IsScope(const std::string& s);

// "v1.<version>": the only cursor format; "" is version 0. INVALID_ARGUMENT for anything else.
Status ParseCursor(const std::string& cursor, int64_t* version);
std::string MakeCursor(int64_t version);

// Serialization of the generic row columns and the op log.
std::string EncodeKey(const protocol::Key& key);
Status DecodeKey(const std::string& text, protocol::Key* key);
std::string EncodeColumns(const std::map<std::string, merge::ColumnState>& columns);
Status DecodeColumns(const std::string& text, std::map<std::string, merge::ColumnState>* columns);
std::string EncodeStringList(const std::vector<std::string>& list);  // a JSON array of strings
std::string EncodeHlc(const HlcTimestamp& ts);
Status DecodeHlc(const std::string& text, HlcTimestamp* ts);
std::string EncodeOutcome(const protocol::OpOutcome& outcome);
Status DecodeOutcome(const std::string& text, protocol::OpOutcome* outcome);

// The store's tables, identical in both backends (types differ only where SQL dialects must).
inline constexpr int kStoreFormat = 1;

}  // namespace outpost::server::core

#endif  // OUTPOST_SERVER_STORE_CORE_H_
