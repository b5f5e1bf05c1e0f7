// Pushing: which pending operations go next (ClaimBatch: priority, then age, one per entity, batch size and
// body limits) and what a push's answer means for each of them (OnPushResult: applied, duplicate, conflict,
// rejected; retries with backoff, 401, 413, other 4xx). Part of the Engine (sync_engine_impl.h).
#include <algorithm>
#include <iterator>

#include "protocol_json.h"
#include "sync_engine_impl.h"

namespace outpost::sync {

namespace pj = protocol::json;

namespace {
// A JSON array of the rows' outbox seqs, bound to `seq IN (SELECT value FROM json_each(?1))`: one statement
// text.
std::string SeqList(const std::vector<int64_t>& seqs) {
  std::string s = "[";
  for (int64_t seq : seqs) s += (s.size() > 1 ? "," : "") + std::to_string(seq);
  return s + "]";
}
std::string SeqList(const std::vector<OpRow>& rows) {
  std::vector<int64_t> seqs;
  for (const OpRow& row : rows) seqs.push_back(row.seq);
  return SeqList(seqs);
}
// The op just before in its entity is done (or there is none): the op is its entity's head.
constexpr const char* kHeadOfEntity =
    "coalesce((SELECT p.state FROM _outpost_outbox p INDEXED BY _outpost_outbox_by_entity WHERE p.entity ="
    " _outpost_outbox.entity AND p.seq < _outpost_outbox.seq ORDER BY p.seq DESC LIMIT 1), 2) = 2";
constexpr const char* kInflightOfBatch = "state = 1 AND seq IN (SELECT value FROM json_each(?1))";
}  // namespace

// The head of an entity is its oldest unfinished op. An op is claimed only when the op before it is done
// (or gone), and a done op never changes state again, so an entity's ops in seq order are always some done
// ones followed by the unfinished ones: "the op just before is done" means "nothing before is unfinished",
// one index seek however many done ops the retention keeps.
//
// Candidates come from two places (see kWaitingOps): the waiting index, and fresh ops, found by walking the
// table in seq order from fresh_from_. Fresh ops that are not their entity's head are parked (sent = 1, which
// puts them in the index) so that they do not hold fresh_from_ back; fresh_from_ advances only when the claim
// has committed, to the first fresh op it did not take.
Status Engine::ClaimBatch(int64_t now_ms, Action* action) {
  std::vector<OpRow> rows;
  const size_t limit = std::min(batch_limit_, protocol::Limits{}.max_ops);
  OUTPOST_RETURN_IF_ERROR(
      ReadOps(std::string(kWaitingOps) + " AND next_attempt_ms <= ?1 AND " + kHeadOfEntity + " ORDER BY priority, seq",
              {now_ms}, limit, &rows));
  std::vector<int64_t> heads, parked;
  int64_t scanned_to = fresh_from_;  // every fresh op in [fresh_from_, scanned_to) is in heads or parked
  for (bool more = true; more && heads.size() < limit;) {
    Stmt q = sql_(std::string("SELECT seq, ") + kHeadOfEntity + " FROM _outpost_outbox WHERE seq >= ?1 AND " +
                  kFreshOps + " ORDER BY seq LIMIT ?2");
    q.Bind(1, scanned_to).Bind(2, static_cast<int64_t>(limit));
    size_t seen = 0;
    while (q.Step()) {
      ++seen;
      (q.Int(1) ? heads : parked).push_back(q.Int(0));
      scanned_to = q.Int(0) + 1;
    }
    OUTPOST_RETURN_IF_ERROR(q.status());
    more = seen == limit;
  }
  if (!heads.empty()) {
    std::vector<OpRow> fresh;
    OUTPOST_RETURN_IF_ERROR(
        ReadOps("seq IN (SELECT value FROM json_each(?1)) ORDER BY seq", {SeqList(heads)}, heads.size(), &fresh));
    // Both lists are in (priority, seq) order already (the fresh ones all normal priority).
    std::vector<OpRow> merged;
    merged.reserve(rows.size() + fresh.size());
    std::merge(std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()),
               std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()), std::back_inserter(merged),
               [](const OpRow& a, const OpRow& b) {
                 return std::pair(a.entry.op.priority, a.seq) < std::pair(b.entry.op.priority, b.seq);
               });
    rows = std::move(merged);
    if (rows.size() > limit) rows.resize(limit);
  }
  // Where the next walk starts: the first fresh head this claim leaves, else where this walk ended. `rows` is a
  // prefix of the (priority, seq) merge, so the fresh heads it took are a prefix of `heads`.
  auto next_fresh_from = [&] {
    const auto taken = static_cast<size_t>(std::count_if(rows.begin(), rows.end(), [&](const OpRow& r) {
      return std::binary_search(heads.begin(), heads.end(), r.seq);
    }));
    return taken < heads.size() ? heads[taken] : scanned_to;
  };
  // Inside the claim's transaction.
  auto park = [&] {
    if (parked.empty()) return Status::OK();
    Stmt q = sql_("UPDATE _outpost_outbox SET sent = 1 WHERE seq IN (SELECT value FROM json_each(?1))");
    return q.Bind(1, SeqList(parked)).Run();
  };
  if (rows.empty()) {
    if (!parked.empty()) {
      OUTPOST_RETURN_IF_ERROR(Begin());
      if (Status s = park(); !s.ok()) {
        Rollback();
        return s;
      }
      OUTPOST_RETURN_IF_ERROR(Commit());
    }
    fresh_from_ = next_fresh_from();
    return Status::OK();
  }
  const bool full = rows.size() == limit;
  for (auto& row : rows) OUTPOST_RETURN_IF_ERROR(ResolveBaseVersion(&row));
  protocol::PushRequest push;
  push.client_id = client_id_;
  for (const auto& row : rows) push.ops.push_back(row.entry.op);
  std::string body = protocol::Encode(push);
  while (body.size() > protocol::Limits{}.max_body_bytes && push.ops.size() > 1) {
    push.ops.resize(push.ops.size() / 2);
    rows.resize(push.ops.size());
    body = protocol::Encode(push);
  }
  // Offline for longer than stale_after: say so before the first push (the app may want to warn).
  if (last_contact_ms_ > 0 && now_ms - last_contact_ms_ > config_.stale_after_ms && !stale_reported_) {
    stale_reported_ = true;
    Emit("stale", pj::Dump(pj::Json{{"offlineMs", now_ms - last_contact_ms_},
                                    {"pending", static_cast<int64_t>(GetStatus().pending)}}));
  }
  OUTPOST_RETURN_IF_ERROR(Begin());
  InFlight req{true, 0, now_ms, {}, {}, full};
  {
    Stmt q = sql_("UPDATE _outpost_outbox SET state = 1, attempts = attempts + 1, sent = 1, updated_ms = ?2"
                  " WHERE seq IN (SELECT value FROM json_each(?1))");
    if (Status s = q.Bind(1, SeqList(rows)).Bind(2, now_ms).Run(); !s.ok()) {
      Rollback();
      return s;
    }
  }
  for (const auto& row : rows) {
    if (!row.entry.op.base_version) continue;  // none captured, none resolved: stays NULL
    Stmt q = sql_("UPDATE _outpost_outbox SET base_version = ?2 WHERE seq = ?1");
    if (Status s = q.Bind(1, row.seq).Bind(2, *row.entry.op.base_version).Run(); !s.ok()) {
      Rollback();
      return s;
    }
  }
  if (Status s = park(); !s.ok()) {
    Rollback();
    return s;
  }
  if (Status s = SaveClocks(); !s.ok()) {
    Rollback();
    return s;
  }
  const int64_t next_fresh = next_fresh_from();
  OUTPOST_RETURN_IF_ERROR(Commit());
  fresh_from_ = next_fresh;
  req.id = ++next_request_id_;
  req.push = std::move(push);
  req.rows = std::move(rows);
  push_ = std::move(req);
  action->kind = Action::kPush;
  action->request_id = push_.id;
  action->body = std::move(body);
  return Status::OK();
}

// The base version a manual / first-writer-wins edit claims to have seen is the row's last pulled version,
// taken when the edit was captured. But this device's own earlier writes of the same columns are not
// concurrent edits: if one was applied (at own_version) after that pull, the column's server version is
// ours, and claiming the older base would make the new edit conflict with our own value. So for each such
// column of the op the known version is max(captured base, own_version), and the op claims the smallest of
// them (a column someone else wrote since is still caught). Resolved when the op is claimed: every earlier
// op of its entity is done by then, so their versions are known.
Status Engine::ResolveBaseVersion(OpRow* row) {
  protocol::Operation& op = row->entry.op;
  if (op.kind != protocol::kUpsert || op.columns.empty()) return Status::OK();
  const TableInfo* t = FindTable(op.table);
  if (!t || !t->needs_base_version) return Status::OK();
  Shadow shadow;
  OUTPOST_RETURN_IF_ERROR(LoadShadow(op.table, row->key_text, &shadow));
  const int64_t captured = op.base_version.value_or(0);
  std::optional<int64_t> resolved;
  for (const auto& [name, cv] : op.columns) {
    const merge::Policy p = t->policy.ForColumn(name);
    if (p != merge::Policy::kManual && p != merge::Policy::kFirstWriterWins) continue;
    auto it = shadow.find(name);
    const int64_t known = std::max(captured, it == shadow.end() ? 0 : it->second.own_version.value_or(0));
    resolved = resolved ? std::min(*resolved, known) : known;
  }
  if (resolved && *resolved > captured) op.base_version = *resolved;
  return Status::OK();
}


Status Engine::RequeueBatch(int64_t now_ms, std::optional<int64_t> retry_after_ms, bool count_attempt,
                            const std::string& reason) {
  InFlight req = std::move(push_);
  push_ = {};
  if (req.rows.empty()) return Status::OK();
  std::vector<OpRow> rows;
  OUTPOST_RETURN_IF_ERROR(ReadOps(kInflightOfBatch, {SeqList(req.rows)}, req.rows.size(), &rows));
  // A temporary failure. Two backoffs:
  //  - one for the whole batch, from its most tried operation: its operations stay one batch rather than
  //    coming back one request each;
  //  - one for the device, from the pushes failed in a row: no push at all before it ends. With many
  //    operations pending, per-operation delays alone would let some operation be due every few ms, and the
  //    device would hammer a recovering server. A push that gets through resets it, so one operation the
  //    server keeps failing on (isolated by halved batches) does not hold back the others for long.
  int64_t delay = 0;
  if (count_attempt) {
    int attempts = 1;
    for (const auto& row : rows) attempts = std::max(attempts, row.entry.attempts);
    delay = RetryDelay(config_.retry, attempts, Random01(), retry_after_ms);
    push_hold_until_ms_ = std::max(push_hold_until_ms_, now_ms + RetryDelay(config_.retry, ++push_failures_,
                                                                             Random01(), retry_after_ms));
  }
  OUTPOST_RETURN_IF_ERROR(Begin());
  const size_t mark = events_.size();
  Status s;
  for (const auto& row : rows) {
    int attempts = row.entry.attempts;  // sends so far, this one included
    if (!count_attempt) {
      Stmt q = sql_("UPDATE _outpost_outbox SET state = 0, attempts = max(attempts - 1, 0), next_attempt_ms = ?2,"
                    " updated_ms = ?2 WHERE seq = ?1");
      s = q.Bind(1, row.seq).Bind(2, now_ms + retry_after_ms.value_or(0)).Run();
    } else if (config_.retry.max_attempts > 0 && attempts >= config_.retry.max_attempts) {
      const std::string message = "Gave up after " + std::to_string(attempts) + " attempts: " + reason +
                                  " Retry it when the server is reachable.";
      s = SetState(row.seq, kFailedState, now_ms, 0, "RETRIES_EXHAUSTED", message);
      if (s.ok()) OpFailedEvent(row, "RETRIES_EXHAUSTED", message);
    } else {
      s = SetState(row.seq, kPendingState, now_ms, now_ms + delay, "", "");
    }
    if (!s.ok()) break;
  }
  if (s.ok()) s = Commit();
  else Rollback();
  if (!s.ok()) events_.resize(mark);
  CountsChanged();
  return s;
}

Status Engine::FailBatch(int64_t now_ms, const std::string& code, const std::string& message) {
  InFlight req = std::move(push_);
  push_ = {};
  std::vector<OpRow> rows;
  OUTPOST_RETURN_IF_ERROR(ReadOps(kInflightOfBatch, {SeqList(req.rows)}, req.rows.size(), &rows));
  OUTPOST_RETURN_IF_ERROR(Begin());
  const size_t mark = events_.size();
  Status s;
  for (const auto& row : rows) {
    s = SetState(row.seq, kFailedState, now_ms, 0, code, message);
    if (!s.ok()) break;
    OpFailedEvent(row, code, message);
  }
  if (s.ok()) s = Commit();
  else Rollback();
  if (!s.ok()) events_.resize(mark);
  return s;
}

Status Engine::OnPushResult(const TransportResult& result, int64_t now_ms) {
  const size_t batch = push_.rows.size();
  NoteContact(result, now_ms, false);
  switch (Classify(result)) {
    case Verdict::kOk: {
      protocol::PushResponse response;
      Status s = protocol::Decode(result.body, protocol::Limits{}, &response);
      if (s.ok()) s = protocol::CheckResultsMatch(push_.push, response);
      if (!s.ok()) return RequeueBatch(now_ms, std::nullopt, true, "The server's answer did not match the batch.");
      last_contact_ms_ = now_ms;
      stale_reported_ = false;
      return ApplyPushResponse(response, now_ms);
    }
    case Verdict::kRetry: {
      // A 5xx other than 503 (unavailable) may come from one operation the server cannot handle: smaller
      // batches isolate it, so the others still get through (the limit grows back with each answered push).
      if (result.http_status >= 500 && result.http_status != 503 && batch > 1)
        batch_limit_ = std::max<size_t>(1, batch / 2);
      const auto e = ErrorOf(result);
      return RequeueBatch(now_ms, result.retry_after_ms, true, e.message);
    }
    case Verdict::kAuth: {
      token_ = false;
      if (!auth_reported_) {
        auth_reported_ = true;
        Emit("auth-required",
             pj::Dump(pj::Json{{"status", result.http_status}, {"message", ErrorOf(result).message}}));
      }
      return RequeueBatch(now_ms, std::nullopt, false, "");
    }
    case Verdict::kTooLarge:
      if (batch > 1) {
        batch_limit_ = std::max<size_t>(1, batch / 2);
        return RequeueBatch(now_ms, std::nullopt, false, "");
      }
      [[fallthrough]];
    case Verdict::kPermanent: {
      const auto e = ErrorOf(result);
      return FailBatch(now_ms, e.code, e.message);
    }
  }
  return Status::OK();
}

Status Engine::ApplyPushResponse(const protocol::PushResponse& response, int64_t now_ms) {
  (void)RefreshTables();  // conflicts write rows: their columns as the table has them now
  // The rows as claimed (nothing but this answer changes an inflight row), those still inflight only.
  std::set<int64_t> inflight;
  {
    Stmt q = sql_(std::string("SELECT seq FROM _outpost_outbox WHERE ") + kInflightOfBatch);
    q.Bind(1, SeqList(push_.rows));
    while (q.Step()) inflight.insert(q.Int(0));
    OUTPOST_RETURN_IF_ERROR(q.status());
  }
  // Every answered op leaves pending (done or failed): known status counts stay known.
  const bool counted = status_valid_;
  const int64_t pending = status_pending_, failed = status_failed_;
  int64_t answered = 0, rejected = 0;
  OUTPOST_RETURN_IF_ERROR(Begin());
  const size_t mark = events_.size();
  applying_ = true;
  std::set<std::string> touched;  // tables whose rows took the server's values (conflicts)
  Status s;
  for (size_t i = 0; i < response.results.size() && s.ok(); ++i) {
    if (i >= push_.rows.size() || !inflight.count(push_.rows[i].seq)) continue;
    const OpRow& row = push_.rows[i];
    ++answered;
    rejected += response.results[i].outcome.status == protocol::OpStatus::kRejected;
    const protocol::OpOutcome& outcome = response.results[i].outcome;  // for duplicates: the original's
    switch (outcome.status) {
      case protocol::OpStatus::kApplied:
      case protocol::OpStatus::kDuplicate:
        s = MarkAcknowledged(row, outcome.version);
        break;
      case protocol::OpStatus::kConflict:
        s = ApplyConflict(row, outcome);
        if (row.entry.op.is_row_op()) touched.insert(row.entry.op.table);
        break;
      case protocol::OpStatus::kRejected:
        s = SetState(row.seq, kFailedState, now_ms, 0, outcome.code, outcome.message);
        if (s.ok()) OpFailedEvent(row, outcome.code, outcome.message);
        break;
    }
  }
  if (s.ok()) s = SaveClocks();
  applying_ = false;
  if (s.ok()) s = Commit();
  else Rollback();
  if (!s.ok()) {
    events_.resize(mark);
    Status requeue = RequeueBatch(now_ms, std::nullopt, true, "The answer could not be applied: " + s.message());
    return requeue.ok() ? s : requeue;
  }
  push_ = {};
  push_failures_ = 0;
  CountsChanged();
  if (counted) {
    status_pending_ = pending - answered;
    status_failed_ = failed + rejected;
    status_valid_ = true;
  }
  batch_limit_ = std::min(std::max<size_t>(1, config_.batch_size), batch_limit_ * 2);
  pull_requested_ = true;  // a push round succeeded: see what else changed
  if (!touched.empty()) {
    pj::Json list = pj::Json::array();
    for (const auto& t : touched) list.push_back(t);
    Emit("change", pj::Dump(pj::Json{{"tables", list}}));
  }
  return Status::OK();
}

}  // namespace outpost::sync
