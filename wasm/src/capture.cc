// Capture: every INSERT/UPDATE/DELETE on a tracked table, through any SQL, becomes an outbox operation in
// the same transaction. TEMP triggers (per connection: the database file never depends on the engine) call
// outpost_capture(), which stamps the change with the engine's HLC and op-id generator at the time given by
// SetTime and writes or compacts the outbox row. Also here: the SQL functions outpost_sync_state() and
// outpost_key(), and MapCaptureError.
//
// Trigger call shape: outpost_capture(table, 'I'|'U'|'D', key values..., then for I/U per non-key column in
// table order: changed flag, value). UPDATE passes `NEW.c IS NOT OLD.c` flags, so only changed columns are
// recorded; counter columns pass the delta NEW - OLD. An UPDATE that changes the key is a delete of the old
// key and an upsert of every column at the new key (passed as 'I', so a key-only row is recorded too).
// Rows deleted by INSERT/UPDATE OR REPLACE fire no trigger: the preupdate hook notes every delete of a
// tracked row, the delete trigger takes its own back, and the write that replaced them records the rest
// (RecordReplaced).
#include <string_view>

#include "protocol_json.h"
#include "sync_engine_impl.h"

namespace outpost::sync {

namespace {

Engine* Self(sqlite3_context* ctx) { return static_cast<Engine*>(sqlite3_user_data(ctx)); }

void CaptureFn(sqlite3_context* ctx, int argc, sqlite3_value** argv) { Self(ctx)->Capture(ctx, argc, argv); }
void SyncStateFn(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  Self(ctx)->SyncStateFunction(ctx, argc, argv);
}
void KeyFn(sqlite3_context* ctx, int argc, sqlite3_value** argv) { Self(ctx)->KeyFunction(ctx, argc, argv); }
void RollbackHook(void* self) { static_cast<Engine*>(self)->OnRollback(); }
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

}  // namespace

// The codes capture errors carry as a message prefix (MapCaptureError).
constexpr const char* kCaptureCodes[] = {"OUTBOX_FULL", "INVALID_ARGUMENT", "CLOCK_EXHAUSTED"};

Status Engine::RegisterFunctions() {
  sqlite3* db = db_->handle();
  struct Fn {
    const char* name;
    void (*fn)(sqlite3_context*, int, sqlite3_value**);
    int flags;
  };
  const Fn fns[] = {{"outpost_capture", CaptureFn, SQLITE_UTF8},
                    {"outpost_sync_state", SyncStateFn, SQLITE_UTF8},
                    {"outpost_key", KeyFn, SQLITE_UTF8 | SQLITE_DETERMINISTIC}};
  for (const Fn& f : fns) {
    int rc = sqlite3_create_function_v2(db, f.name, -1, f.flags, this, f.fn, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return Status::FromSqlite(rc, sqlite3_errmsg(db));
  }
  sqlite3_rollback_hook(db, RollbackHook, this);
  sqlite3_preupdate_hook(db, PreupdateHook, this);
  return Status::OK();
}

void Engine::OnPreupdate(sqlite3* db, int op, const char* db_name, const char* table) {
  if (applying_ || op != SQLITE_DELETE || std::string_view(db_name) != "main") return;
  const TableInfo* t = FindTable(table);
  if (!t || !t->exists || t->key_pos.size() != t->key.size()) return;
  ReplacedRow row;
  for (size_t i = 0; i < t->key.size(); ++i) {
    sqlite3_value* v = nullptr;
    if (sqlite3_preupdate_old(db, t->key_pos[i], &v) != SQLITE_OK || !v) return;
    row.key[t->key[i]] = Stmt::FromSqlite(v);
  }
  for (const auto& [col, pos] : t->counter_pos) {
    sqlite3_value* v = nullptr;
    if (sqlite3_preupdate_old(db, pos, &v) == SQLITE_OK && v && sqlite3_value_type(v) == SQLITE_INTEGER)
      row.counters[col] = sqlite3_value_int64(v);
  }
  replaced_[{t->name, KeyText(row.key)}] = std::move(row);
}

Status Engine::MaybeReinstall() {
  int64_t version = -1;
  {
    Stmt q = sql_("PRAGMA main.schema_version");
    if (q.Step()) version = q.Int(0);
    OUTPOST_RETURN_IF_ERROR(q.status());
  }
  if (version == schema_version_) return Status::OK();
  return InstallTriggers();
}

Status Engine::InstallTriggers() {
  std::string sql;
  Status error;  // the first misconfigured table (its triggers refuse writes)
  for (auto& [name, t] : tables_) {
    const std::string base = "_outpost_" + name;
    sql += "DROP TRIGGER IF EXISTS temp." + Quote(base + "_i") + ";DROP TRIGGER IF EXISTS temp." +
           Quote(base + "_u") + ";DROP TRIGGER IF EXISTS temp." + Quote(base + "_d") + ";";
    std::vector<std::string> all;
    std::map<std::string, int> position;  // column index, as sqlite3_preupdate_old counts
    {
      Stmt q = sql_("SELECT name, cid FROM pragma_table_info(?1, 'main')");
      q.Bind(1, name);
      while (q.Step()) {
        all.push_back(q.Text(0));
        position[all.back()] = static_cast<int>(q.Int(1));
      }
      OUTPOST_RETURN_IF_ERROR(q.status());
    }
    t.exists = !all.empty();
    t.columns.clear();
    t.key_pos.clear();
    t.counter_pos.clear();
    if (!t.exists) continue;  // created later: installed when the schema changes
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
      std::string message = mismatch.code() + ": " + mismatch.message(), quoted;
      for (char c : message) quoted += c == '\'' ? std::string("''") : std::string(1, c);
      for (const char* ev : {"_i AFTER INSERT", "_u AFTER UPDATE", "_d AFTER DELETE"}) {
        std::string suffix(ev, 2);
        sql += "CREATE TEMP TRIGGER " + Quote(base + suffix) + std::string(ev + 2) + " ON main." + Quote(name) +
               " BEGIN SELECT RAISE(ABORT, '" + quoted + "'); END;";
      }
      if (error.ok()) error = mismatch;
      t.exists = false;
      continue;
    }
    for (const auto& c : all)
      if (std::find(t.key.begin(), t.key.end(), c) == t.key.end()) t.columns.push_back(c);
    for (const auto& k : t.key) t.key_pos.push_back(position[k]);
    for (const auto& c : t.columns)
      if (t.policy.ForColumn(c) == merge::Policy::kCounter) t.counter_pos.emplace_back(c, position[c]);

    const std::string table = Quote(name);
    const std::string lit = "'" + name + "'";  // identifiers: no quote inside (checked by FromJson)
    std::string new_key, old_key, key_changed;
    for (const auto& k : t.key) {
      new_key += ",NEW." + Quote(k);
      old_key += ",OLD." + Quote(k);
      key_changed += std::string(key_changed.empty() ? "" : " OR ") + "NEW." + Quote(k) + " IS NOT OLD." + Quote(k);
    }
    std::string ins_cols, upd_cols;
    for (const auto& c : t.columns) {
      const std::string n = "NEW." + Quote(c), o = "OLD." + Quote(c);
      ins_cols += ",1," + n;
      upd_cols += ",(" + key_changed + ") OR " + n + " IS NOT " + o;
      if (t.policy.ForColumn(c) == merge::Policy::kCounter)
        upd_cols += ",CASE WHEN " + key_changed + " THEN " + n + " ELSE coalesce(" + n + ",0) - coalesce(" + o +
                    ",0) END";
      else
        upd_cols += "," + n;
    }
    sql += "CREATE TEMP TRIGGER " + Quote(base + "_i") + " AFTER INSERT ON main." + table +
           " BEGIN SELECT outpost_capture(" + lit + ",'I'" + new_key + ins_cols + "); END;";
    sql += "CREATE TEMP TRIGGER " + Quote(base + "_u") + " AFTER UPDATE ON main." + table +
           " BEGIN SELECT outpost_capture(" + lit + ",'D'" + old_key + ") WHERE " + key_changed +
           "; SELECT outpost_capture(" + lit + ",CASE WHEN " + key_changed + " THEN 'I' ELSE 'U' END" + new_key +
           upd_cols + "); END;";
    sql += "CREATE TEMP TRIGGER " + Quote(base + "_d") + " AFTER DELETE ON main." + table +
           " BEGIN SELECT outpost_capture(" + lit + ",'D'" + old_key + "); END;";
  }
  OUTPOST_RETURN_IF_ERROR(sql_.Exec(sql));
  Stmt q = sql_("PRAGMA main.schema_version");
  if (q.Step()) schema_version_ = q.Int(0);
  OUTPOST_RETURN_IF_ERROR(q.status());
  return error;
}

const TableInfo* Engine::FindTable(const std::string& name) const {
  auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : &it->second;
}

void Engine::Capture(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  if (applying_) return;  // the engine's own writes (pulled changes, conflict results)
  const TableInfo* t = argc >= 2 ? FindTable(ArgText(argv[0])) : nullptr;
  const std::string kind = argc >= 2 ? ArgText(argv[1]) : "";
  if (!t || kind.size() != 1) {
    sqlite3_result_error(ctx, "outpost_capture() is called by the sync engine's triggers only", -1);
    return;
  }
  const size_t nk = t->key.size();
  const size_t expected = 2 + nk + (kind == "D" ? 0 : 2 * t->columns.size());
  if (static_cast<size_t>(argc) != expected) {
    ResultError(ctx, Status::Error("INVALID_ARGUMENT", "The capture triggers of \"" + t->name +
                                                           "\" are out of date; reopen the database."));
    return;
  }
  protocol::Operation op;
  op.table = t->name;
  for (size_t i = 0; i < nk; ++i) {
    Value v = Stmt::FromSqlite(argv[2 + i]);
    if (v.index() == 0) {
      ResultError(ctx, Status::Error("INVALID_ARGUMENT", "A row of the synced table \"" + t->name +
                                                             "\" needs a non-NULL primary key (" + t->key[i] +
                                                             "); generate ids on the client, e.g. crypto.randomUUID()."));
      return;
    }
    op.key[t->key[i]] = std::move(v);
  }
  if (kind == "D") {
    op.kind = std::string(protocol::kDelete);
    if (!replaced_.empty()) replaced_.erase({t->name, KeyText(op.key)});  // a trigger saw this delete
  } else {
    op.kind = std::string(protocol::kUpsert);
    for (size_t j = 0; j < t->columns.size(); ++j) {
      if (!sqlite3_value_int(argv[2 + nk + 2 * j])) continue;
      Value v = Stmt::FromSqlite(argv[3 + nk + 2 * j]);
      const std::string& col = t->columns[j];
      if (t->policy.ForColumn(col) == merge::Policy::kCounter) {
        if (v.index() == 0) continue;
        if (v.index() != 1) {
          ResultError(ctx, Status::Error("INVALID_ARGUMENT", "The counter column " + t->name + "." + col +
                                                                 " holds integers only; store a whole number."));
          return;
        }
        if (std::get<int64_t>(v) == 0 && kind == "U") continue;
      }
      op.columns[col] = protocol::ColumnValue{std::move(v), {}};
    }
    if (!replaced_.empty()) {
      if (Status s = RecordReplaced(*t, kind == "I" ? &op : nullptr); !s.ok()) {
        ResultError(ctx, s);
        return;
      }
    }
    if (kind == "U" && op.columns.empty()) return;  // nothing tracked changed
  }
  Status s = RecordRowOp(*t, std::move(op));
  if (!s.ok()) ResultError(ctx, s);
}

Status Engine::RecordRowOp(const TableInfo& t, protocol::Operation op) {
  bool exhausted = false;
  op.hlc = Tick(&exhausted);
  if (exhausted)
    return Status::Error("CLOCK_EXHAUSTED", "The device clock cannot advance any more; check the system time.");
  for (auto& [name, cv] : op.columns) cv.hlc = op.hlc;
  const std::string key_text = KeyText(op.key);
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

// Rows of `t` that INSERT OR REPLACE / UPDATE OR REPLACE deleted in this statement without a delete trigger
// (replaced_), recorded before the write that replaced them. The row with the key being inserted is part of
// that insert: a counter column records new - old, as an update would (not the whole new value on top of the
// old). Any other is recorded as a delete, unless it is there again (its statement failed and rolled back).
Status Engine::RecordReplaced(const TableInfo& t, protocol::Operation* insert) {
  const std::string insert_key = insert ? KeyText(insert->key) : std::string();
  for (auto it = replaced_.begin(); it != replaced_.end();) {
    if (it->first.first != t.name) {
      ++it;
      continue;
    }
    ReplacedRow row = std::move(it->second);
    const bool same_key = insert && it->first.second == insert_key;
    it = replaced_.erase(it);
    if (same_key) {
      for (const auto& [col, old] : row.counters) {
        auto c = insert->columns.find(col);
        if (c == insert->columns.end() || c->second.value.index() != 1) continue;
        const int64_t delta = std::get<int64_t>(c->second.value) - old;
        if (delta == 0) insert->columns.erase(c);
        else c->second.value = delta;
      }
      continue;
    }
    Stmt q = sql_("SELECT 1 FROM main." + Quote(t.name) + " WHERE " + KeyWhere(t, 1));
    BindKey(q, t, row.key, 1);
    const bool still_there = q.Step();
    OUTPOST_RETURN_IF_ERROR(q.status());
    if (still_there) continue;
    protocol::Operation del;
    del.table = t.name;
    del.kind = std::string(protocol::kDelete);
    del.key = std::move(row.key);
    OUTPOST_RETURN_IF_ERROR(RecordRowOp(t, std::move(del)));
  }
  return Status::OK();
}

// The columns of a pending upsert with `fresh` folded in. Each fresh column replaces the pending entry, in
// SQLite's json_set: capture runs on every tracked write, and SQLite's JSON code costs a fraction of building
// a JSON tree here (bench/sync.mjs, update case). Column names are identifiers (InstallTriggers refuses
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
const TableInfo* KeyFromArgs(Engine* engine, const std::map<std::string, TableInfo>& tables, sqlite3_context* ctx,
                             int argc, sqlite3_value** argv, protocol::Key* key) {
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

namespace outpost {

Status MapCaptureError(const Status& status) {
  if (status.ok()) return status;
  for (std::string_view code : sync::kCaptureCodes) {
    std::string prefix = std::string(code) + ": ";
    size_t at = status.message().find(prefix);
    if (at == std::string::npos) continue;
    std::string message = status.message().substr(at + prefix.size());
    // Drop the SQLite hint appended by Status::FromSqlite: ours says what to do.
    if (size_t hint = message.find(". SQL logic error"); hint != std::string::npos) message.resize(hint + 1);
    return Status::Error(std::string(code), message, status.sql());
  }
  return status;
}

}  // namespace outpost
