// The SyncEngine implementation class, shared by the files that implement it: sql_util.h (statements),
// outbox_store.cc (schema, meta, outbox rows), capture.cc (capture and SQL functions), push.cc (batches
// and their answers), pull_apply.cc (pulled pages and conflict results through outpost::merge),
// sync_engine.cc (Next/OnResult, pulls, heartbeats, events).
// Internal to wasm/src.
//
// Invariants (beyond those of sync_engine.h):
//  - Operation states are the integers of OpState (0 pending, 1 inflight, 2 done, 3 failed) in
//    _outpost_outbox.state; `attempts` counts sends (for backoff and max_attempts; 401/413 give theirs
//    back) and `sent` says whether the op ever left the device: an op with sent == 0 was never seen by a
//    server and is the only kind later captures may be compacted into.
//  - Row operations are ordered by `entity` = "r:" + table + ":" + canonical key JSON; custom ones by
//    "c:" + entity. `seq` (rowid) is the order of recording; an op is eligible when it is the lowest-seq
//    not-done op of its entity.
//  - The HLC and the op-id generator state are written to _outpost_meta in every engine transaction, and at
//    Open the greatest of the meta and the outbox's HLCs/ids is restored: anything issued and committed is
//    never issued again (HLCs received into a row's shadow advanced the clock in the same transaction).
#ifndef OUTPOST_SRC_SYNC_ENGINE_IMPL_H_
#define OUTPOST_SRC_SYNC_ENGINE_IMPL_H_

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "outpost/database.h"
#include "outpost/hlc.h"
#include "outpost/op_id.h"
#include "outpost/sync_engine.h"
#include "sql_util.h"

namespace outpost::sync {

enum StateCode : int64_t { kPendingState = 0, kInflightState = 1, kDoneState = 2, kFailedState = 3 };

// Pending ops are of two kinds. Fresh ones (normal priority, never claimed: what capture writes) are not in
// any index of their own: capture then writes two index entries instead of three (bench/README.md), and
// claims find them by walking the table in seq order (ClaimBatch). Every other pending op is in the
// _outpost_outbox_waiting partial index, whose condition is kWaitingOps. A claim sets `sent` and nothing
// clears it, so an op that ever goes back to pending (requeue, Retry, recovery) is in the index whatever
// path takes it there. A fresh op's next_attempt_ms is 0 (only a claimed op is given a later one). Queries
// over pending ops must spell kWaitingOps out for SQLite to use the index.
static_assert(static_cast<int>(protocol::Priority::kNormal) == 2, "kFreshOps and kWaitingOps spell it 2");
constexpr const char* kFreshOps = "state = 0 AND sent = 0 AND priority = 2";
constexpr const char* kWaitingOps = "state = 0 AND (priority <> 2 OR sent = 1)";

struct TableInfo {
  std::string name;
  std::vector<std::string> key;      // key columns, config order
  std::vector<std::string> columns;  // non-key columns, table order (known once the table exists)
  merge::TablePolicy policy;
  bool exists = false;              // exists and matches the config (else `error` says why, if it exists)
  Status error;                     // the table exists but cannot be captured: writes to it are refused
  bool needs_base_version = false;  // has manual / first-writer-wins columns: base_version taken at capture
  // Positions in the table's rows as the preupdate hook gives them (hidden columns counted).
  int width = 0;                // columns in all
  std::vector<int> key_pos;     // of each key column (config order)
  std::vector<int> column_pos;  // of each of `columns`
  std::vector<bool> counter;    // whether each of `columns` is a counter column
};

// A write capture records once its statement has run, as the preupdate hook made it from one row change
// (capture.cc): an upsert or a delete, its columns named and counters worked out. Only what the operation
// needs is kept, so a statement over many rows holds little more than the operations it will write.
struct NotedWrite {
  const TableInfo* table;
  protocol::Operation op;  // table, kind, key and columns
  std::string key_text;
  // An upsert of every column (an INSERT, or the new key of an UPDATE): a delete of the same key earlier in
  // the statement (REPLACE) folds into it. Its counters then hold values, not deltas.
  bool whole = false;
  std::vector<std::pair<std::string, int64_t>> counters;  // delete: the integer counters the row had
};

// `col = ?n AND ...` over the table's key columns, and the matching binds (pull_apply.cc).
std::string KeyWhere(const TableInfo& t, int first_param);
void BindKey(Stmt& q, const TableInfo& t, const protocol::Key& key, int first_param);

// What the device knows of one synced column as the server holds it (the `shadow` of an _outpost_rows row):
// the HLC of the value it holds from the server (pulled or acknowledged), for counter columns the server's
// total, and the version this device's last applied write of the column got (ResolveBaseVersion).
struct ShadowColumn {
  HlcTimestamp hlc;
  std::optional<int64_t> total;
  std::optional<int64_t> own_version;
  bool operator==(const ShadowColumn&) const = default;
};
using Shadow = std::map<std::string, ShadowColumn>;
// One row's columns as text, "5:title hlc own_version total" per column (the name length-prefixed), ';'
// between columns, '-' for none:
// a row's whole shadow is one value of one B-tree row, so acknowledging an operation is one upsert however
// many columns it wrote. Empty text for an empty shadow.
std::string EncodeShadow(const Shadow& shadow);
Status DecodeShadow(std::string_view text, Shadow* shadow);

// An outbox row as the engine reads it.
struct OpRow {
  int64_t seq = 0;
  OutboxEntry entry;
  std::string entity;
  std::string key_text;
};

// A request the transport is performing.
struct InFlight {
  bool active = false;
  int64_t id = 0;
  int64_t sent_ms = 0;
  protocol::PushRequest push;
  std::vector<OpRow> rows;  // push: those rows as claimed (state inflight), in request order
  bool full = false;         // push: the batch took as many ops as it could (more were waiting)
};

// How a transport result is to be treated (sync_engine.cc).
enum class Verdict { kOk, kRetry, kAuth, kTooLarge, kPermanent };
Verdict Classify(const TransportResult& r);
// The server's error body, or a stand-in naming the HTTP status.
protocol::ErrorBody ErrorOf(const TransportResult& r);

class Engine final : public SyncEngine, private WriteObserver {
 public:
  Engine(Database* db, const SyncConfig& config, std::span<const uint8_t, 32> seed);
  ~Engine() override;

  Status Init(int64_t now_ms);

  // SyncEngine.
  void SetTime(int64_t now_ms) override;
  Status Enqueue(const CustomOperation& op, int64_t now_ms, std::string* id) override;
  Action Next(int64_t now_ms) override;
  Status OnResult(int64_t request_id, const TransportResult& result, int64_t now_ms) override;
  void OnOnlineHint(bool online, int64_t now_ms) override;
  void SyncNow(int64_t now_ms) override;
  void SetPaused(bool paused) override;
  void SetToken(bool present) override;
  SyncStatus GetStatus() const override;
  Status Stats(OutboxStats* out) override;
  Status List(std::optional<OpState> state, size_t limit, std::vector<OutboxEntry>* out) override;
  Status Retry(const std::string& id, int64_t now_ms) override;
  Status Discard(const std::string& id, int64_t now_ms) override;
  std::vector<Event> TakeEvents() override;
  Status ListConflicts(std::string* json) override;
  Status DropConflict(const std::string& id) override;

  // capture.cc: called by SQLite's hooks and the SQL functions.
  void SyncStateFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv);
  void KeyFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv);
  void OnRollback() {
    CountsChanged();
    ForgetNoted();
  }
  bool OnCommit() const { return WhatNoted() == Noted::kNothing; }  // false: refuse (a change would go unrecorded)
  void OnPreupdate(sqlite3* db, int op, const char* db_name, const char* table);

 private:
  // WriteObserver (capture.cc): the noted changes become operations.
  Status AfterStatement(bool kept) override;
  Noted WhatNoted() const override {
    if (noted_.empty() && noted_error_.ok()) return Noted::kNothing;
    return noted_counted_ ? Noted::kCounted : Noted::kUncountedOnly;
  }
  void ForgetNoted() {
    noted_.clear();
    noted_error_ = Status::OK();
    noted_counted_ = false;
    noting_ = false;
  }
  // The writes one row change makes (OnPreupdate).
  Status NoteChange(sqlite3* db, int op, const TableInfo& t);

 private:
  // outbox_store.cc
  Status CreateSchema();  // tables (CreateTables) and columns added since
  Status CreateTables();
  Status MigrateShadowTable();       // _outpost_shadow of earlier builds into _outpost_rows.shadow
  Status LoadState(int64_t now_ms);  // meta, HLC, op ids, client id
  Status GetMeta(const std::string& key, Value* out);
  Status SetMeta(const std::string& key, const Value& value);
  Status SaveClocks();  // HLC and last op id into meta (inside the caller's transaction)
  Status InsertOp(const protocol::Operation& op, const std::string& entity, const std::string& key_text,
                  int64_t now_ms);
  Status ReadOps(const std::string& where, const std::vector<Value>& params, size_t limit,
                 std::vector<OpRow>* out);
  Status SetState(int64_t seq, StateCode state, int64_t now_ms, int64_t next_attempt_ms,
                  const std::string& code, const std::string& message);
  Status EnsureCounts();
  Status CheckBounds(int64_t add_ops, int64_t add_bytes);
  std::string NewOpId(int64_t now_ms);
  HlcTimestamp Tick(bool* exhausted = nullptr);  // a local HLC timestamp at now_ms_, noting drift
  Status Begin();
  Status Commit();
  void Rollback();

  // capture.cc
  Status RegisterFunctions();
  // Reads the tracked tables' columns again if the schema changed since (one PRAGMA when it did not).
  // Returns the first misconfigured table's error.
  Status RefreshTables();
  Status RecordNoted(std::vector<NotedWrite> noted);
  Status RecordRowOp(const TableInfo& table, protocol::Operation op, const std::string& key_text);  // KeyText(op.key)
  Status MergeColumnsText(const TableInfo& table, const std::string& old_text, protocol::Columns fresh,
                          std::string* out);

  // pull_apply.cc
  Status ApplyPage(const protocol::PullResponse& page, std::set<std::string>* tables);
  // `received`: the change came from the server, its HLCs advance the clock.
  Status ApplyChange(const TableInfo& table, const protocol::Change& change, bool received);
  Status Resync(std::set<std::string>* tables);
  Status RecomputeCounters(const TableInfo& table, const protocol::Key& key, const std::string& key_text);
  // The shadow of a row (empty when the row or its shadow is unknown) and writing it back (the row must be
  // in _outpost_rows already).
  Status LoadShadow(const std::string& table, const std::string& key_text, Shadow* shadow);
  Status SaveShadow(const std::string& table, const std::string& key_text, const Shadow& shadow);
  Status ApplyConflict(const OpRow& op, const protocol::OpOutcome& outcome);
  // `refused`: columns the server kept its own value of (conflict); they do not enter the shadow.
  Status MarkAcknowledged(const OpRow& op, int64_t version, const std::set<std::string>& refused = {});

  // push.cc
  Status ClaimBatch(int64_t now_ms, Action* action);
  Status ResolveBaseVersion(OpRow* row);
  Status OnPushResult(const TransportResult& result, int64_t now_ms);
  Status ApplyPushResponse(const protocol::PushResponse& response, int64_t now_ms);
  Status RequeueBatch(int64_t now_ms, std::optional<int64_t> retry_after_ms, bool count_attempt,
                      const std::string& reason);
  Status FailBatch(int64_t now_ms, const std::string& code, const std::string& message);

  // sync_engine.cc
  Status OnPullResult(const TransportResult& result, int64_t now_ms);
  Status ApplyPullTransaction(const protocol::PullResponse& page, std::set<std::string>* tables);
  void OnHeartbeatResult(const TransportResult& result, int64_t now_ms);
  Status Housekeeping(int64_t now_ms);
  void Emit(const std::string& name, const std::string& json);
  void EmitStatusIfChanged();
  void OpFailedEvent(const OpRow& op, const std::string& code, const std::string& message);
  int64_t Jitter(int64_t max_ms);  // uniform in [0, max_ms]
  double Random01();                // uniform in [0, 1)
  void NoteContact(const TransportResult& result, int64_t now_ms, bool heartbeat);
  void RandomBytes(uint8_t* out, size_t n);

  const TableInfo* FindTable(const std::string& name) const;
  std::string EntityFor(const std::string& table, const std::string& key_text) const {
    return "r:" + table + ":" + key_text;
  }

  Database* db_;
  mutable SqlCache sql_;  // mutable: GetStatus() counts rows
  SyncConfig config_;
  std::map<std::string, TableInfo, std::less<>> tables_;  // std::less<>: the preupdate hook looks up a char*
  Hlc hlc_;
  OpIdGenerator ids_;
  std::string last_op_id_;
  std::string client_id_;
  uint64_t rng_[4];  // xoshiro256** state from the seed
  int64_t now_ms_ = 0;
  bool applying_ = false;  // the engine writes tracked tables: no capture
  std::vector<NotedWrite> noted_;  // what the running statement's changes of tracked tables write (capture.cc)
  Status noted_error_;             // the first of its changes that cannot be recorded
  bool noted_counted_ = false;     // one of them is an INSERT or UPDATE of the statement's own table
  bool noting_ = false;            // the running statement changed a tracked row (tables refreshed for it)
  // RefreshTables: the schema as last read (PRAGMA schema_version, and how often SQLite prepared that
  // statement again) and the statement.
  std::pair<int64_t, int> schema_version_{-1, -1};
  sqlite3_stmt* schema_probe_ = nullptr;
  bool clock_drift_reported_ = false;

  // Outbox size cache (ops and bytes not done); invalid after a rollback or an engine write.
  bool counts_valid_ = false;
  int64_t count_ops_ = 0, count_bytes_ = 0;
  // No fresh op (kFreshOps) has a seq below this: claims walk the table from here (push.cc, ClaimBatch).
  int64_t fresh_from_ = 0;
  // GetStatus()'s pending and failed counts (a count over the outbox, asked for after every engine call);
  // invalid after any change of the outbox's states or rows but a claim (pending stays pending) and an
  // answer applied with known counts (ApplyPushResponse adjusts them).
  mutable bool status_valid_ = false;
  mutable int64_t status_pending_ = 0, status_failed_ = 0;
  void CountsChanged() {
    counts_valid_ = false;
    status_valid_ = false;
  }
  mutable std::string last_status_json_;

  // Transport state.
  int64_t next_request_id_ = 0;
  // pushes_: the push requests in flight (config_.max_inflight_pushes at most); push_: the one whose answer
  // or timeout is being handled (push.cc works on it and leaves it inactive when done with it).
  std::vector<InFlight> pushes_;
  InFlight push_, pull_, heartbeat_;
  // Moves the push request `id` from pushes_ into push_; false if none is in flight.
  bool TakePush(int64_t id);
  // Whether every tracked table exists; reports newly missing ones (tables-missing event).
  bool TablesReady();
  // push_ back into pushes_ if it is still active (its answer could not be handled: it times out later).
  void KeepPush();
  std::optional<ConnectivityMonitor> link_;  // created at Init (needs the time)
  bool paused_ = false;
  bool token_ = true;
  bool auth_reported_ = false;
  bool pull_requested_ = true;  // pull at start
  int64_t next_pull_ms_ = 0;
  int64_t pull_retry_at_ms_ = 0;
  int pull_attempts_ = 0;
  bool pull_failure_reported_ = false;  // pull-failed emitted for the current streak of refused pulls
  std::string cursor_;
  size_t batch_limit_ = 0;  // current batch size (halved on 413 and on a 5xx other than 503)
  int64_t last_prune_ms_ = -1;
  bool stale_reported_ = false;
  std::vector<std::string> missing_reported_;  // tracked tables not created yet, as last reported
  int64_t last_contact_ms_ = 0;
  // No push before this time: set by a failed push (its batch's backoff, at least any Retry-After), so a
  // device with many pending operations sends one retry per backoff period, not one per operation.
  int64_t push_hold_until_ms_ = 0;
  int push_failures_ = 0;           // pushes failed in a row (temporary failures); reset by an answered push
  int64_t last_synced_at_ms_ = 0;   // last successful push or pull (persisted as last_synced_at across restarts)

  std::vector<Event> events_;
};

// The canonical text of a key: compact JSON object, keys sorted (the protocol's form).
std::string KeyText(const protocol::Key& key);
Status ParseKeyText(const std::string& text, protocol::Key* key);
std::string ColumnsText(const protocol::Columns& columns);
Status ParseColumnsText(const std::string& text, protocol::Columns* columns);
std::string ValueJson(const Value& v);

}  // namespace outpost::sync

#endif  // OUTPOST_SRC_SYNC_ENGINE_IMPL_H_
