// The outbox's storage: the engine's tables (docs/sync.md, "Tables"), its meta values (client id, HLC, op-id
// state, pull cursor), reading and writing operation rows, the size bounds, and the list/retry/discard
// operations the app sees. Everything here runs on the engine's connection, inside whatever transaction is
// open (the caller decides).
#include <charconv>
#include <cstring>

#include "protocol_json.h"
#include "sync_engine_impl.h"

namespace outpost::sync {

namespace pj = protocol::json;

// Capture runs on every tracked write, so keys and columns are written without building a JSON tree.
std::string KeyText(const protocol::Key& key) {
  std::string out;
  pj::AppendKey(&out, key);
  return out;
}

Status ParseKeyText(const std::string& text, protocol::Key* key) {
  key->clear();
  if (pj::ReadCanonicalKey(text, protocol::Limits{}, key)) return Status::OK();
  key->clear();
  pj::Json j;
  OUTPOST_RETURN_IF_ERROR(pj::Parse(text, protocol::Limits{}, &j));
  return pj::GetKey(j, "key", protocol::Limits{}, key);
}

std::string ColumnsText(const protocol::Columns& columns) {
  std::string out;
  pj::AppendColumns(&out, columns);
  return out;
}

Status ParseColumnsText(const std::string& text, protocol::Columns* columns) {
  columns->clear();
  if (text.empty() || pj::ReadCanonicalColumns(text, protocol::Limits{}, columns)) return Status::OK();
  columns->clear();
  pj::Json j;
  OUTPOST_RETURN_IF_ERROR(pj::Parse(text, protocol::Limits{}, &j));
  return pj::GetColumns(j, "columns", protocol::Limits{}, columns);
}

std::string ValueJson(const Value& v) { return pj::Dump(pj::ValueToJson(v)); }

// Column names are length-prefixed ("5:title"), so any name SQLite allows round-trips.
std::string EncodeShadow(const Shadow& shadow) {
  std::string out;
  for (const auto& [name, c] : shadow) {
    if (!out.empty()) out += ';';
    out += std::to_string(name.size()) + ':' + name + ' ' + Hlc::Encode(c.hlc) + ' ';
    out += c.own_version ? std::to_string(*c.own_version) : "-";
    out += ' ';
    out += c.total ? std::to_string(*c.total) : "-";
  }
  return out;
}

Status DecodeShadow(std::string_view text, Shadow* shadow) {
  shadow->clear();
  auto corrupt = [&] {
    return Status::Error("INTERNAL", "A stored column shadow is unreadable (\"" + std::string(text.substr(0, 80)) +
                                         "\"); the database was modified outside Outpost.");
  };
  auto number = [](std::string_view field, std::optional<int64_t>* out) {
    if (field == "-") return true;
    int64_t n = 0;
    auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), n);
    if (ec != std::errc() || end != field.data() + field.size()) return false;
    *out = n;
    return true;
  };
  size_t i = 0;
  while (i < text.size()) {
    size_t colon = text.find(':', i);
    size_t len = 0;
    if (colon == std::string_view::npos) return corrupt();
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + colon, len);
    if (ec != std::errc() || end != text.data() + colon || colon + 1 + len > text.size()) return corrupt();
    std::string name(text.substr(colon + 1, len));
    i = colon + 1 + len;
    size_t stop = text.find(';', i);
    if (stop == std::string_view::npos) stop = text.size();
    std::string_view fields = text.substr(i, stop - i);  // " hlc own_version total"
    ShadowColumn c;
    size_t a = fields.find(' ', 1), b = a == std::string_view::npos ? a : fields.find(' ', a + 1);
    if (fields.empty() || fields[0] != ' ' || b == std::string_view::npos ||
        !Hlc::Decode(fields.substr(1, a - 1), &c.hlc).ok() ||
        !number(fields.substr(a + 1, b - a - 1), &c.own_version) || !number(fields.substr(b + 1), &c.total))
      return corrupt();
    if (!shadow->emplace(std::move(name), c).second) return corrupt();
    i = stop + 1;
  }
  return Status::OK();
}

Status Engine::LoadShadow(const std::string& table, const std::string& key_text, Shadow* shadow) {
  shadow->clear();
  Stmt q = sql_("SELECT shadow FROM _outpost_rows WHERE tbl = ?1 AND key = ?2");
  if (q.Bind(1, table).Bind(2, key_text).Step() && !q.Null(0)) return DecodeShadow(q.Text(0), shadow);
  return q.status();
}

Status Engine::SaveShadow(const std::string& table, const std::string& key_text, const Shadow& shadow) {
  Stmt q = sql_("UPDATE _outpost_rows SET shadow = ?3 WHERE tbl = ?1 AND key = ?2");
  q.Bind(1, table).Bind(2, key_text);
  if (!shadow.empty()) q.Bind(3, EncodeShadow(shadow));
  return q.Run();
}

Status Engine::CreateSchema() {
  OUTPOST_RETURN_IF_ERROR(CreateTables());
  // Columns added after the first tables were created (databases from earlier builds get them here).
  struct Added {
    const char* table;
    const char* column;
    const char* definition;
  };
  for (const Added& a : {Added{"_outpost_outbox", "sent", "sent INTEGER NOT NULL DEFAULT 0"},
                         Added{"_outpost_rows", "shadow", "shadow TEXT"}}) {
    bool present = false;
    {
      Stmt q = sql_("SELECT 1 FROM pragma_table_info(?1, 'main') WHERE name = ?2");
      present = q.Bind(1, a.table).Bind(2, a.column).Step();
      OUTPOST_RETURN_IF_ERROR(q.status());
    }
    if (!present)
      OUTPOST_RETURN_IF_ERROR(sql_.Exec(std::string("ALTER TABLE ") + a.table + " ADD COLUMN " + a.definition));
  }
  // Pending ops except fresh ones (kWaitingOps, sync_engine_impl.h); earlier builds indexed them all. After
  // the columns: it reads `sent`.
  OUTPOST_RETURN_IF_ERROR(
      sql_.Exec(std::string("DROP INDEX IF EXISTS _outpost_outbox_pending;"
                            "CREATE INDEX IF NOT EXISTS _outpost_outbox_waiting ON _outpost_outbox(priority, seq)"
                            " WHERE ") +
                kWaitingOps + ";"));
  return MigrateShadowTable();
}

// Earlier builds kept one _outpost_shadow row per (table, key, column); their rows move into
// _outpost_rows.shadow, in one transaction with the table's drop.
Status Engine::MigrateShadowTable() {
  {
    Stmt q = sql_("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_outpost_shadow'");
    if (!q.Step()) return q.status();
  }
  bool own = false;
  {
    Stmt q = sql_("SELECT 1 FROM pragma_table_info('_outpost_shadow', 'main') WHERE name = 'own_version'");
    own = q.Step();
    OUTPOST_RETURN_IF_ERROR(q.status());
  }
  OUTPOST_RETURN_IF_ERROR(Begin());
  std::map<std::pair<std::string, std::string>, Shadow> rows;
  Status s;
  {
    Stmt q = sql_(std::string("SELECT tbl, key, col, hlc, total, ") + (own ? "own_version" : "NULL") +
                  " FROM _outpost_shadow");
    while (q.Step()) {
      ShadowColumn c;
      if (!Hlc::Decode(q.Text(3), &c.hlc).ok()) continue;  // unreadable: as if never known (a pull restores it)
      if (q.Get(4).index() == 1) c.total = q.Int(4);
      if (!q.Null(5)) c.own_version = q.Int(5);
      rows[{q.Text(0), q.Text(1)}][q.Text(2)] = c;
    }
    s = q.status();
  }
  for (const auto& [ref, shadow] : rows) {
    if (!s.ok()) break;
    Stmt q = sql_(
        "INSERT INTO _outpost_rows(tbl, key, shadow) VALUES(?1, ?2, ?3) ON CONFLICT(tbl, key) DO UPDATE"
        " SET shadow = excluded.shadow");
    s = q.Bind(1, ref.first).Bind(2, ref.second).Bind(3, EncodeShadow(shadow)).Run();
  }
  if (s.ok()) s = sql_.Exec("DROP TABLE _outpost_shadow");
  if (!s.ok()) {
    Rollback();
    return s;
  }
  return Commit();
}

Status Engine::CreateTables() {
  return sql_.Exec(
      "CREATE TABLE IF NOT EXISTS _outpost_meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS _outpost_outbox("
      " seq INTEGER PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL, entity TEXT NOT NULL,"
      " priority INTEGER NOT NULL, hlc TEXT NOT NULL, tbl TEXT, key TEXT, columns TEXT, base_version INTEGER,"
      " target TEXT, payload TEXT, state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
      " next_attempt_ms INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
      " applied_version INTEGER, error_code TEXT, error_message TEXT, bytes INTEGER NOT NULL,"
      " sent INTEGER NOT NULL DEFAULT 0);"
      // Neither index holds `state` in its key: a claim (0 -> 1) moves one entry out of the pending index
      // and an acknowledgement (1 -> 2) touches no index at all (earlier builds had (entity, state, seq)
      // and (state, priority, seq): four index writes per acknowledged operation).
      "DROP INDEX IF EXISTS _outpost_outbox_entity;"
      "DROP INDEX IF EXISTS _outpost_outbox_queue;"
      "CREATE INDEX IF NOT EXISTS _outpost_outbox_by_entity ON _outpost_outbox(entity, seq);"
      "CREATE TABLE IF NOT EXISTS _outpost_rows(tbl TEXT NOT NULL, key TEXT NOT NULL, version INTEGER,"
      " delete_hlc TEXT, live_hlc TEXT, shadow TEXT, PRIMARY KEY(tbl, key)) WITHOUT ROWID;"
      "CREATE TABLE IF NOT EXISTS _outpost_conflicts(id TEXT PRIMARY KEY, op_id TEXT, tbl TEXT NOT NULL,"
      " key TEXT NOT NULL, fields TEXT NOT NULL, version INTEGER, created_ms INTEGER NOT NULL) WITHOUT ROWID;");
}

Status Engine::GetMeta(const std::string& key, Value* out) {
  Stmt q = sql_("SELECT v FROM _outpost_meta WHERE k = ?1");
  q.Bind(1, key);
  *out = std::monostate{};
  if (q.Step()) *out = q.Get(0);
  return q.status();
}

Status Engine::SetMeta(const std::string& key, const Value& value) {
  Stmt q = sql_("INSERT INTO _outpost_meta(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v");
  return q.Bind(1, key).Bind(2, value).Run();
}

Status Engine::SaveClocks() {
  OUTPOST_RETURN_IF_ERROR(SetMeta("hlc", Hlc::Encode(hlc_.last())));
  if (!last_op_id_.empty()) OUTPOST_RETURN_IF_ERROR(SetMeta("op_id", last_op_id_));
  return Status::OK();
}

namespace {
std::string Hex(uint64_t v, int digits) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(digits, '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[i] = kDigits[v & 15];
  return s;
}
}  // namespace

Status Engine::LoadState(int64_t now_ms) {
  OUTPOST_RETURN_IF_ERROR(Begin());
  auto fail = [&](Status s) {
    Rollback();
    return s;
  };
  Value v;
  // Device identity: the node id of the HLC and the client id, generated once.
  uint64_t node = 0;
  if (Status s = GetMeta("node", &v); !s.ok()) return fail(s);
  if (auto* text = std::get_if<std::string>(&v); text && text->size() == 16) {
    for (char c : *text) node = node * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  } else {
    uint8_t bytes[8];
    RandomBytes(bytes, 8);
    for (uint8_t b : bytes) node = node << 8 | b;
    if (Status s = SetMeta("node", Hex(node, 16)); !s.ok()) return fail(s);
  }
  hlc_ = Hlc(node, config_.max_drift_ms);
  client_id_ = config_.client_id;
  if (Status s = GetMeta("client_id", &v); !s.ok()) return fail(s);
  if (client_id_.empty()) {
    if (auto* text = std::get_if<std::string>(&v)) client_id_ = *text;
    else client_id_ = "device-" + Hex(node, 16);
  }
  if (Status s = SetMeta("client_id", client_id_); !s.ok()) return fail(s);

  // The clock continues after everything it ever stamped or received.
  std::vector<std::string> hlcs;
  if (Status s = GetMeta("hlc", &v); !s.ok()) return fail(s);
  if (auto* text = std::get_if<std::string>(&v)) hlcs.push_back(*text);
  // (Column shadows need no scan: every transaction that writes one also saves the clock, SaveClocks.)
  for (const char* sql : {"SELECT max(hlc) FROM _outpost_outbox", "SELECT max(delete_hlc) FROM _outpost_rows"}) {
    Stmt q = sql_(sql);
    if (q.Step() && !q.Null(0)) hlcs.push_back(q.Text(0));
    if (!q.status().ok()) return fail(q.status());
  }
  for (const auto& text : hlcs) {
    HlcTimestamp ts;
    if (Hlc::Decode(text, &ts).ok()) hlc_.Restore(ts);
  }
  // Op ids continue after the greatest one ever issued.
  std::string last_id;
  if (Status s = GetMeta("op_id", &v); !s.ok()) return fail(s);
  if (auto* text = std::get_if<std::string>(&v)) last_id = *text;
  {
    Stmt q = sql_("SELECT max(id) FROM _outpost_outbox");
    if (q.Step() && !q.Null(0) && q.Text(0) > last_id) last_id = q.Text(0);
    if (!q.status().ok()) return fail(q.status());
  }
  if (!last_id.empty() && ids_.Restore(last_id).ok()) last_op_id_ = last_id;

  if (Status s = GetMeta("cursor", &v); !s.ok()) return fail(s);
  if (auto* text = std::get_if<std::string>(&v)) cursor_ = *text;
  if (Status s = GetMeta("last_synced_at", &v); !s.ok()) return fail(s);
  if (auto* at = std::get_if<int64_t>(&v)) last_synced_at_ms_ = *at;

  // The worker died while these were in flight: the server may or may not have them; ids make a resend safe.
  {
    Stmt q = sql_("UPDATE _outpost_outbox SET state = 0, updated_ms = ?1 WHERE state = 1");
    if (Status s = q.Bind(1, now_ms).Run(); !s.ok()) return fail(s);
  }
  if (Status s = SaveClocks(); !s.ok()) return fail(s);
  return Commit();
}

std::string Engine::NewOpId(int64_t now_ms) {
  uint8_t random[OpIdGenerator::kRandomBytes];
  RandomBytes(random, sizeof random);
  std::string id;
  int64_t ms = std::clamp<int64_t>(now_ms, 0, OpIdGenerator::kMaxUnixMs);
  Status s = ids_.Next(ms, std::span<const uint8_t, OpIdGenerator::kRandomBytes>(random), &id);
  if (s.ok()) last_op_id_ = id;
  return id;
}

HlcTimestamp Engine::Tick(bool* exhausted) {
  Status report;
  HlcTimestamp ts = hlc_.Now(now_ms_, &report);
  if (exhausted) *exhausted = report.code() == "CLOCK_EXHAUSTED";
  if (report.code() == "CLOCK_DRIFT") {
    if (!clock_drift_reported_) {
      clock_drift_reported_ = true;
      Emit("clock-drift", pj::Dump(pj::Json{{"message", report.message()}}));
    }
  } else {
    clock_drift_reported_ = false;
  }
  return ts;
}

Status Engine::InsertOp(const protocol::Operation& op, const std::string& entity, const std::string& key_text,
                        int64_t now_ms) {
  const std::string columns = op.is_row_op() && op.kind == protocol::kUpsert ? ColumnsText(op.columns) : "";
  const int64_t bytes = static_cast<int64_t>(64 + op.id.size() + entity.size() + key_text.size() + columns.size() +
                                             op.target.size() + op.payload.size());
  OUTPOST_RETURN_IF_ERROR(CheckBounds(1, bytes));
  Stmt q = sql_(
      "INSERT INTO _outpost_outbox(id, kind, entity, priority, hlc, tbl, key, columns, base_version, target,"
      " payload, created_ms, updated_ms, bytes) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?12,?13)");
  q.Bind(1, op.id).Bind(2, op.kind).Bind(3, entity).Bind(4, static_cast<int64_t>(op.priority));
  q.Bind(5, Hlc::Encode(op.hlc));
  if (op.is_row_op()) {
    q.Bind(6, op.table).Bind(7, key_text);
    if (op.kind == protocol::kUpsert) q.Bind(8, columns);
    if (op.base_version) q.Bind(9, *op.base_version);
  } else {
    if (!op.target.empty()) q.Bind(10, op.target);
    if (!op.payload.empty()) q.Bind(11, op.payload);
  }
  q.Bind(12, now_ms).Bind(13, bytes);
  OUTPOST_RETURN_IF_ERROR(q.Run());
  // Normally past every op already there; not after the newest ops were pruned (the rowid starts over).
  fresh_from_ = std::min(fresh_from_, static_cast<int64_t>(sqlite3_last_insert_rowid(db_->handle())));
  count_ops_ += 1;
  count_bytes_ += bytes;
  status_valid_ = false;  // not counted up: a failed statement may take the row back without a rollback
  return Status::OK();
}

Status Engine::ReadOps(const std::string& where, const std::vector<Value>& params, size_t limit,
                       std::vector<OpRow>* out) {
  out->clear();
  Stmt q = sql_(
      "SELECT seq, id, kind, entity, priority, hlc, tbl, key, columns, base_version, target, payload, state,"
      " attempts, next_attempt_ms, created_ms, error_code, error_message FROM _outpost_outbox WHERE " +
      where + " LIMIT ?" + std::to_string(params.size() + 1));
  for (size_t i = 0; i < params.size(); ++i) q.Bind(static_cast<int>(i + 1), params[i]);
  q.Bind(static_cast<int>(params.size() + 1), static_cast<int64_t>(limit));
  while (q.Step()) {
    OpRow row;
    row.seq = q.Int(0);
    protocol::Operation& op = row.entry.op;
    op.id = q.Text(1);
    op.kind = q.Text(2);
    row.entity = q.Text(3);
    op.priority = static_cast<protocol::Priority>(std::clamp<int64_t>(q.Int(4), 0, 3));
    OUTPOST_RETURN_IF_ERROR(Hlc::Decode(q.Text(5), &op.hlc));
    if (op.is_row_op()) {
      op.table = q.Text(6);
      row.key_text = q.Text(7);
      OUTPOST_RETURN_IF_ERROR(ParseKeyText(row.key_text, &op.key));
      OUTPOST_RETURN_IF_ERROR(ParseColumnsText(q.Text(8), &op.columns));
      if (!q.Null(9)) op.base_version = q.Int(9);
    } else {
      op.entity = row.entity.substr(2);
      op.target = q.Text(10);
      op.payload = q.Text(11);
    }
    row.entry.state = static_cast<OpState>(std::clamp<int64_t>(q.Int(12), 0, 3));
    row.entry.attempts = static_cast<int>(q.Int(13));
    row.entry.next_attempt_ms = q.Int(14);
    row.entry.created_ms = q.Int(15);
    row.entry.error_code = q.Text(16);
    row.entry.error_message = q.Text(17);
    out->push_back(std::move(row));
  }
  return q.status();
}

Status Engine::SetState(int64_t seq, StateCode state, int64_t now_ms, int64_t next_attempt_ms,
                        const std::string& code, const std::string& message) {
  Stmt q = sql_(
      "UPDATE _outpost_outbox SET state = ?2, updated_ms = ?3, next_attempt_ms = ?4, error_code = ?5,"
      " error_message = ?6 WHERE seq = ?1");
  q.Bind(1, seq).Bind(2, static_cast<int64_t>(state)).Bind(3, now_ms).Bind(4, next_attempt_ms);
  if (!code.empty()) q.Bind(5, code).Bind(6, message);
  CountsChanged();
  return q.Run();
}

Status Engine::EnsureCounts() {
  if (counts_valid_) return Status::OK();
  Stmt q = sql_("SELECT count(*), coalesce(sum(bytes), 0) FROM _outpost_outbox WHERE state <> 2");
  if (q.Step()) {
    count_ops_ = q.Int(0);
    count_bytes_ = q.Int(1);
    counts_valid_ = true;
  }
  return q.status();
}

Status Engine::CheckBounds(int64_t add_ops, int64_t add_bytes) {
  OUTPOST_RETURN_IF_ERROR(EnsureCounts());
  if (count_ops_ + add_ops > static_cast<int64_t>(config_.max_outbox_ops))
    return Status::Error("OUTBOX_FULL", "The outbox holds " + std::to_string(count_ops_) +
                                            " unsynced operations (maxOutboxOps " +
                                            std::to_string(config_.max_outbox_ops) +
                                            "); nothing of this transaction was kept. Sync, or retry or discard "
                                            "failed operations, before writing more.");
  if (count_bytes_ + add_bytes > static_cast<int64_t>(config_.max_outbox_bytes))
    return Status::Error("OUTBOX_FULL", "The outbox holds " + std::to_string(count_bytes_) +
                                            " bytes of unsynced operations (maxOutboxBytes " +
                                            std::to_string(config_.max_outbox_bytes) +
                                            "); nothing of this transaction was kept. Sync, or retry or discard "
                                            "failed operations, before writing more.");
  return Status::OK();
}

Status Engine::Begin() {
  if (db_->InTransaction())
    return Status::Error("INVALID_STATE", "A transaction is open; the sync engine records its work after it ends.");
  return sql_("BEGIN IMMEDIATE").Run();
}

Status Engine::Commit() {
  Status s = sql_("COMMIT").Run();
  if (!s.ok()) Rollback();
  return s;
}

void Engine::Rollback() {
  if (db_->InTransaction()) (void)sql_("ROLLBACK").Run();
  CountsChanged();
}

Status Engine::Stats(OutboxStats* out) {
  *out = {};
  Stmt q = sql_("SELECT state, count(*), coalesce(sum(bytes), 0) FROM _outpost_outbox GROUP BY state");
  while (q.Step()) {
    int64_t n = q.Int(1);
    switch (q.Int(0)) {
      case kPendingState: out->pending = n; break;
      case kInflightState: out->inflight = n; break;
      case kDoneState: out->done = n; break;
      default: out->failed = n;
    }
    if (q.Int(0) != kDoneState) out->bytes += q.Int(2);
  }
  return q.status();
}

Status Engine::List(std::optional<OpState> state, size_t limit, std::vector<OutboxEntry>* out) {
  std::vector<OpRow> rows;
  if (state)
    OUTPOST_RETURN_IF_ERROR(ReadOps("state = ?1 ORDER BY seq", {static_cast<int64_t>(*state)}, limit, &rows));
  else
    OUTPOST_RETURN_IF_ERROR(ReadOps("1 ORDER BY seq", {}, limit, &rows));
  out->clear();
  for (auto& row : rows) out->push_back(std::move(row.entry));
  return Status::OK();
}

Status Engine::Retry(const std::string& id, int64_t now_ms) {
  std::vector<OpRow> rows;
  OUTPOST_RETURN_IF_ERROR(ReadOps("id = ?1", {id}, 1, &rows));
  if (rows.empty() || rows[0].entry.state != OpState::kFailed)
    return Status::Error("NOT_FOUND", "No failed operation has the id " + id + "; list the failed ones with list().");
  OUTPOST_RETURN_IF_ERROR(Begin());
  Stmt q = sql_(
      "UPDATE _outpost_outbox SET state = 0, attempts = 0, next_attempt_ms = ?2, updated_ms = ?2,"
      " error_code = NULL, error_message = NULL WHERE seq = ?1");
  if (Status s = q.Bind(1, rows[0].seq).Bind(2, now_ms).Run(); !s.ok()) {
    Rollback();
    return s;
  }
  CountsChanged();
  OUTPOST_RETURN_IF_ERROR(Commit());
  EmitStatusIfChanged();
  return Status::OK();
}

Status Engine::Discard(const std::string& id, int64_t now_ms) {
  (void)now_ms;
  std::vector<OpRow> rows;
  OUTPOST_RETURN_IF_ERROR(ReadOps("id = ?1", {id}, 1, &rows));
  if (rows.empty()) return Status::Error("NOT_FOUND", "No operation has the id " + id + ".");
  if (rows[0].entry.state == OpState::kInflight)
    return Status::Error("INVALID_STATE", "The operation " + id +
                                              " is being sent; discard it after the request has finished.");
  OUTPOST_RETURN_IF_ERROR(Begin());
  Stmt q = sql_("DELETE FROM _outpost_outbox WHERE seq = ?1");
  if (Status s = q.Bind(1, rows[0].seq).Run(); !s.ok()) {
    Rollback();
    return s;
  }
  CountsChanged();
  OUTPOST_RETURN_IF_ERROR(Commit());
  EmitStatusIfChanged();
  return Status::OK();
}

Status Engine::ListConflicts(std::string* json) {
  pj::Json list = pj::Json::array();
  Stmt q = sql_("SELECT id, tbl, key, fields, created_ms, op_id, version FROM _outpost_conflicts ORDER BY created_ms, id");
  while (q.Step()) {
    pj::Json key = pj::Json::parse(q.Text(2), nullptr, false);
    pj::Json fields = pj::Json::parse(q.Text(3), nullptr, false);
    list.push_back(pj::Json{{"id", q.Text(0)}, {"table", q.Text(1)}, {"key", key}, {"fields", fields},
                            {"createdAt", q.Int(4)}, {"opId", q.Text(5)}, {"version", q.Int(6)}});
  }
  *json = pj::Dump(list);
  return q.status();
}

Status Engine::DropConflict(const std::string& id) {
  Stmt q = sql_("DELETE FROM _outpost_conflicts WHERE id = ?1");
  OUTPOST_RETURN_IF_ERROR(q.Bind(1, id).Run());
  if (sqlite3_changes(sql_.db()) == 0) return Status::Error("NOT_FOUND", "No conflict has the id " + id + ".");
  return Status::OK();
}

}  // namespace outpost::sync
