// The engine's decisions: what to do next (Next), routing results (OnResult) to push.cc (batches and their
// answers) or to the pull and heartbeat handling here, custom operations (Enqueue), hints, status and
// events. The storage side lives in outbox_store.cc, capture in capture.cc, and merging what the server
// says in pull_apply.cc.
#include <algorithm>
#include <cstring>

#include "protocol_json.h"
#include "sync_engine_impl.h"

namespace outpost {

Status SyncEngine::Open(Database* db, const SyncConfig& config, int64_t now_ms, std::span<const uint8_t, 32> seed,
                        std::unique_ptr<SyncEngine>* out) {
  auto engine = std::make_unique<sync::Engine>(db, config, seed);
  OUTPOST_RETURN_IF_ERROR(engine->Init(now_ms));
  *out = std::move(engine);
  return Status::OK();
}

namespace sync {

namespace pj = protocol::json;

namespace {

uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::string_view ConnectivityText(Connectivity c) {
  switch (c) {
    case Connectivity::kOnline: return "online";
    case Connectivity::kDegraded: return "degraded";
    case Connectivity::kTransitioning: return "transitioning";
    default: return "offline";
  }
}

}  // namespace

// How a transport result is to be treated.
Verdict Classify(const TransportResult& r) {
  if (r.http_status == 0 || r.timed_out) return Verdict::kRetry;
  if (r.http_status >= 200 && r.http_status < 300) return Verdict::kOk;
  if (r.http_status == 401) return Verdict::kAuth;
  if (r.http_status == 408 || r.http_status == 429 || r.http_status >= 500) return Verdict::kRetry;
  if (r.http_status == 413) return Verdict::kTooLarge;
  return Verdict::kPermanent;
}

// The server's error body, or a stand-in naming the HTTP status.
protocol::ErrorBody ErrorOf(const TransportResult& r) {
  protocol::ErrorBody body;
  if (!protocol::Decode(r.body, protocol::Limits{}, &body).ok()) {
    body.code = r.http_status ? "HTTP_" + std::to_string(r.http_status) : "NETWORK";
    body.message = r.http_status ? "The server answered HTTP " + std::to_string(r.http_status) + "."
                                 : (r.timed_out ? "The request timed out." : "The network request failed.");
  }
  return body;
}

Engine::Engine(Database* db, const SyncConfig& config, std::span<const uint8_t, 32> seed)
    : db_(db), sql_(db->handle()), config_(config), hlc_(0, config.max_drift_ms) {
  for (int i = 0; i < 4; ++i) {
    uint64_t v = 0;
    for (int j = 0; j < 8; ++j) v = v << 8 | seed[i * 8 + j];
    rng_[i] = v;
  }
  if (!(rng_[0] | rng_[1] | rng_[2] | rng_[3])) rng_[0] = 0x9e3779b97f4a7c15ull;  // xoshiro needs non-zero state
  batch_limit_ = std::max<size_t>(1, config_.batch_size);
  paused_ = config_.paused;
}

Engine::~Engine() {
  db_->SetWriteObserver(nullptr);
  sqlite3* db = db_->handle();
  if (!db) return;
  sql_.Clear();
  sqlite3_finalize(schema_probe_);
  for (const char* name : {"outpost_sync_state", "outpost_key"})
    sqlite3_create_function_v2(db, name, -1, SQLITE_UTF8, nullptr, nullptr, nullptr, nullptr, nullptr);
  sqlite3_rollback_hook(db, nullptr, nullptr);
  sqlite3_commit_hook(db, nullptr, nullptr);
  sqlite3_preupdate_hook(db, nullptr, nullptr);
}

void Engine::RandomBytes(uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    // xoshiro256**
    uint64_t result = Rotl(rng_[1] * 5, 7) * 9;
    uint64_t t = rng_[1] << 17;
    rng_[2] ^= rng_[0];
    rng_[3] ^= rng_[1];
    rng_[1] ^= rng_[2];
    rng_[0] ^= rng_[3];
    rng_[2] ^= t;
    rng_[3] = Rotl(rng_[3], 45);
    std::memcpy(out + i, &result, std::min<size_t>(8, n - i));
  }
}

int64_t Engine::Jitter(int64_t max_ms) {
  uint64_t r;
  RandomBytes(reinterpret_cast<uint8_t*>(&r), sizeof r);
  return max_ms <= 0 ? 0 : static_cast<int64_t>(r % static_cast<uint64_t>(max_ms + 1));
}

double Engine::Random01() { return static_cast<double>(Jitter(1'000'000)) / 1'000'001.0; }

Status Engine::Init(int64_t now_ms) {
  now_ms_ = now_ms;
  if (db_->InTransaction())
    return Status::Error("INVALID_STATE", "Start sync outside a transaction (the engine creates its tables).");
  for (const auto& [name, t] : config_.tables) {
    if (!protocol::IsIdentifier(name))
      return Status::Error("INVALID_ARGUMENT", "sync.tables: \"" + name + "\" is not a valid table name.");
    if (name.starts_with("_outpost_"))
      return Status::Error("INVALID_ARGUMENT", "sync.tables: \"" + name +
                                                   "\" is one of the sync engine's own tables (_outpost_*); name "
                                                   "a table of the app.");
    if (t.key.empty())
      return Status::Error("INVALID_ARGUMENT", "sync.tables." + name + ".primaryKey: name the key column(s).");
    TableInfo info;
    info.name = name;
    info.key = t.key;
    info.policy = t.policy;
    info.needs_base_version = t.policy.table == merge::Policy::kManual ||
                              t.policy.table == merge::Policy::kFirstWriterWins;
    for (const auto& [col, p] : t.policy.columns)
      if (p == merge::Policy::kManual || p == merge::Policy::kFirstWriterWins) info.needs_base_version = true;
    tables_[name] = std::move(info);
  }
  OUTPOST_RETURN_IF_ERROR(CreateSchema());
  OUTPOST_RETURN_IF_ERROR(LoadState(now_ms));
  OUTPOST_RETURN_IF_ERROR(RefreshTables());
  OUTPOST_RETURN_IF_ERROR(RegisterFunctions());
  ConnectivityConfig cc;
  cc.transitioning_ms = config_.transitioning_ms;
  cc.heartbeat_online_ms = config_.heartbeat_online_ms;
  cc.heartbeat_offline_min_ms = config_.heartbeat_offline_min_ms;
  cc.heartbeat_offline_max_ms = config_.heartbeat_offline_max_ms;
  cc.degraded_latency_ms = config_.degraded_latency_ms;
  uint64_t seed;
  RandomBytes(reinterpret_cast<uint8_t*>(&seed), sizeof seed);
  link_.emplace(cc, now_ms, seed);
  last_contact_ms_ = last_synced_at_ms_;
  return Status::OK();
}

void Engine::SetTime(int64_t now_ms) { now_ms_ = now_ms; }

void Engine::Emit(const std::string& name, const std::string& json) { events_.push_back(Event{name, json}); }

bool Engine::TablesReady() {
  (void)RefreshTables();  // tables created or altered since
  std::vector<std::string> missing;
  for (const auto& [name, t] : tables_)
    if (!t.exists) missing.push_back(name);
  if (missing != missing_reported_ && !missing.empty()) {
    Emit("tables-missing",
         pj::Dump(pj::Json{{"tables", missing},
                           {"message", "Pulls wait until every synced table exists and matches sync.tables; create "
                                       "these tables (before or after open()), or fix or remove their entries in "
                                       "sync.tables."}}));
  }
  const bool ready = missing.empty();
  missing_reported_ = std::move(missing);
  return ready;
}

SyncStatus Engine::GetStatus() const {
  SyncStatus s;
  s.connection = link_ ? link_->state() : Connectivity::kTransitioning;
  s.uploading = !pushes_.empty();
  s.downloading = pull_.active;
  s.paused = paused_;
  s.last_synced_at_ms = last_synced_at_ms_;
  if (!status_valid_) {
    Stmt q = sql_("SELECT coalesce(sum(state IN (0, 1)), 0), coalesce(sum(state = 3), 0) FROM _outpost_outbox"
                  " WHERE state <> 2");
    if (!q.Step()) return s;
    status_pending_ = q.Int(0);
    status_failed_ = q.Int(1);
    status_valid_ = !db_->InTransaction();  // a count inside the app's transaction may be rolled back
  }
  s.pending = status_pending_;
  s.failed = status_failed_;
  return s;
}

void Engine::EmitStatusIfChanged() {
  SyncStatus s = GetStatus();
  pj::Json j{{"connection", std::string(ConnectivityText(s.connection))},
             {"uploading", s.uploading},
             {"downloading", s.downloading},
             {"paused", s.paused},
             {"pending", s.pending},
             {"failed", s.failed},
             {"lastSyncedAt", s.last_synced_at_ms ? pj::Json(s.last_synced_at_ms) : pj::Json(nullptr)}};
  std::string text = pj::Dump(j);
  if (text == last_status_json_) return;
  last_status_json_ = text;
  Emit("status", text);
}

std::vector<Event> Engine::TakeEvents() {
  EmitStatusIfChanged();
  std::vector<Event> out;
  out.swap(events_);
  return out;
}

void Engine::OpFailedEvent(const OpRow& row, const std::string& code, const std::string& message) {
  const auto& op = row.entry.op;
  pj::Json j{{"id", op.id}, {"code", code}, {"message", message}};
  if (op.is_row_op()) {
    j["table"] = op.table;
    j["key"] = pj::KeyToJson(op.key);
  } else {
    j["entity"] = op.entity;
  }
  Emit("op-failed", pj::Dump(j));
}

Status Engine::Enqueue(const CustomOperation& custom, int64_t now_ms, std::string* id) {
  SetTime(now_ms);
  protocol::Operation op;
  op.kind = custom.kind;
  op.priority = custom.priority;
  op.entity = custom.entity.empty() ? custom.kind : custom.entity;
  op.target = custom.target;
  if (!custom.payload.empty()) {
    pj::Json payload;
    if (Status s = pj::Parse(custom.payload, protocol::Limits{}, &payload); !s.ok())
      return Status::Error("INVALID_ARGUMENT", "payload: " + s.message());
    op.payload = pj::Dump(payload);
  }
  bool exhausted = false;
  op.hlc = Tick(&exhausted);
  op.id = NewOpId(now_ms);
  if (exhausted || op.id.empty())
    return Status::Error("CLOCK_EXHAUSTED", "The device clock cannot advance any more; check the system time.");
  // The codec is the validator: what it would reject on the server is rejected here, before it is stored.
  protocol::PushRequest probe{client_id_, {op}};
  protocol::PushRequest decoded;
  if (Status s = protocol::Decode(protocol::Encode(probe), protocol::Limits{}, &decoded); !s.ok()) {
    std::string message = s.message();
    if (message.rfind("ops[0].", 0) == 0) message = message.substr(7);
    return Status::Error(s.code() == "TOO_LARGE" ? "TOO_LARGE" : "INVALID_ARGUMENT", message);
  }
  if (decoded.ops.size() != 1 || decoded.ops[0].is_row_op())
    return Status::Error("INVALID_ARGUMENT", "kind: a custom operation needs a dotted lowercase kind, e.g. http.post.");
  const bool own = !db_->InTransaction();
  if (own) OUTPOST_RETURN_IF_ERROR(Begin());
  Status s = InsertOp(op, "c:" + op.entity, "", now_ms);
  if (s.ok() && own) s = SaveClocks();
  if (own) {
    if (!s.ok()) Rollback();
    else s = Commit();
  }
  if (!s.ok()) return s;
  *id = op.id;
  return Status::OK();
}

Status Engine::Housekeeping(int64_t now_ms) {
  for (size_t i = 0; i < pushes_.size();) {
    if (now_ms - pushes_[i].sent_ms < config_.inflight_timeout_ms) {
      ++i;
      continue;
    }
    TakePush(pushes_[i].id);
    link_->OnRequest(RequestOutcome::Failed(RequestOutcome::kTimeout), now_ms);
    Status s = RequeueBatch(now_ms, std::nullopt, true, "The request got no answer in time.");
    KeepPush();
    OUTPOST_RETURN_IF_ERROR(s);
  }
  if (pull_.active && now_ms - pull_.sent_ms >= config_.inflight_timeout_ms) {
    pull_ = {};
    pull_retry_at_ms_ = now_ms;
  }
  if (heartbeat_.active && now_ms - heartbeat_.sent_ms >= config_.inflight_timeout_ms) heartbeat_ = {};
  if (last_prune_ms_ < 0 || now_ms - last_prune_ms_ >= 60'000) {
    last_prune_ms_ = now_ms;
    Stmt any = sql_("SELECT 1 FROM _outpost_outbox WHERE state = 2 AND updated_ms < ?1 LIMIT 1");
    if (!any.Bind(1, now_ms - config_.done_retention_ms).Step()) return any.status();
    OUTPOST_RETURN_IF_ERROR(Begin());
    Stmt q = sql_("DELETE FROM _outpost_outbox WHERE state = 2 AND updated_ms < ?1");
    Status s = q.Bind(1, now_ms - config_.done_retention_ms).Run();
    if (s.ok()) s = SaveClocks();  // the greatest op id may just have been pruned
    if (!s.ok()) {
      Rollback();
      return s;
    }
    OUTPOST_RETURN_IF_ERROR(Commit());
  }
  return Status::OK();
}

Action Engine::Next(int64_t now_ms) {
  SetTime(now_ms);
  Action action;
  if (db_->InTransaction()) {
    action.kind = Action::kWait;
    action.wake_at_ms = now_ms + 50;
    return action;
  }
  (void)Housekeeping(now_ms);
  link_->Update(now_ms);
  const bool can_send = link_->may_send() && !paused_ && token_;
  // After a failed push no push from this device before its backoff (and any Retry-After, RFC 9110
  // §10.2.3) has passed, not only for the refused operations. Pulls keep their own backoff (a draining
  // server may still serve reads).
  const bool push_held = now_ms < push_hold_until_ms_;
  // Another push beside those in flight only while they are full batches: a backlog is drained in parallel,
  // a trickle of writes still goes one batch at a time (and sees a Retry-After before sending more).
  const size_t max_pushes = std::max<size_t>(1, config_.max_inflight_pushes);
  const bool backlog = std::all_of(pushes_.begin(), pushes_.end(), [](const InFlight& p) { return p.full; });
  const bool may_push = pushes_.size() < max_pushes && backlog;
  if (can_send && !push_held && may_push) {
    Status s = ClaimBatch(now_ms, &action);
    if (s.ok() && action.kind == Action::kPush) {
      pushes_.push_back(std::move(push_));
      push_ = {};
      EmitStatusIfChanged();
      return action;
    }
  }
  // Pipelined pushes drain the outbox first, as one push at a time did: a pull now would fetch back rows
  // the pushes in flight are writing.
  const bool pushes_first = max_pushes > 1 && !pushes_.empty();
  const bool pull_due = pull_requested_ || (config_.pull_interval_ms > 0 && now_ms >= next_pull_ms_);
  // Pulls wait while a tracked table does not exist yet (the app creates it after open(), e.g. in its
  // migrations): a page would have nowhere to put that table's rows, and the cursor would move past them.
  const bool tables_ready = TablesReady();
  if (can_send && !pushes_first && !pull_.active && now_ms >= pull_retry_at_ms_ && pull_due && tables_ready) {
    protocol::PullRequest req;
    req.client_id = client_id_;
    req.cursor = cursor_;
    req.limit = static_cast<int64_t>(std::max<size_t>(1, config_.pull_page_size));
    req.scopes = config_.scopes;
    pull_ = InFlight{true, ++next_request_id_, now_ms, {}, {}, false};
    pull_requested_ = false;
    action.kind = Action::kPull;
    action.request_id = pull_.id;
    action.body = protocol::Encode(req);
    EmitStatusIfChanged();
    return action;
  }
  if (!paused_ && !heartbeat_.active && pushes_.empty() && !pull_.active && link_->NextProbeAt(now_ms) <= now_ms) {
    heartbeat_ = InFlight{true, ++next_request_id_, now_ms, {}, {}, false};
    action.kind = Action::kHeartbeat;
    action.request_id = heartbeat_.id;
    return action;
  }
  // Nothing now: when to look again.
  int64_t wake = INT64_MAX;
  auto consider = [&](int64_t t) {
    if (t > 0) wake = std::min(wake, std::max(t, now_ms + 1));
  };
  if (can_send && may_push) {
    // Operations in backoff. One already due was not claimed only because it waits behind another op of its
    // entity (in backoff itself, or failed: a user action): it must not make the engine spin.
    Stmt q = sql_(std::string("SELECT min(next_attempt_ms) FROM _outpost_outbox WHERE ") + kWaitingOps +
                  " AND next_attempt_ms > ?1");  // a fresh op's is 0
    if (q.Bind(1, now_ms).Step() && !q.Null(0)) consider(std::max(q.Int(0), push_hold_until_ms_));
    if (push_hold_until_ms_ > now_ms) consider(push_hold_until_ms_);
  }
  if (can_send && !pull_.active && !pushes_first && tables_ready) {  // else a write (CREATE TABLE) wakes it
    if (pull_requested_) consider(pull_retry_at_ms_);
    else if (config_.pull_interval_ms > 0) consider(std::max(next_pull_ms_, pull_retry_at_ms_));
  }
  if (!paused_ && !heartbeat_.active) {
    // A probe due now waits for the requests in flight (their answers say as much about the link): with
    // pipelined pushes the transport asks again while they are on their way, and must not be woken at once.
    const int64_t t = link_->WakeAt(now_ms);
    if (t > now_ms || (pushes_.empty() && !pull_.active)) consider(t);
  }
  for (const InFlight& p : pushes_) consider(p.sent_ms + config_.inflight_timeout_ms);
  if (pull_.active) consider(pull_.sent_ms + config_.inflight_timeout_ms);
  if (heartbeat_.active) consider(heartbeat_.sent_ms + config_.inflight_timeout_ms);
  EmitStatusIfChanged();
  if (wake == INT64_MAX) return action;  // kIdle: only a hint or a write wakes the engine
  action.kind = Action::kWait;
  action.wake_at_ms = wake;
  return action;
}

Status Engine::OnResult(int64_t request_id, const TransportResult& result, int64_t now_ms) {
  if (db_->InTransaction())
    return Status::Error("INVALID_STATE", "Deliver sync results after the open transaction has ended.");
  now_ms_ = now_ms;
  Status s;
  if (TakePush(request_id)) {
    s = OnPushResult(result, now_ms);
    KeepPush();
  } else if (pull_.active && request_id == pull_.id) s = OnPullResult(result, now_ms);
  else if (heartbeat_.active && request_id == heartbeat_.id) OnHeartbeatResult(result, now_ms);
  EmitStatusIfChanged();
  return s;
}

bool Engine::TakePush(int64_t id) {
  for (auto it = pushes_.begin(); it != pushes_.end(); ++it) {
    if (it->id != id) continue;
    push_ = std::move(*it);
    pushes_.erase(it);
    return true;
  }
  return false;
}

void Engine::KeepPush() {
  if (push_.active) pushes_.push_back(std::move(push_));
  push_ = {};
}

// Feeds connectivity with what a request's result says about the link.
void Engine::NoteContact(const TransportResult& r, int64_t now_ms, bool heartbeat) {
  RequestOutcome outcome = RequestOutcome::Ok(r.latency_ms);
  if (r.timed_out) outcome = RequestOutcome::Failed(RequestOutcome::kTimeout);
  else if (r.http_status == 0) outcome = RequestOutcome::Failed(RequestOutcome::kNetworkError);
  else if (r.http_status == 429 || r.http_status >= 500) outcome = RequestOutcome::Failed(RequestOutcome::kServerError);
  if (heartbeat) link_->OnHeartbeat(outcome, now_ms);
  else link_->OnRequest(outcome, now_ms);
}

Status Engine::OnPullResult(const TransportResult& result, int64_t now_ms) {
  pull_ = {};
  NoteContact(result, now_ms, false);
  const Verdict verdict = Classify(result);
  protocol::PullResponse page;
  Status decoded;
  if (verdict == Verdict::kOk) {
    protocol::Limits limits;
    limits.max_page_size = std::max(limits.max_page_size, config_.pull_page_size);
    decoded = protocol::Decode(result.body, limits, &page);
  }
  if (verdict == Verdict::kAuth) {
    token_ = false;
    if (!auth_reported_) {
      auth_reported_ = true;
      Emit("auth-required", pj::Dump(pj::Json{{"status", result.http_status}, {"message", ErrorOf(result).message}}));
    }
    pull_requested_ = true;
    return Status::OK();
  }
  if (verdict != Verdict::kOk || !decoded.ok()) {
    ++pull_attempts_;
    pull_retry_at_ms_ = now_ms + RetryDelay(config_.retry, pull_attempts_, Random01(), result.retry_after_ms);
    pull_requested_ = true;
    // Being offline or a struggling server is normal (connectivity says so); an answer that refuses the pull
    // (a 4xx) or cannot be read is not: the app hears of it once per streak, and the pull keeps retrying.
    if (verdict != Verdict::kRetry && !pull_failure_reported_) {
      pull_failure_reported_ = true;
      protocol::ErrorBody e = ErrorOf(result);
      if (verdict == Verdict::kOk) {
        e.code = "INVALID_RESPONSE";
        e.message = "The server's pull answer could not be read (" + decoded.message() +
                    "); check that client and server speak the same protocol version.";
      }
      Emit("pull-failed", pj::Dump(pj::Json{{"status", result.http_status}, {"code", e.code}, {"message", e.message},
                                            {"retryAt", pull_retry_at_ms_}}));
    }
    return decoded;
  }
  last_contact_ms_ = now_ms;
  pull_attempts_ = 0;
  pull_failure_reported_ = false;
  std::set<std::string> tables;
  // An empty page at the same cursor changes nothing: no transaction (no flush) for an idle periodic pull.
  if (page.resync_required || !page.changes.empty() || page.cursor != cursor_) {
    if (Status s = ApplyPullTransaction(page, &tables); !s.ok()) {
      pull_retry_at_ms_ = now_ms + RetryDelay(config_.retry, ++pull_attempts_, Random01());
      pull_requested_ = true;
      return s;
    }
  }
  if (!tables.empty()) {
    pj::Json list = pj::Json::array();
    for (const auto& t : tables) list.push_back(t);
    Emit("change", pj::Dump(pj::Json{{"tables", list}}));
  }
  if (page.resync_required || page.has_more) {
    pull_requested_ = true;
    return Status::OK();
  }
  next_pull_ms_ = now_ms + config_.pull_interval_ms;
  // Synced: the outbox is drained and a pull has completed.
  SyncStatus status = GetStatus();
  if (status.pending == 0) {
    last_synced_at_ms_ = now_ms;
    (void)SetMeta("last_synced_at", now_ms);
    Emit("synced", pj::Dump(pj::Json{{"at", now_ms}}));
  }
  return Status::OK();
}

Status Engine::ApplyPullTransaction(const protocol::PullResponse& page, std::set<std::string>* tables) {
  (void)RefreshTables();  // the rows are written with the columns the tables have now
  OUTPOST_RETURN_IF_ERROR(Begin());
  const size_t mark = events_.size();
  applying_ = true;
  Status s = page.resync_required ? Resync(tables) : ApplyPage(page, tables);
  if (s.ok()) s = SaveClocks();
  applying_ = false;
  if (s.ok()) s = Commit();
  else Rollback();
  if (!s.ok()) {
    events_.resize(mark);
    tables->clear();
    return s;
  }
  cursor_ = page.resync_required ? std::string() : page.cursor;  // only once it is stored
  return s;
}

void Engine::OnHeartbeatResult(const TransportResult& result, int64_t now_ms) {
  heartbeat_ = {};
  protocol::HealthResponse health;
  if (result.http_status == 200 && protocol::Decode(result.body, protocol::Limits{}, &health).ok()) {
    NoteContact(result, now_ms, true);
    if (health.server_time_ms > 0 && std::llabs(health.server_time_ms - now_ms) > config_.max_drift_ms)
      Emit("clock-drift", pj::Dump(pj::Json{{"message", "The device clock differs from the server's by more than "
                                                        "maxDriftMs; check the system time."},
                                            {"serverTimeMs", health.server_time_ms},
                                            {"deviceTimeMs", now_ms}}));
  } else {
    TransportResult failed = result;
    if (failed.http_status > 0 && failed.http_status < 500) failed.http_status = 503;  // not a health answer
    NoteContact(failed, now_ms, true);
  }
}

void Engine::OnOnlineHint(bool online, int64_t now_ms) {
  now_ms_ = now_ms;
  link_->OnOnlineHint(online, now_ms);
  if (online) pull_requested_ = true;
}

void Engine::SyncNow(int64_t now_ms) {
  now_ms_ = now_ms;
  Stmt q = sql_(std::string("UPDATE _outpost_outbox SET next_attempt_ms = ?1 WHERE ") + kWaitingOps +
                " AND next_attempt_ms > ?1");  // a fresh op's is 0
  (void)q.Bind(1, now_ms).Run();
  pull_requested_ = true;
  pull_retry_at_ms_ = 0;
  push_hold_until_ms_ = 0;  // an explicit "sync now" overrides backoff and Retry-After alike
  link_->ProbeNow(now_ms);
}

void Engine::SetPaused(bool paused) { paused_ = paused; }

void Engine::SetToken(bool present) {
  token_ = present;
  if (present) auth_reported_ = false;
}

}  // namespace sync
}  // namespace outpost
