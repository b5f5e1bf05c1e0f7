// Capture: every INSERT/UPDATE/DELETE on a tracked table, through any SQL, becomes an outbox operation in
// the same transaction. SQLite's preupdate hook notes each row change of a tracked table; once the statement
// has run, Database calls AfterStatement inside the statement's transaction (database.h, WriteObserver) and
// the noted changes become operations, stamped with the engine's HLC and op ids at the time given by SetTime.
// No trigger: a trigger makes SQLite keep a statement journal for every tracked write, which cost as much as
// the outbox insert itself (bench/README.md).
//
// From change to operation: an INSERT records every column; an UPDATE the columns whose value changed (type
// and value), counter columns their delta NEW - OLD; an UPDATE that changes the key is a delete of the old
// key and an upsert of every column at the new key. INSERT/UPDATE OR REPLACE delete the rows they replace
// before writing: a deleted row whose key the same statement writes again is folded into that write (its
// counters record new - old, as an update would), any other is a delete.
// Also here: the SQL functions outpost_sync_state() and outpost_key().
#include <cstring>
#include <string_view>

#include "protocol_json.h"
#include "sync_engine_impl.h"

namespace outpost::sync {

namespace {

Engine* Self(sqlite3_context* ctx) { return static_cast<Engine*>(sqlite3_user_data(ctx)); }

void SyncStateFn(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  Self(ctx)->SyncStateFunction(ctx, argc, argv);
}
void KeyFn(sqlite3_context* ctx, int argc, sqlite3_value** argv) { Self(ctx)->KeyFunction(ctx, argc, argv); }
void RollbackHook(void* self) { static_cast<Engine*>(self)->OnRollback(); }
int CommitHook(void* self) { return static_cast<Engine*>(self)->OnCommit() ? 0 : 1; }
void PreupdateHook(void* self, sqlite3* db, int op, const char* db_name, const char* table, sqlite3_int64,
                   sqlite3_int64) {
  static_cast<Engine*>(self)->OnPreupdate(db, op, db_name, table);
}

std::string ArgText(sqlite3_value* v) {
  const char* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
  return p ? std::string(p, sqlite3_value_bytes(v)) : std::string();
}

void ResultError(sqlite3_context* ctx, const Status& s) {
  std::string text = s.code() + ": " + s.message();
  sqlite3_result_error(ctx, text.c_str(), static_cast<int>(text.size()));
}

// Whether two column values are the same value of the same type (what `IS` says without collation or
// affinity: a change of case under NOCASE is a change to record).
bool SameValue(sqlite3_value* a, sqlite3_value* b) {
  const int type = sqlite3_value_type(a);
  if (type != sqlite3_value_type(b)) return false;
  switch (type) {
    case SQLITE_NULL:
      return true;
    case SQLITE_INTEGER:
      return sqlite3_value_int64(a) == sqlite3_value_int64(b);
    case SQLITE_FLOAT:
      return sqlite3_value_double(a) == sqlite3_value_double(b);
    default: {
      const void* pa = type == SQLITE_TEXT ? static_cast<const void*>(sqlite3_value_text(a)) : sqlite3_value_blob(a);
      const void* pb = type == SQLITE_TEXT ? static_cast<const void*>(sqlite3_value_text(b)) : sqlite3_value_blob(b);
      const int n = sqlite3_value_bytes(a);
      return n == sqlite3_value_bytes(b) && (n == 0 || std::memcmp(pa, pb, n) == 0);
    }
  }
}

Status CounterError(const TableInfo& t, const std::string& col) {
  return Status::Error("INVALID_ARGUMENT",
                       "The counter column " + t.name + "." + col + " holds integers only; store a whole number.");
}

}  // namespace

Status Engine::RegisterFunctions() {
  sqlite3* db = db_->handle();
  struct Fn {
    const char* name;
    void (*fn)(sqlite3_context*, int, sqlite3_value**);
    int flags;
  };
  const Fn fns[] = {{"outpost_sync_state", SyncStateFn, SQLITE_UTF8},
                    {"outpost_key", KeyFn, SQLITE_UTF8 | SQLITE_DETERMINISTIC}};
  for (const Fn& f : fns) {
    int rc = sqlite3_create_function_v2(db, f.name, -1, f.flags, this, f.fn, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return Status::FromSqlite(rc, sqlite3_errmsg(db));
  }
  sqlite3_rollback_hook(db, RollbackHook, this);
  sqlite3_commit_hook(db, CommitHook, this);
  sqlite3_preupdate_hook(db, PreupdateHook, this);
  db_->SetWriteObserver(this);
  return Status::OK();
}

// Runs inside the statement, between its B-tree writes: it reads the row through sqlite3_preupdate_* and the
// schema (as SQLite's session extension does from this hook) but writes nothing; AfterStatement records.
void Engine::OnPreupdate(sqlite3* db, int op, const char* db_name, const char* table) {
  if (applying_ || std::strcmp(db_name, "main") != 0) return;
  auto it = tables_.find(std::string_view(table));
  if (it == tables_.end()) return;
  if (op != SQLITE_DELETE && sqlite3_preupdate_depth(db) == 0) noted_counted_ = true;
  if (!noted_error_.ok()) return;  // the statement cannot be recorded anyway
  if (!noting_) {
    // The first change of the statement: the tables' columns as they are now (no DDL inside a statement).
    noting_ = true;
    Status s = RefreshTables();
    if (!s.ok() && s.code() != "INVALID_ARGUMENT") {  // not a misconfigured table: the schema was unreadable
      noted_error_ = s;
      return;
    }
  }
  noted_error_ = NoteChange(db, op, it->second);
  // The operations wait in memory until the statement ends. Each can at most fold into one already in the
  // outbox, so past maxOutboxOps twice over the statement is bound to fail: it fails now, not after holding
  // a million rows' worth (triggers that write the same row again and again stay well within this).
  if (noted_error_.ok() && noted_.size() > 2 * config_.max_outbox_ops)
    noted_error_ = Status::Error("OUTBOX_FULL", "One statement changes more synced rows than the outbox can hold "
                                                "(maxOutboxOps " + std::to_string(config_.max_outbox_ops) +
                                                "); nothing of it was kept. Split it, syncing in between.");
}

Status Engine::NoteChange(sqlite3* db, int op, const TableInfo& t) {
  if (!t.error.ok()) return t.error;
  if (!t.exists || sqlite3_preupdate_count(db) != t.width)
    return Status::Error("INTERNAL", "Capture lost track of the columns of \"" + t.name + "\"; reopen the database.");
  auto value = [&](bool old_row, int pos) -> sqlite3_value* {
    sqlite3_value* v = nullptr;
    (old_row ? sqlite3_preupdate_old : sqlite3_preupdate_new)(db, pos, &v);
    return v;
  };
  auto key_of = [&](bool old_row, NotedWrite* w) {
    for (size_t i = 0; i < t.key.size(); ++i) {
      sqlite3_value* v = value(old_row, t.key_pos[i]);
      if (!v || sqlite3_value_type(v) == SQLITE_NULL)
        return Status::Error("INVALID_ARGUMENT", "A row of the synced table \"" + t.name +
                                                     "\" needs a non-NULL primary key (" + t.key[i] +
                                                     "); generate ids on the client, e.g. crypto.randomUUID().");
      w->op.key[t.key[i]] = Stmt::FromSqlite(v);
    }
    w->key_text = KeyText(w->op.key);
    return Status::OK();
  };
  auto start = [&](std::string_view kind) {
    NotedWrite w{&t, {}, {}, false, {}};
    w.op.table = t.name;
    w.op.kind = std::string(kind);
    return w;
  };
  bool key_changed = false;
  if (op == SQLITE_UPDATE)
    for (int pos : t.key_pos) {
      sqlite3_value *o = value(true, pos), *n = value(false, pos);
      key_changed = key_changed || !o || !n || !SameValue(o, n);
    }
  if (op == SQLITE_DELETE || key_changed) {
    NotedWrite w = start(protocol::kDelete);
    OUTPOST_RETURN_IF_ERROR(key_of(true, &w));
    for (size_t j = 0; j < t.columns.size(); ++j) {
      sqlite3_value* v = t.counter[j] ? value(true, t.column_pos[j]) : nullptr;
      if (v && sqlite3_value_type(v) == SQLITE_INTEGER) w.counters.emplace_back(t.columns[j], sqlite3_value_int64(v));
    }
    noted_.push_back(std::move(w));
    if (op == SQLITE_DELETE) return Status::OK();
  }
  NotedWrite w = start(protocol::kUpsert);
  OUTPOST_RETURN_IF_ERROR(key_of(false, &w));
  w.whole = op == SQLITE_INSERT || key_changed;
  for (size_t j = 0; j < t.columns.size(); ++j) {
    const std::string& col = t.columns[j];
    sqlite3_value* n = value(false, t.column_pos[j]);
    if (!n) continue;
    const int type = sqlite3_value_type(n);
    if (w.whole) {  // every column; counters their value
      if (t.counter[j] && type == SQLITE_NULL) continue;
      if (t.counter[j] && type != SQLITE_INTEGER) return CounterError(t, col);
      w.op.columns[col] = protocol::ColumnValue{Stmt::FromSqlite(n), {}};
      continue;
    }
    sqlite3_value* o = value(true, t.column_pos[j]);  // the changed columns; counters their delta
    if (!o || SameValue(o, n)) continue;
    if (!t.counter[j]) {
      w.op.columns[col] = protocol::ColumnValue{Stmt::FromSqlite(n), {}};
      continue;
    }
    const int old_type = sqlite3_value_type(o);
    if ((type != SQLITE_NULL && type != SQLITE_INTEGER) || (old_type != SQLITE_NULL && old_type != SQLITE_INTEGER))
      return CounterError(t, col);
    int64_t delta;
    if (__builtin_sub_overflow(sqlite3_value_int64(n), sqlite3_value_int64(o), &delta)) return CounterError(t, col);
    if (delta != 0) w.op.columns[col] = protocol::ColumnValue{delta, {}};
  }
  if (w.whole || !w.op.columns.empty()) noted_.push_back(std::move(w));  // else nothing tracked changed
  return Status::OK();
}

Status Engine::RefreshTables() {
  // The schema version alone misses a rollback of DDL followed by other DDL (the version comes back to the
  // same number); a rollback that reverts DDL makes SQLite prepare its statements again, this one included.
  sqlite3* db = db_->handle();
  if (!schema_probe_ &&
      sqlite3_prepare_v3(db, "PRAGMA main.schema_version", -1, SQLITE_PREPARE_PERSISTENT, &schema_probe_, nullptr))
    return Status::FromSqlite(sqlite3_errcode(db), sqlite3_errmsg(db));
  const int rc = sqlite3_step(schema_probe_);
  const std::pair<int64_t, int> version{rc == SQLITE_ROW ? sqlite3_column_int64(schema_probe_, 0) : -1,
                                        sqlite3_stmt_status(schema_probe_, SQLITE_STMTSTATUS_REPREPARE, 0)};
  sqlite3_reset(schema_probe_);
  if (rc != SQLITE_ROW) return Status::FromSqlite(rc, sqlite3_errmsg(db));
  if (version == schema_version_) {
    for (const auto& [name, t] : tables_)
      if (!t.error.ok()) return t.error;
    return Status::OK();
  }
  Status first;  // the first misconfigured table's
  for (auto& [name, t] : tables_) {
    std::vector<std::string> all;  // visible columns
    std::map<std::string, int> position;
    t.width = 0;
    {
      // table_xinfo counts hidden (generated) columns, as the preupdate hook does; table_info would not.
      Stmt q = sql_("SELECT name, cid, hidden FROM pragma_table_xinfo(?1, 'main')");
      q.Bind(1, name);
      while (q.Step()) {
        t.width = std::max<int>(t.width, static_cast<int>(q.Int(1)) + 1);
        if (q.Int(2) != 0) continue;
        all.push_back(q.Text(0));
        position[all.back()] = static_cast<int>(q.Int(1));
      }
      OUTPOST_RETURN_IF_ERROR(q.status());
    }
    t.exists = !all.empty();
    t.error = Status::OK();
    t.columns.clear();
    t.key_pos.clear();
    t.column_pos.clear();
    t.counter.clear();
    if (!t.exists) continue;  // created later: read again when the schema changes
    std::set<std::string> known(all.begin(), all.end());
    Status mismatch;
    for (const auto& k : t.key)
      if (!known.count(k) && mismatch.ok())
        mismatch = Status::Error("INVALID_ARGUMENT", "sync.tables." + name + ".primaryKey: the table has no column \"" +
                                                         k + "\"; name its primary-key column(s).");
    // Column names travel in the protocol as identifiers: a name the server could not accept (e.g. with a
    // quote or a space) would make operations nobody can send or read back.
    for (const auto& c : all)
      if (!protocol::IsIdentifier(c) && mismatch.ok())
        mismatch = Status::Error("INVALID_ARGUMENT", "The synced table \"" + name + "\" has a column named " +
                                                         protocol::json::Dump(protocol::json::Json(c)) +
                                                         "; synced columns need names of letters, digits and _ "
                                                         "(not starting with a digit). Rename the column.");
    for (const auto& [col, policy] : t.policy.columns)
      if (!known.count(col) && mismatch.ok())
        mismatch = Status::Error("INVALID_ARGUMENT", "sync.tables." + name + ".columns." + col +
                                                         ": the table has no such column; fix the name or drop it.");
    if (!mismatch.ok()) {
      // Writes that cannot be captured must not pass silently: the table refuses them until fixed.
      t.error = mismatch;
      t.exists = false;
      if (first.ok()) first = mismatch;
      continue;
    }
    for (const auto& c : all)
      if (std::find(t.key.begin(), t.key.end(), c) == t.key.end()) {
        t.columns.push_back(c);
        t.column_pos.push_back(position[c]);
        t.counter.push_back(t.policy.ForColumn(c) == merge::Policy::kCounter);
      }
    for (const auto& k : t.key) t.key_pos.push_back(position[k]);
  }
  schema_version_ = version;
  return first;
}

const TableInfo* Engine::FindTable(const std::string& name) const {
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : &it->second;
}

Status Engine::AfterStatement(bool kept) {
  if (!noting_) return Status::OK();
  std::vector<NotedWrite> noted = std::move(noted_);
  const Status error = noted_error_;
  ForgetNoted();
  if (!kept) return Status::OK();
  if (!error.ok()) return error;
  return RecordNoted(std::move(noted));
}

Status Engine::RecordNoted(std::vector<NotedWrite> noted) {
  // REPLACE deletes the rows it replaces before writing: a delete followed in the statement by a whole upsert
  // of the same key is one write of that key, its counters recording new - old as an update would.
  std::map<std::pair<const TableInfo*, std::string>, size_t> deletes;  // (table, key text) -> not yet folded
  std::vector<bool> folded(noted.size());
  for (size_t i = 0; i < noted.size(); ++i) {
    NotedWrite& w = noted[i];
    if (w.op.kind == protocol::kDelete) {
      deletes[{w.table, w.key_text}] = i;
      continue;
    }
    if (!w.whole) continue;
    auto d = deletes.find({w.table, w.key_text});
    if (d == deletes.end()) continue;
    folded[d->second] = true;
    for (const auto& [col, old] : noted[d->second].counters) {
      auto c = w.op.columns.find(col);
      if (c == w.op.columns.end()) continue;
      int64_t delta;
      if (__builtin_sub_overflow(std::get<int64_t>(c->second.value), old, &delta)) return CounterError(*w.table, col);
      if (delta == 0)
        w.op.columns.erase(c);
      else
        c->second.value = delta;
    }
    deletes.erase(d);
  }
  for (size_t i = 0; i < noted.size(); ++i)
    if (!folded[i]) OUTPOST_RETURN_IF_ERROR(RecordRowOp(*noted[i].table, std::move(noted[i].op), noted[i].key_text));
  return Status::OK();
}

Status Engine::RecordRowOp(const TableInfo& t, protocol::Operation op, const std::string& key_text) {
  bool exhausted = false;
  op.hlc = Tick(&exhausted);
  if (exhausted)
    return Status::Error("CLOCK_EXHAUSTED", "The device clock cannot advance any more; check the system time.");
  for (auto& [name, cv] : op.columns) cv.hlc = op.hlc;
  const std::string entity = EntityFor(t.name, key_text);

  if (op.kind == protocol::kUpsert) {
    // Compaction: the entity's latest op is a pending upsert never sent (no server can have applied it,
    // whatever happened since: timeouts, Retry()): fold this one into it (its id, position and base version
    // stay; columns merge, counter deltas add up). A pending op is always the latest unfinished one: only the
    // head of an entity is ever claimed, and failed ops block those after them.
    Stmt q = sql_(
        "SELECT seq, kind, state, sent, columns, bytes FROM _outpost_outbox INDEXED BY _outpost_outbox_by_entity"
        " WHERE entity = ?1 ORDER BY seq DESC LIMIT 1");
    q.Bind(1, entity);
    if (q.Step() && q.Text(1) == protocol::kUpsert && q.Int(2) == kPendingState && q.Int(3) == 0) {
      const int64_t seq = q.Int(0), old_bytes = q.Int(5);
      const std::string old_text = q.Text(4);
      std::string text;
      OUTPOST_RETURN_IF_ERROR(MergeColumnsText(t, old_text, std::move(op.columns), &text));
      const int64_t bytes = old_bytes - static_cast<int64_t>(old_text.size()) + static_cast<int64_t>(text.size());
      OUTPOST_RETURN_IF_ERROR(CheckBounds(0, bytes - old_bytes));
      Stmt u = sql_(
          "UPDATE _outpost_outbox SET columns = ?2, hlc = ?3, bytes = ?4, updated_ms = ?5 WHERE seq = ?1");
      OUTPOST_RETURN_IF_ERROR(
          u.Bind(1, seq).Bind(2, text).Bind(3, Hlc::Encode(op.hlc)).Bind(4, bytes).Bind(5, now_ms_).Run());
      count_bytes_ += bytes - old_bytes;
      return Status::OK();
    }
    OUTPOST_RETURN_IF_ERROR(q.status());
  }
  if (t.needs_base_version) {
    Stmt q = sql_("SELECT version FROM _outpost_rows WHERE tbl = ?1 AND key = ?2");
    q.Bind(1, t.name).Bind(2, key_text);
    if (q.Step() && !q.Null(0)) op.base_version = q.Int(0);
    OUTPOST_RETURN_IF_ERROR(q.status());
  }
  op.id = NewOpId(now_ms_);
  if (op.id.empty()) return Status::Error("CLOCK_EXHAUSTED", "No operation id can be generated for this time.");
  return InsertOp(op, entity, key_text, now_ms_);
}

// The columns of a pending upsert with `fresh` folded in. Each fresh column replaces the pending entry, in
// SQLite's json_set: capture runs on every tracked write, and SQLite's JSON code costs a fraction of building
// a JSON tree here (bench/sync.mjs, update case). Column names are identifiers (RefreshTables refuses
// others), so `$."name"` addresses each. A counter column already in the op adds up instead, in C++.
Status Engine::MergeColumnsText(const TableInfo& t, const std::string& old_text, protocol::Columns fresh,
                                std::string* out) {
  bool simple = true;
  for (const auto& [name, cv] : fresh)
    if (t.policy.ForColumn(name) == merge::Policy::kCounter) simple = false;
  if (simple) {
    std::string sql = "SELECT json_set(?1";
    for (size_t i = 0; i < fresh.size(); ++i)
      sql += ",?" + std::to_string(2 + 2 * i) + ",json(?" + std::to_string(3 + 2 * i) + ")";
    Stmt q = sql_(sql + ")");
    q.Bind(1, old_text);
    int n = 2;
    for (const auto& [name, cv] : fresh) {
      q.Bind(n++, "$.\"" + name + "\"");
      std::string column;
      protocol::json::AppendColumn(&column, cv);
      q.Bind(n++, column);
    }
    if (q.Step() && !q.Null(0)) {
      *out = q.Text(0);
      return Status::OK();
    }
    OUTPOST_RETURN_IF_ERROR(q.status());
    return Status::Error("INTERNAL", "The pending operation's columns are not valid JSON: " + old_text);
  }
  protocol::Columns merged;
  OUTPOST_RETURN_IF_ERROR(ParseColumnsText(old_text, &merged));
  for (auto& [name, cv] : fresh) {
    auto it = merged.find(name);
    if (it != merged.end() && t.policy.ForColumn(name) == merge::Policy::kCounter && it->second.value.index() == 1 &&
        cv.value.index() == 1) {
      int64_t sum;
      if (__builtin_add_overflow(std::get<int64_t>(it->second.value), std::get<int64_t>(cv.value), &sum))
        return Status::Error("INVALID_ARGUMENT", "The counter " + t.name + "." + name + " overflows int64.");
      it->second = protocol::ColumnValue{sum, cv.hlc};
    } else {
      merged[name] = std::move(cv);
    }
  }
  *out = ColumnsText(merged);
  return Status::OK();
}

namespace {
// The key of a row from SQL function arguments (table, key values...).
const TableInfo* KeyFromArgs(Engine* engine, const std::map<std::string, TableInfo, std::less<>>& tables,
                             sqlite3_context* ctx, int argc, sqlite3_value** argv, protocol::Key* key) {
  (void)engine;
  auto it = argc >= 1 ? tables.find(ArgText(argv[0])) : tables.end();
  if (it == tables.end()) {
    sqlite3_result_error(ctx, "INVALID_ARGUMENT: the first argument must name a synced table", -1);
    return nullptr;
  }
  const TableInfo& t = it->second;
  if (static_cast<size_t>(argc) != 1 + t.key.size()) {
    std::string msg = "INVALID_ARGUMENT: pass the table name and its " + std::to_string(t.key.size()) +
                      " primary-key value(s)";
    sqlite3_result_error(ctx, msg.c_str(), -1);
    return nullptr;
  }
  for (size_t i = 0; i < t.key.size(); ++i) (*key)[t.key[i]] = Stmt::FromSqlite(argv[1 + i]);
  return &t;
}
}  // namespace

void Engine::KeyFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  protocol::Key key;
  if (!KeyFromArgs(this, tables_, ctx, argc, argv, &key)) return;
  std::string text = KeyText(key);
  sqlite3_result_text(ctx, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void Engine::SyncStateFunction(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  protocol::Key key;
  const TableInfo* t = KeyFromArgs(this, tables_, ctx, argc, argv, &key);
  if (!t) return;
  const std::string key_text = KeyText(key);
  bool failed = false, unsent = false, known = false;
  {
    Stmt q = sql_(
        "SELECT coalesce(max(state = 3), 0), coalesce(max(state IN (0, 1)), 0), coalesce(max(state = 2), 0)"
        " FROM _outpost_outbox INDEXED BY _outpost_outbox_by_entity WHERE entity = ?1");
    q.Bind(1, EntityFor(t->name, key_text));
    if (q.Step()) {
      failed = q.Int(0) != 0;
      unsent = q.Int(1) != 0;
      known = q.Int(2) != 0;
    }
    if (!q.status().ok()) return ResultError(ctx, q.status());
  }
  if (!known) {
    Stmt q = sql_("SELECT 1 FROM _outpost_rows WHERE tbl = ?1 AND key = ?2");
    known = q.Bind(1, t->name).Bind(2, key_text).Step();
    if (!q.status().ok()) return ResultError(ctx, q.status());
  }
  const char* state = failed ? "failed" : !known ? "local-only" : unsent ? "syncing" : "synced";
  sqlite3_result_text(ctx, state, -1, SQLITE_STATIC);
}

}  // namespace outpost::sync
