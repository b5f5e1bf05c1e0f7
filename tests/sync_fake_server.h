// A fake sync server for the engine's tests: speaks protocol v1 through the real codec, applies row
// operations with outpost::merge (the server's rules), is idempotent by operation id, keeps a log of custom
// operations, and serves pulls from a version-ordered view of its rows. Faults are the tests' business: they
// decide whether a request reaches the server and whether its answer reaches the engine.
#ifndef OUTPOST_TESTS_SYNC_FAKE_SERVER_H_
#define OUTPOST_TESTS_SYNC_FAKE_SERVER_H_

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "outpost/merge.h"
#include "outpost/protocol.h"
#include "outpost/sync_engine.h"

namespace outpost::testing {

class FakeServer {
 public:
  struct Row {
    protocol::Key key;
    merge::RowState state;
  };

  std::map<std::string, merge::TablePolicy> policies;  // table → policy; unknown tables are rejected
  std::map<std::pair<std::string, std::string>, Row> rows;  // (table, key JSON) → row
  std::map<std::string, protocol::OpOutcome> seen;          // op id → first outcome (not rejections)
  std::vector<protocol::Operation> custom_log;              // custom ops, in application order
  bool list_refused = true;  // conflict results list the refused columns (false: a server before that field)
  std::vector<std::string> applied_ids;                     // every op applied (not duplicates), in order
  int64_t version = 0;
  int push_requests = 0, pull_requests = 0;
  // Per-op rejection (e.g. a validation rule of the app's backend): op id → {code, message}.
  std::map<std::string, std::pair<std::string, std::string>> reject;

  static std::string KeyOf(const protocol::Key& key) {
    std::string s;
    for (const auto& [k, v] : key) {
      s += k + "=";
      if (auto* t = std::get_if<std::string>(&v)) s += "s:" + *t;
      else if (auto* i = std::get_if<int64_t>(&v)) s += "i:" + std::to_string(*i);
      s += ";";
    }
    return s;
  }

  // Handles a push body: the 200 answer's body, or an error body with its HTTP status.
  std::pair<int, std::string> Push(const std::string& body) {
    ++push_requests;
    protocol::PushRequest req;
    Status s = protocol::Decode(body, protocol::Limits{}, &req);
    if (!s.ok()) return {protocol::HttpStatusFor(s.code()), protocol::Encode(protocol::ErrorFor(s))};
    protocol::PushResponse resp;
    for (const auto& op : req.ops) {
      protocol::OpResult r;
      r.id = op.id;
      auto it = seen.find(op.id);
      if (it != seen.end()) {
        r.duplicate = true;
        r.outcome = it->second;
      } else {
        r.outcome = Apply(op);
        if (r.outcome.status != protocol::OpStatus::kRejected) seen[op.id] = r.outcome;  // like the server
      }
      resp.results.push_back(std::move(r));
    }
    return {200, protocol::Encode(resp)};
  }

  protocol::OpOutcome Apply(const protocol::Operation& op) {
    protocol::OpOutcome out;
    if (auto rj = reject.find(op.id); rj != reject.end()) {
      out.status = protocol::OpStatus::kRejected;
      out.code = rj->second.first;
      out.message = rj->second.second;
      return out;
    }
    if (!op.is_row_op()) {
      custom_log.push_back(op);
      applied_ids.push_back(op.id);
      out.version = ++version;
      return out;
    }
    auto pol = policies.find(op.table);
    if (pol == policies.end()) {
      out.status = protocol::OpStatus::kRejected;
      out.code = "UNKNOWN_TABLE";
      out.message = "No synced table \"" + op.table + "\".";
      return out;
    }
    Row& row = rows[{op.table, KeyOf(op.key)}];
    row.key = op.key;
    merge::Outcome m;
    Status s = merge::ApplyOperation(pol->second, row.state, op, version + 1, &m);
    if (!s.ok()) {
      out.status = protocol::OpStatus::kRejected;
      out.code = s.code();
      out.message = s.message();
      return out;
    }
    applied_ids.push_back(op.id);
    if (m.changed) {
      ++version;
      row.state = m.next;
      row.state.version = version;
    }
    if (m.conflict()) {
      out.status = protocol::OpStatus::kConflict;
      out.version = row.state.version;
      out.deleted = row.state.deleted;
      if (list_refused) out.refused = m.conflicts;
      if (!row.state.deleted)
        for (const auto& [c, cs] : row.state.columns) out.current[c] = protocol::ColumnValue{cs.value, cs.hlc};
      return out;
    }
    out.version = row.state.version;
    return out;
  }

  // A write made by another device, straight into the server's state.
  void RemoteWrite(const protocol::Operation& op) { Apply(op); }

  std::pair<int, std::string> Pull(const std::string& body) {
    ++pull_requests;
    protocol::PullRequest req;
    Status s = protocol::Decode(body, protocol::Limits{}, &req);
    if (!s.ok()) return {protocol::HttpStatusFor(s.code()), protocol::Encode(protocol::ErrorFor(s))};
    int64_t after = 0;
    if (!req.cursor.empty()) {
      if (req.cursor.rfind("v", 0) != 0) return {400, "{}"};
      after = std::stoll(req.cursor.substr(1));
    }
    protocol::PullResponse resp;
    if (after < resync_before) {
      resp.resync_required = true;
      return {200, protocol::Encode(resp)};
    }
    std::vector<std::pair<int64_t, const Row*>> newer;
    for (const auto& [k, row] : rows)
      if (row.state.version > after) newer.emplace_back(row.state.version, &row);
    std::sort(newer.begin(), newer.end(), [](auto& a, auto& b) { return a.first < b.first; });
    size_t limit = req.limit ? static_cast<size_t>(*req.limit) : 1000;
    int64_t last = after;
    for (size_t i = 0; i < newer.size() && i < limit; ++i) {
      const Row& row = *newer[i].second;
      protocol::Change c;
      c.table = TableOf(row);
      c.key = row.key;
      c.version = row.state.version;
      c.deleted = row.state.deleted;
      if (c.deleted) c.hlc = row.state.delete_hlc;
      else
        for (const auto& [col, cs] : row.state.columns) c.columns[col] = protocol::ColumnValue{cs.value, cs.hlc};
      resp.changes.push_back(std::move(c));
      last = newer[i].first;
    }
    resp.has_more = newer.size() > limit;
    resp.cursor = "v" + std::to_string(last);
    return {200, protocol::Encode(resp)};
  }

  std::string Health(int64_t now_ms) const {
    protocol::HealthResponse h;
    h.server_time_ms = now_ms;
    h.store = "fake";
    return protocol::Encode(h);
  }

  // Cursors older than this version get resync-required.
  int64_t resync_before = 0;

  const Row* Find(const std::string& table, const protocol::Key& key) const {
    auto it = rows.find({table, KeyOf(key)});
    return it == rows.end() ? nullptr : &it->second;
  }

 private:
  std::string TableOf(const Row& row) const {
    for (const auto& [k, r] : rows)
      if (&r == &row) return k.first;
    return {};
  }
};

inline std::string ErrorJson(const std::string& code, const std::string& message) {
  return protocol::Encode(protocol::ErrorBody{code, message});
}

}  // namespace outpost::testing

#endif  // OUTPOST_TESTS_SYNC_FAKE_SERVER_H_
