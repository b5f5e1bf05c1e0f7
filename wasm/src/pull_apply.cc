// Applying what the server says to the local tables: pulled changes, the current rows of `conflict`
// results, acknowledgements (the per-column shadow of _outpost_rows), and resyncs. Every decision about a
// row goes through outpost::merge (the server's code), with the local row as the current state: its columns
// carry the HLC of the newest local write (unsent operations included), so a pulled value never overwrites
// a newer local edit (the edit stays and is still sent: a rebase). Runs inside the engine's transactions
// with capture off.
//
// Counter columns travel as totals in pulled changes and as deltas in operations. The local value is the
// server's total (kept in the row's shadow) plus the deltas the total does not include yet: those of
// unfinished operations, and of done ones applied at a version later than the row's pulled version.
#include <algorithm>

#include "protocol_json.h"
#include "sync_engine_impl.h"

namespace outpost::sync {

namespace pj = protocol::json;

std::string KeyWhere(const TableInfo& t, int first_param) {
  std::string where;
  for (size_t i = 0; i < t.key.size(); ++i)
    where += std::string(i ? " AND " : "") + Quote(t.key[i]) + " = ?" + std::to_string(first_param + i);
  return where;
}

void BindKey(Stmt& q, const TableInfo& t, const protocol::Key& key, int first_param) {
  for (size_t i = 0; i < t.key.size(); ++i) {
    auto it = key.find(t.key[i]);
    q.Bind(first_param + static_cast<int>(i), it == key.end() ? Value() : it->second);
  }
}

namespace {

HlcTimestamp DecodeOrZero(const std::string& text) {
  HlcTimestamp ts;
  if (!text.empty()) (void)Hlc::Decode(text, &ts);
  return ts;
}

// The policy pulled rows are merged with: the server already settled manual and first-writer-wins columns,
// so locally they are lww against unfinished local edits only (see ApplyChange).
merge::TablePolicy PullPolicy(const TableInfo& t) {
  merge::TablePolicy p;
  p.table = t.policy.table == merge::Policy::kDeleteWins ? merge::Policy::kDeleteWins : merge::Policy::kLww;
  return p;
}

}  // namespace

Status Engine::ApplyChange(const TableInfo& t, const protocol::Change& change, bool received) {
  // Every received timestamp advances the clock (within the drift bound).
  if (received) {
    // Hlc::Receive does not adopt a timestamp more than max_drift ahead of our wall clock, to keep a peer's
    // far-future clock out. Timestamps that come from the server were bounded by the server's own clock
    // when it accepted them, so such a gap means this device's clock is behind: the clock adopts them anyway
    // (our next edit of a pulled value must be stamped after it, or the server would keep the old value
    // while we show ours), and the app hears of it.
    auto receive = [&](const HlcTimestamp& ts) {
      HlcTimestamp out;
      Status s = hlc_.Receive(ts, now_ms_, &out);
      if (s.code() != "CLOCK_DRIFT") return;
      if (ts.wall_ms <= Hlc::kMaxWallMs) hlc_.Restore(ts);
      if (!clock_drift_reported_) {
        clock_drift_reported_ = true;
        Emit("clock-drift", pj::Dump(pj::Json{{"message", "The server's data is ahead of this device's clock by more than"
                                                          " maxDriftMs; check the system time."},
                                              {"remoteWallMs", ts.wall_ms},
                                              {"deviceTimeMs", now_ms_}}));
      }
    };
    if (change.deleted) receive(change.hlc);
    for (const auto& [name, cv] : change.columns) receive(cv.hlc);
  }
  const std::string key_text = KeyText(change.key);
  const std::string entity = EntityFor(t.name, key_text);

  // The current local state.
  merge::RowState current;
  bool local_exists = false;
  std::map<std::string, Value> local_values;
  {
    std::string cols;
    for (const auto& c : t.columns) cols += "," + Quote(c);
    Stmt q = sql_("SELECT 1" + cols + " FROM main." + Quote(t.name) + " WHERE " + KeyWhere(t, 1));
    BindKey(q, t, change.key, 1);
    if (q.Step()) {
      local_exists = true;
      for (size_t i = 0; i < t.columns.size(); ++i) local_values[t.columns[i]] = q.Get(static_cast<int>(i + 1));
    }
    OUTPOST_RETURN_IF_ERROR(q.status());
  }
  bool known = false;
  Shadow shadow;
  {
    Stmt q = sql_("SELECT version, delete_hlc, live_hlc, shadow FROM _outpost_rows WHERE tbl = ?1 AND key = ?2");
    q.Bind(1, t.name).Bind(2, key_text);
    if (q.Step()) {
      known = true;
      current.version = q.Null(0) ? 0 : q.Int(0);
      current.delete_hlc = DecodeOrZero(q.Text(1));
      current.live_hlc = DecodeOrZero(q.Text(2));
      if (!q.Null(3)) OUTPOST_RETURN_IF_ERROR(DecodeShadow(q.Text(3), &shadow));
    }
    OUTPOST_RETURN_IF_ERROR(q.status());
  }
  std::map<std::string, HlcTimestamp> hlcs;
  for (const auto& [name, c] : shadow) hlcs[name] = c.hlc;
  std::vector<OpRow> unfinished;
  OUTPOST_RETURN_IF_ERROR(ReadOps("entity = ?1 AND +state IN (0, 1, 3) ORDER BY seq", {entity}, 1 << 20, &unfinished));
  bool local_delete = false;
  std::map<std::string, HlcTimestamp> unsent;  // columns with an unfinished local edit
  for (const auto& op : unfinished) {
    const auto& o = op.entry.op;
    if (o.kind == protocol::kDelete) {
      local_delete = true;
      current.delete_hlc = std::max(current.delete_hlc, o.hlc);
    } else {
      current.live_hlc = std::max(current.live_hlc, o.hlc);
      for (const auto& [name, cv] : o.columns) unsent[name] = std::max(unsent[name], cv.hlc);
    }
  }
  for (const auto& c : t.columns) {
    const merge::Policy p = t.policy.ForColumn(c);
    if (p == merge::Policy::kManual || p == merge::Policy::kFirstWriterWins) {
      // The server decides these by versions, not HLCs: its value may carry an older HLC than the one we
      // hold and still be the truth. Only an unfinished local edit is kept (and sent; the server decides).
      hlcs[c] = unsent.count(c) ? unsent[c] : HlcTimestamp{};
    } else if (unsent.count(c)) {
      hlcs[c] = std::max(hlcs[c], unsent[c]);
    }
  }
  current.exists = local_exists || known || local_delete;
  current.deleted = !local_exists && current.exists;
  if (local_exists) {
    for (const auto& c : t.columns) {
      if (t.policy.ForColumn(c) == merge::Policy::kCounter) continue;
      current.columns[c] = merge::ColumnState{local_values[c], hlcs[c], 0};
    }
  }

  // The change as an operation on that state.
  protocol::Operation op;
  op.table = t.name;
  op.key = change.key;
  op.kind = std::string(change.deleted ? protocol::kDelete : protocol::kUpsert);
  op.hlc = change.hlc;
  std::map<std::string, protocol::ColumnValue> totals;
  for (const auto& [name, cv] : change.columns) {
    if (std::find(t.columns.begin(), t.columns.end(), name) == t.columns.end()) continue;  // unknown locally
    if (t.policy.ForColumn(name) == merge::Policy::kCounter) {
      totals[name] = cv;
    } else {
      op.columns[name] = cv;
      op.hlc = std::max(op.hlc, cv.hlc);
    }
  }
  merge::Outcome out;
  OUTPOST_RETURN_IF_ERROR(merge::ApplyOperation(PullPolicy(t), current, op, change.version, &out));
  const merge::RowState& next = out.next;

  // Write the outcome back.
  if (next.deleted) {
    if (local_exists) {
      Stmt q = sql_("DELETE FROM main." + Quote(t.name) + " WHERE " + KeyWhere(t, 1));
      BindKey(q, t, change.key, 1);
      OUTPOST_RETURN_IF_ERROR(q.Run());
    }
    shadow.clear();
  } else {
    std::vector<std::pair<std::string, Value>> writes;
    for (const auto& c : t.columns) {
      // A pulled upsert carries the server's whole row: a column it lacks is NULL there (never written, or
      // removed by a delete its writes were older than), unless we hold an unfinished edit of it.
      const bool server_lacks = !op.columns.count(c) && !totals.count(c) && !unsent.count(c);
      if (server_lacks) shadow.erase(c);
      if (t.policy.ForColumn(c) == merge::Policy::kCounter) {
        if (!local_exists && totals.count(c)) writes.emplace_back(c, totals[c].value);
        else if (server_lacks && local_exists && local_values[c].index() != 0) writes.emplace_back(c, Value());
        continue;
      }
      auto n = next.columns.find(c);
      auto cur = current.columns.find(c);
      Value value = n == next.columns.end() || server_lacks ? Value() : n->second.value;
      bool differs = cur == current.columns.end() ? value.index() != 0 : cur->second.value != value;
      if (!local_exists || differs) writes.emplace_back(c, value);
      if (n != next.columns.end() && (cur == current.columns.end() || cur->second.hlc != n->second.hlc) &&
          op.columns.count(c) && op.columns[c].hlc == n->second.hlc) {
        auto [it, fresh] = shadow.try_emplace(c);
        it->second.hlc = fresh ? n->second.hlc : std::max(it->second.hlc, n->second.hlc);
      }
    }
    if (!local_exists) {
      std::string cols, params;
      int i = 1;
      for (const auto& k : t.key) {
        cols += std::string(i > 1 ? "," : "") + Quote(k);
        params += std::string(i > 1 ? "," : "") + "?" + std::to_string(i);
        ++i;
      }
      for (const auto& [c, v] : writes) {
        cols += "," + Quote(c);
        params += ",?" + std::to_string(i++);
      }
      Stmt q = sql_("INSERT INTO main." + Quote(t.name) + "(" + cols + ") VALUES(" + params + ")");
      BindKey(q, t, change.key, 1);
      int p = static_cast<int>(t.key.size()) + 1;
      for (const auto& [c, v] : writes) q.Bind(p++, v);
      OUTPOST_RETURN_IF_ERROR(q.Run());
    } else if (!writes.empty()) {
      std::string sets;
      int i = 1;
      for (const auto& [c, v] : writes) {
      sets += std::string(i > 1 ? "," : "") + Quote(c) + " = ?" + std::to_string(i);
      ++i;
    }
      Stmt q = sql_("UPDATE main." + Quote(t.name) + " SET " + sets + " WHERE " + KeyWhere(t, i));
      int p = 1;
      for (const auto& [c, v] : writes) q.Bind(p++, v);
      BindKey(q, t, change.key, i);
      OUTPOST_RETURN_IF_ERROR(q.Run());
    }
    for (const auto& [c, cv] : totals) {
      auto [it, fresh] = shadow.try_emplace(c);
      it->second.hlc = fresh ? cv.hlc : std::max(it->second.hlc, cv.hlc);
      it->second.total = cv.value.index() == 1 ? std::optional<int64_t>(std::get<int64_t>(cv.value)) : std::nullopt;
    }
  }
  {
    Stmt q = sql_(
        "INSERT INTO _outpost_rows(tbl, key, version, delete_hlc, live_hlc, shadow) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
        " ON CONFLICT(tbl, key) DO UPDATE SET version = max(coalesce(version, 0), excluded.version),"
        " delete_hlc = excluded.delete_hlc, live_hlc = excluded.live_hlc, shadow = excluded.shadow");
    q.Bind(1, t.name).Bind(2, key_text).Bind(3, change.version);
    if (next.delete_hlc != HlcTimestamp{}) q.Bind(4, Hlc::Encode(next.delete_hlc));
    if (next.live_hlc != HlcTimestamp{}) q.Bind(5, Hlc::Encode(next.live_hlc));
    if (!shadow.empty()) q.Bind(6, EncodeShadow(shadow));
    OUTPOST_RETURN_IF_ERROR(q.Run());
  }
  if (!next.deleted && !totals.empty()) OUTPOST_RETURN_IF_ERROR(RecomputeCounters(t, change.key, key_text));
  return Status::OK();
}

Status Engine::RecomputeCounters(const TableInfo& t, const protocol::Key& key, const std::string& key_text) {
  int64_t version = -1;
  {
    Stmt q = sql_("SELECT version FROM _outpost_rows WHERE tbl = ?1 AND key = ?2");
    if (q.Bind(1, t.name).Bind(2, key_text).Step() && !q.Null(0)) version = q.Int(0);
    OUTPOST_RETURN_IF_ERROR(q.status());
  }
  std::map<std::string, int64_t> totals;
  {
    Shadow shadow;
    OUTPOST_RETURN_IF_ERROR(LoadShadow(t.name, key_text, &shadow));
    for (const auto& [name, c] : shadow)
      if (c.total && t.policy.ForColumn(name) == merge::Policy::kCounter) totals[name] = *c.total;
  }
  if (totals.empty()) return Status::OK();
  {
    // Deltas the server total does not include yet.
    Stmt q = sql_(
        "SELECT columns FROM _outpost_outbox INDEXED BY _outpost_outbox_by_entity WHERE entity = ?1"
        " AND kind = 'upsert' AND NOT (state = 2 AND coalesce(applied_version, 0) <= ?2)");
    q.Bind(1, EntityFor(t.name, key_text)).Bind(2, version);
    while (q.Step()) {
      protocol::Columns columns;
      OUTPOST_RETURN_IF_ERROR(ParseColumnsText(q.Text(0), &columns));
      for (auto& [name, total] : totals) {
        auto it = columns.find(name);
        if (it != columns.end() && it->second.value.index() == 1) total += std::get<int64_t>(it->second.value);
      }
    }
    OUTPOST_RETURN_IF_ERROR(q.status());
  }
  std::string sets;
  int i = 1;
  for (const auto& [c, v] : totals) {
      sets += std::string(i > 1 ? "," : "") + Quote(c) + " = ?" + std::to_string(i);
      ++i;
    }
  Stmt q = sql_("UPDATE main." + Quote(t.name) + " SET " + sets + " WHERE " + KeyWhere(t, i));
  int p = 1;
  for (const auto& [c, v] : totals) q.Bind(p++, v);
  BindKey(q, t, key, i);
  return q.Run();
}

Status Engine::ApplyPage(const protocol::PullResponse& page, std::set<std::string>* tables) {
  for (const auto& change : page.changes) {
    const TableInfo* t = FindTable(change.table);
    if (!t || !t->exists) continue;  // not synced here (or not created yet): nothing to merge into
    bool key_ok = change.key.size() == t->key.size();
    for (const auto& k : t->key) key_ok = key_ok && change.key.count(k);
    if (!key_ok) continue;  // the server's key does not match this table's: not a row we can hold
    OUTPOST_RETURN_IF_ERROR(ApplyChange(*t, change, true));
    tables->insert(change.table);
  }
  return SetMeta("cursor", page.cursor);  // cursor_ follows after the commit
}

Status Engine::Resync(std::set<std::string>* tables) {
  const char* unfinished =
      "EXISTS (SELECT 1 FROM _outpost_outbox o INDEXED BY _outpost_outbox_by_entity"
      " WHERE o.entity = 'r:' || %T || ':' || %K AND o.state IN (0, 1, 3))";
  auto expr = [&](const std::string& table_expr, const std::string& key_expr) {
    std::string s = unfinished;
    s.replace(s.find("%T"), 2, table_expr);
    s.replace(s.find("%K"), 2, key_expr);
    return s;
  };
  for (const auto& [name, t] : tables_) {
    if (!t.exists) continue;
    std::string key_args;
    for (const auto& k : t.key) key_args += ",main." + Quote(name) + "." + Quote(k);
    OUTPOST_RETURN_IF_ERROR(sql_.Exec("DELETE FROM main." + Quote(name) + " WHERE NOT " +
                                      expr("'" + name + "'", "outpost_key('" + name + "'" + key_args + ")")));
    tables->insert(name);
  }
  OUTPOST_RETURN_IF_ERROR(
      sql_.Exec("DELETE FROM _outpost_rows WHERE NOT " + expr("_outpost_rows.tbl", "_outpost_rows.key")));
  return SetMeta("cursor", Value());
}

Status Engine::MarkAcknowledged(const OpRow& row, int64_t version, const std::set<std::string>& refused) {
  const auto& op = row.entry.op;
  {
    Stmt q = sql_(
        "UPDATE _outpost_outbox SET state = 2, applied_version = ?2, updated_ms = ?3, error_code = NULL,"
        " error_message = NULL WHERE seq = ?1");
    OUTPOST_RETURN_IF_ERROR(q.Bind(1, row.seq).Bind(2, version).Bind(3, now_ms_).Run());
  }
  CountsChanged();
  if (!op.is_row_op()) return Status::OK();
  const TableInfo* t = FindTable(op.table);
  // The row's shadow takes the HLC of each column this op wrote and own_version, the server version the
  // write got (see ResolveBaseVersion): read, changed here, written back with the row in one upsert.
  Shadow shadow;
  OUTPOST_RETURN_IF_ERROR(LoadShadow(op.table, row.key_text, &shadow));
  bool counters = false;
  for (const auto& [name, cv] : op.columns) {
    if (refused.count(name)) continue;  // the server kept its value: ours never became the server's
    if (t && t->policy.ForColumn(name) == merge::Policy::kCounter) {
      counters = true;
      continue;
    }
    auto [it, fresh] = shadow.try_emplace(name);
    ShadowColumn& c = it->second;
    c.hlc = fresh ? cv.hlc : std::max(c.hlc, cv.hlc);
    c.own_version = std::max(c.own_version.value_or(0), version);
  }
  {
    Stmt q = sql_(
        "INSERT INTO _outpost_rows(tbl, key, delete_hlc, shadow) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(tbl, key) DO"
        " UPDATE SET delete_hlc = CASE WHEN excluded.delete_hlc IS NULL THEN delete_hlc ELSE"
        " max(coalesce(delete_hlc, ''), excluded.delete_hlc) END, shadow = excluded.shadow");
    q.Bind(1, op.table).Bind(2, row.key_text);
    if (op.kind == protocol::kDelete) q.Bind(3, Hlc::Encode(op.hlc));
    if (!shadow.empty()) q.Bind(4, EncodeShadow(shadow));
    OUTPOST_RETURN_IF_ERROR(q.Run());
  }
  if (counters && t && t->exists) return RecomputeCounters(*t, op.key, row.key_text);
  return Status::OK();
}

Status Engine::ApplyConflict(const OpRow& row, const protocol::OpOutcome& outcome) {
  const auto& op = row.entry.op;
  const TableInfo* t = op.is_row_op() ? FindTable(op.table) : nullptr;
  if (!t || !t->exists) return MarkAcknowledged(row, outcome.version);
  // The server's current row, merged like a pulled change (its HLCs advance our clock).
  protocol::Change change;
  change.table = op.table;
  change.key = op.key;
  change.version = outcome.version;
  change.deleted = outcome.deleted;
  change.columns = outcome.current;
  if (outcome.deleted) change.hlc = op.hlc;
  OUTPOST_RETURN_IF_ERROR(ApplyChange(*t, change, true));

  // Columns a later unfinished local edit still writes: that edit will be sent (and decided) on its own.
  std::set<std::string> later_edits;
  {
    std::vector<OpRow> later;
    OUTPOST_RETURN_IF_ERROR(ReadOps("entity = ?1 AND +state IN (0, 1, 3) AND seq > ?2 ORDER BY seq",
                                    {row.entity, row.seq}, 1 << 20, &later));
    for (const auto& l : later)
      for (const auto& [name, cv] : l.entry.op.columns) later_edits.insert(name);
  }
  // Columns the server refused (manual / first-writer-wins edits, any edit of a delete-wins tombstone): the
  // server's policy decides, not this client's configuration, which may differ (a mismatch must not lose an
  // edit silently). The server lists them; one that predates the list is read by the local policy, plus any
  // column where the server kept an older value than ours (only a refusal explains that), and a refused
  // upsert on a tombstone (only delete-wins refuses one) refuses every column.
  const std::set<std::string> listed(outcome.refused.begin(), outcome.refused.end());
  pj::Json fields = pj::Json::object();
  std::vector<std::pair<std::string, protocol::ColumnValue>> forced;
  std::set<std::string> refused_columns;
  for (const auto& [name, cv] : op.columns) {
    merge::Policy p = t->policy.ForColumn(name);
    auto remote = outcome.current.find(name);
    const bool differs = remote != outcome.current.end() && remote->second.value != cv.value;
    bool refused;
    if (!listed.empty()) refused = listed.count(name) > 0;
    else if (outcome.deleted) refused = true;
    else refused = differs && (p == merge::Policy::kManual || p == merge::Policy::kFirstWriterWins ||
                               remote->second.hlc < cv.hlc);
    if (!refused) continue;
    refused_columns.insert(name);
    Value remote_value = remote == outcome.current.end() ? Value() : remote->second.value;
    fields[name] = pj::Json{{"local", pj::ValueToJson(cv.value)}, {"remote", pj::ValueToJson(remote_value)}};
    if (!outcome.deleted && remote != outcome.current.end() && !later_edits.count(name))
      forced.emplace_back(name, remote->second);
  }
  // The local row takes the server's value of a refused column, so both sides agree until the user picks
  // (the conflict record keeps the local value), unless a later local edit of it is still on its way.
  for (const auto& [name, cv] : forced) {
    Stmt q = sql_("UPDATE main." + Quote(t->name) + " SET " + Quote(name) + " = ?1 WHERE " + KeyWhere(*t, 2));
    q.Bind(1, cv.value);
    BindKey(q, *t, op.key, 2);
    OUTPOST_RETURN_IF_ERROR(q.Run());
  }
  if (!forced.empty()) {  // ApplyChange above put the row in _outpost_rows
    Shadow shadow;
    OUTPOST_RETURN_IF_ERROR(LoadShadow(t->name, row.key_text, &shadow));
    for (const auto& [name, cv] : forced) shadow[name].hlc = cv.hlc;
    OUTPOST_RETURN_IF_ERROR(SaveShadow(t->name, row.key_text, shadow));
  }
  if (!fields.empty()) {
    const std::string id = NewOpId(now_ms_);
    Stmt q = sql_(
        "INSERT INTO _outpost_conflicts(id, op_id, tbl, key, fields, version, created_ms) VALUES(?1,?2,?3,?4,?5,?6,?7)");
    OUTPOST_RETURN_IF_ERROR(q.Bind(1, id).Bind(2, op.id).Bind(3, t->name).Bind(4, row.key_text)
                                .Bind(5, pj::Dump(fields)).Bind(6, outcome.version).Bind(7, now_ms_).Run());
    pj::Json event{{"id", id},       {"opId", op.id},         {"table", t->name},
                   {"key", pj::KeyToJson(op.key)}, {"fields", fields}, {"createdAt", now_ms_},
                   {"version", outcome.version}, {"deleted", outcome.deleted}};
    Emit("conflict", pj::Dump(event));
  }
  return MarkAcknowledged(row, outcome.version, refused_columns);
}

}  // namespace outpost::sync
