// The shared Store: PostgreSQL through libpqxx 6.4, so several outpost-server processes can serve one
// database. It moves the generic rows of store_core.h in and out; every decision is made in store.cc.
//
// Versions and concurrent pushers. A pull must never skip a version that commits later: with a plain
// sequence, push A could take version 10, push B version 11, B commit first, a pull return 11 and move its
// cursor past 10, and A then commit 10 behind every cursor. Pushes do not wait for each other to avoid that
// (an earlier design held one advisory lock from a push's first read to its commit, which serialized every
// push of every process); instead pulls stop below the oldest push still in flight:
//  - A push reads and locks the rows it merges (SELECT ... FOR UPDATE, in key order), merges the batch with
//    provisional versions (store_core.h), and only then reserves its versions: on a separate connection, one
//    autocommitted statement advances the counter row (outpost_meta 'version') and inserts (its transaction
//    id, its first version) into outpost_inflight. The counter's row lock is held for that statement only.
//    Its writes then go out in one statement that also deletes its outpost_inflight entry, and it commits:
//    the entry disappears exactly when the rows appear.
//  - A pull reads in one REPEATABLE READ snapshot and serves only versions below the horizon: the smallest
//    first version of an outpost_inflight entry it sees whose transaction did not abort (pg_xact_status
//    'in progress', or 'committed' after the snapshot was taken). Reservations commit in counter order, so a
//    reservation the snapshot does not see has versions above everything the snapshot sees; one it sees
//    belongs to a push that committed before the snapshot (entry gone), aborted (its versions never appear)
//    or is in flight (the horizon holds the cursor below it). The cursor therefore never passes a version
//    that can still commit.
//  - Concurrent pushes to the same rows: the FOR UPDATE read waits for the other push and then sees its
//    committed row (READ COMMITTED re-reads it), so merges never lose an update. A row that did not exist is
//    written with a plain INSERT: if another push created it meanwhile, the unique violation retries the
//    batch, which then merges into that row. The same holds for an op id logged meanwhile (a replay).
//  - Deadlocks: row locks are taken in key order before anything else; the reservation waits only for
//    another reservation's one statement. A deadlock PostgreSQL still detects (two pushes creating the same
//    new rows in another order) is retried like serialization failures, unique violations and lost
//    connections (StoreOptions::max_retries): a batch is idempotent by its op ids, so even a commit whose
//    outcome is unknown (in_doubt_error) may be replayed.
//  - A push that fails after reserving burns its versions (a gap pulls never notice) and leaves an entry of
//    an aborted transaction, which pulls ignore and PruneTombstones deletes. A crashed server's entries are
//    the same: nothing needs cleaning for pulls to move on.
//  - Needs PostgreSQL 13 or later (xid8, pg_current_xact_id, pg_xact_status). Every process on a database
//    must run this design: an older server's pulls do not know the horizon.
//
// Statements are fixed SQL with parameters ($1...). Table and column names from requests are values in the
// generic rows, never identifiers, so nothing from a request is ever quoted into SQL. Batches travel as one
// JSON array parameter expanded by jsonb_array_elements (one round trip per statement, not per row). jsonb,
// not json: json re-lexes an element's text for every ->> field, which was about a quarter of the
// backend's CPU in the load benchmark; jsonb parses each array once.
#include <condition_variable>
#include <functional>
#include <limits>
#include <mutex>
#include <pqxx/pqxx>
#include <set>

#include "protocol_json.h"
#include "store_core.h"

namespace outpost::server {
namespace {

using core::ChangeRow;
using core::LoggedOp;
using core::PullSnapshot;
using core::PushWrites;
using core::RowRef;
using core::StoredRow;
using protocol::json::Json;

constexpr int64_t kSetupLock = 0x4f7574706f737402;  // creating the tables

const char* const kSetup[] = {
    "CREATE TABLE IF NOT EXISTS outpost_meta(name text PRIMARY KEY, value bigint NOT NULL)",
    "INSERT INTO outpost_meta(name, value) VALUES ('format', 1), ('version', 0), ('pruned_version', 0) "
    "ON CONFLICT (name) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS outpost_rows(tbl text NOT NULL, key_json text NOT NULL, scope text NOT NULL, "
    "version bigint NOT NULL, deleted boolean NOT NULL, delete_hlc text NOT NULL, live_hlc text NOT NULL, "
    "columns_json text NOT NULL, changed_ms bigint NOT NULL, PRIMARY KEY (tbl, key_json))",
    "CREATE UNIQUE INDEX IF NOT EXISTS outpost_rows_version ON outpost_rows(version)",
    "CREATE INDEX IF NOT EXISTS outpost_rows_scope ON outpost_rows(scope, version)",
    "CREATE INDEX IF NOT EXISTS outpost_rows_tombstones ON outpost_rows(changed_ms) WHERE deleted",
    "CREATE TABLE IF NOT EXISTS outpost_oplog(op_id text PRIMARY KEY, client_id text NOT NULL, "
    "user_id text NOT NULL, outcome_json text NOT NULL, created_ms bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outpost_inflight(xid xid8 PRIMARY KEY, first_version bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outpost_custom_ops(op_id text PRIMARY KEY, kind text NOT NULL, "
    "entity text NOT NULL, target text NOT NULL, payload text NOT NULL, client_id text NOT NULL, "
    "user_id text NOT NULL, version bigint NOT NULL, created_ms bigint NOT NULL)",
};

// A JSON array of arrays of strings: the one parameter a bulk statement expands.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  Json j = Json::array();
  for (const auto& row : rows) j.push_back(row);
  return protocol::json::Dump(j);
}

// Store primitives over one open push transaction. pqxx exceptions propagate to RunTransaction.
class PgPushTxn final : public core::PushTxn {
 public:
  // `reserve` reserves versions for a transaction id in a transaction of its own (PgStore::Reserve).
  using Reserver = std::function<Status(const std::string& xid, int64_t count, int64_t* first)>;
  PgPushTxn(pqxx::work* txn, Reserver reserve) : txn_(*txn), reserve_(std::move(reserve)) {}

  Status FindOps(const std::vector<std::string>& ids, std::map<std::string, LoggedOp>* out) override {
    const pqxx::result r = txn_.exec_params(
        "SELECT op_id, user_id, outcome_json FROM outpost_oplog "
        "WHERE op_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
        core::EncodeStringList(ids));
    for (const auto& row : r) {
      LoggedOp op;
      op.user = row[1].as<std::string>();
      OUTPOST_RETURN_IF_ERROR(core::DecodeOutcome(row[2].as<std::string>(), &op.outcome));
      (*out)[row[0].as<std::string>()] = std::move(op);
    }
    return Status::OK();
  }

  // Locks the stored rows it returns (FOR UPDATE, in key order so two pushers lock in the same order), so
  // they stay as loaded until this push commits; a row another push is changing is read after that push
  // commits (READ COMMITTED re-reads it). Refs not found here are written with a plain INSERT (see Write).
  Status LoadRows(const std::vector<RowRef>& refs, std::map<RowRef, StoredRow>* out) override {
    if (refs.empty()) return Status::OK();
    std::vector<std::vector<std::string>> list;
    for (const RowRef& ref : refs) list.push_back({ref.first, ref.second});
    const pqxx::result r = txn_.exec_params(
        "SELECT r.tbl, r.key_json, r.scope, r.version, r.deleted, r.delete_hlc, r.live_hlc, r.columns_json, "
        "r.changed_ms FROM outpost_rows r JOIN (SELECT x->>0 AS tbl, x->>1 AS key_json "
        "FROM jsonb_array_elements($1::jsonb) x) q ON r.tbl = q.tbl AND r.key_json = q.key_json "
        "ORDER BY r.tbl, r.key_json FOR UPDATE OF r",
        Table(list));
    for (const auto& row : r) {
      StoredRow s;
      s.table = row[0].as<std::string>();
      s.key_json = row[1].as<std::string>();
      s.scope = row[2].as<std::string>();
      s.state.exists = true;
      s.state.version = row[3].as<int64_t>();
      s.state.deleted = row[4].as<bool>();
      OUTPOST_RETURN_IF_ERROR(core::DecodeHlc(row[5].as<std::string>(), &s.state.delete_hlc));
      OUTPOST_RETURN_IF_ERROR(core::DecodeHlc(row[6].as<std::string>(), &s.state.live_hlc));
      OUTPOST_RETURN_IF_ERROR(core::DecodeColumns(row[7].as<std::string>(), &s.state.columns));
      s.changed_ms = row[8].as<int64_t>();
      RowRef ref{s.table, s.key_json};
      loaded_.insert(ref);
      (*out)[ref] = std::move(s);
    }
    return Status::OK();
  }

  // Registers this transaction (its id) as in flight with the versions it gets: pulls serve nothing from
  // its first version on until it commits or aborts (see the top of this file).
  Status ReserveVersions(int64_t count, int64_t* first) override {
    xid_ = txn_.exec1("SELECT pg_current_xact_id()")[0].as<std::string>();
    return reserve_(xid_, count, first);
  }

  // Everything in one statement, with the removal of this transaction's in-flight entry (which becomes
  // visible exactly when the rows do). Rows LoadRows did not find are INSERTed without ON CONFLICT: if
  // another push created the row meanwhile, the unique violation retries the batch, which then loads and
  // merges that row instead of overwriting it.
  Status Write(const PushWrites& w) override {
    std::vector<std::vector<std::string>> fresh, stored, ops, custom;
    for (const StoredRow& r : w.rows) {
      (loaded_.count({r.table, r.key_json}) ? stored : fresh)
          .push_back({r.table, r.key_json, r.scope, std::to_string(r.state.version), r.state.deleted ? "true" : "false",
                      core::EncodeHlc(r.state.delete_hlc), core::EncodeHlc(r.state.live_hlc),
                      core::EncodeColumns(r.state.columns), std::to_string(r.changed_ms)});
    }
    for (const core::OpLogEntry& e : w.ops) {
      ops.push_back({e.id, e.client_id, e.user, e.outcome_json, std::to_string(e.created_ms)});
    }
    for (const core::CustomOpEntry& c : w.custom) {
      custom.push_back({c.id, c.kind, c.entity, c.target, c.payload, c.client_id, c.user, std::to_string(c.version),
                        std::to_string(c.created_ms)});
    }
    txn_.exec_params(
        "WITH fresh AS (INSERT INTO outpost_rows(tbl, key_json, scope, version, deleted, delete_hlc, live_hlc, "
        "columns_json, changed_ms) SELECT x->>0, x->>1, x->>2, (x->>3)::bigint, (x->>4)::boolean, x->>5, x->>6, "
        "x->>7, (x->>8)::bigint FROM jsonb_array_elements($1::jsonb) x), "
        "stored AS (UPDATE outpost_rows r SET scope = x->>2, version = (x->>3)::bigint, "
        "deleted = (x->>4)::boolean, delete_hlc = x->>5, live_hlc = x->>6, columns_json = x->>7, "
        "changed_ms = (x->>8)::bigint FROM jsonb_array_elements($2::jsonb) x "
        "WHERE r.tbl = x->>0 AND r.key_json = x->>1), "
        "ops AS (INSERT INTO outpost_oplog(op_id, client_id, user_id, outcome_json, created_ms) "
        "SELECT x->>0, x->>1, x->>2, x->>3, (x->>4)::bigint FROM jsonb_array_elements($3::jsonb) x), "
        "custom AS (INSERT INTO outpost_custom_ops(op_id, kind, entity, target, payload, client_id, user_id, "
        "version, created_ms) SELECT x->>0, x->>1, x->>2, x->>3, x->>4, x->>5, x->>6, (x->>7)::bigint, "
        "(x->>8)::bigint FROM jsonb_array_elements($4::jsonb) x), "
        "done AS (DELETE FROM outpost_inflight WHERE xid = nullif($5, '')::xid8) "
        "SELECT 1",
        Table(fresh), Table(stored), Table(ops), Table(custom), xid_);
    return Status::OK();
  }

 private:
  pqxx::work& txn_;
  const Reserver reserve_;
  std::set<RowRef> loaded_;
  std::string xid_;  // this transaction's id once it reserved versions, else ""
};

using ReadTxn = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

// Pull reads in one REPEATABLE READ snapshot, so the counters and the rows agree.
class PgPullReader final : public core::PullReader {
 public:
  explicit PgPullReader(ReadTxn* txn) : txn_(*txn) {}

  Status Read(int64_t after, const std::vector<std::string>* scopes, size_t limit, PullSnapshot* out) override {
    // The horizon: the first version of the oldest push still in flight as this snapshot sees it (its
    // in-flight entry is visible and its transaction did not abort). Nothing from there on is served, so the
    // cursor never passes a version that commits later. An entry left by an aborted push is ignored.
    const pqxx::row meta = txn_.exec1(
        "SELECT (SELECT value FROM outpost_meta WHERE name = 'version'), "
        "(SELECT value FROM outpost_meta WHERE name = 'pruned_version'), "
        "(SELECT min(first_version) FROM outpost_inflight WHERE pg_xact_status(xid) IN ('in progress', 'committed'))");
    out->current_version = meta[0].as<int64_t>();
    out->pruned_version = meta[1].as<int64_t>();
    const int64_t horizon = meta[2].is_null() ? std::numeric_limits<int64_t>::max() : meta[2].as<int64_t>();
    const int64_t n = static_cast<int64_t>(limit);
    const pqxx::result r =
        scopes == nullptr ? txn_.exec_params(
                                "SELECT tbl, key_json, version, deleted, delete_hlc, columns_json FROM outpost_rows "
                                "WHERE version > $1 AND version < $2 ORDER BY version LIMIT $3",
                                after, horizon, n)
                          : txn_.exec_params(
                                "SELECT tbl, key_json, version, deleted, delete_hlc, columns_json FROM outpost_rows "
                                "WHERE version > $1 AND version < $2 AND scope IN "
                                "(SELECT jsonb_array_elements_text($3::jsonb)) ORDER BY version LIMIT $4",
                                after, horizon, core::EncodeStringList(*scopes), n);
    for (const auto& row : r) {
      ChangeRow c;
      c.table = row[0].as<std::string>();
      c.key_json = row[1].as<std::string>();
      c.version = row[2].as<int64_t>();
      c.deleted = row[3].as<bool>();
      c.delete_hlc = row[4].as<std::string>();
      c.columns_json = row[5].as<std::string>();
      out->rows.push_back(std::move(c));
    }
    return Status::OK();
  }

 private:
  ReadTxn& txn_;
};

class PgStore final : public Store {
 public:
  PgStore(std::string conninfo, const Schema& schema, const StoreOptions& options)
      : conninfo_(std::move(conninfo)), schema_(schema), options_(options) {}

  Status Open() {
    return RunTransaction("open", [&](pqxx::connection& c) {
      pqxx::work txn(c);
      txn.exec_params("SELECT pg_advisory_xact_lock($1)", kSetupLock);
      for (const char* sql : kSetup) txn.exec(sql);
      const int64_t format = txn.exec1("SELECT value FROM outpost_meta WHERE name = 'format'")[0].as<int64_t>();
      if (format != core::kStoreFormat) {
        return Status::Error("FAILED_PRECONDITION", "The PostgreSQL store has format " + std::to_string(format) +
                                                        "; this server reads format " +
                                                        std::to_string(core::kStoreFormat) +
                                                        ". Use a matching server.");
      }
      txn.commit();
      return Status::OK();
    });
  }

  std::string name() const override { return "postgresql"; }

  Status Push(const Principal& who, const protocol::PushRequest& request, int64_t now_ms,
              protocol::PushResponse* response) override {
    Status s = RunTransaction("push", [&](pqxx::connection& c) {
      pqxx::work txn(c);
      PgPushTxn primitives(
          &txn, [this](const std::string& xid, int64_t count, int64_t* first) { return Reserve(xid, count, first); });
      OUTPOST_RETURN_IF_ERROR(core::RunPush(schema_, options_, who, request, now_ms, &primitives, response));
      txn.commit();
      return Status::OK();
    });
    if (!s.ok()) response->results.clear();
    return s;
  }

  Status Pull(const Principal& who, const protocol::PullRequest& request, size_t page_size, int64_t,
              protocol::PullResponse* response) override {
    return RunTransaction("pull", [&](pqxx::connection& c) {
      ReadTxn txn(c);
      PgPullReader reader(&txn);
      OUTPOST_RETURN_IF_ERROR(core::RunPull(who, request, page_size, &reader, response));
      txn.commit();
      return Status::OK();
    });
  }

  Status PruneTombstones(int64_t now_ms) override {
    const int64_t before = now_ms - options_.tombstone_retention_ms;
    // No lock: the DELETE waits for a push holding a tombstone FOR UPDATE and skips it if that push revived
    // it; a push that finds the row gone treats it as new.
    return RunTransaction("prune", [&](pqxx::connection& c) {
      pqxx::work txn(c);
      txn.exec_params(
          "WITH pruned AS (DELETE FROM outpost_rows WHERE deleted AND changed_ms < $1 RETURNING version) "
          "UPDATE outpost_meta SET value = greatest(value, (SELECT coalesce(max(version), 0) FROM pruned)) "
          "WHERE name = 'pruned_version'",
          before);
      // In-flight entries of pushes that aborted after reserving (pulls already ignore them).
      txn.exec("DELETE FROM outpost_inflight WHERE coalesce(pg_xact_status(xid), 'aborted') = 'aborted'");
      txn.commit();
      return Status::OK();
    });
  }

  Status Counts(std::map<std::string, int64_t>* counts) override {
    return RunTransaction("counts", [&](pqxx::connection& c) {
      ReadTxn txn(c);
      const pqxx::row r = txn.exec1(
          "SELECT (SELECT count(*) FROM outpost_rows), (SELECT count(*) FROM outpost_rows WHERE deleted), "
          "(SELECT count(*) FROM outpost_oplog), (SELECT count(*) FROM outpost_custom_ops), "
          "(SELECT value FROM outpost_meta WHERE name = 'version')");
      (*counts)["changes"] = r[0].as<int64_t>();
      (*counts)["tombstones"] = r[1].as<int64_t>();
      (*counts)["ops"] = r[2].as<int64_t>();
      (*counts)["custom_ops"] = r[3].as<int64_t>();
      (*counts)["version"] = r[4].as<int64_t>();
      txn.commit();
      return Status::OK();
    });
  }

 private:
  // Takes `count` versions from the counter and records them as in flight for push transaction `xid`, in one
  // statement committed at once on a connection of its own: the counter's row lock is held only for that
  // statement, and the entry is visible to pulls before any row with these versions can be.
  Status Reserve(const std::string& xid, int64_t count, int64_t* first) {
    std::lock_guard<std::mutex> lock(reserve_mu_);
    try {
      if (reserver_ == nullptr) reserver_ = Connect();
      pqxx::nontransaction tx(*reserver_);
      *first = tx.exec_params1(
                     "WITH v AS (UPDATE outpost_meta SET value = value + $1 WHERE name = 'version' RETURNING value) "
                     "INSERT INTO outpost_inflight(xid, first_version) SELECT $2::xid8, value - $1 + 1 FROM v "
                     "RETURNING first_version",
                     count, xid)[0]
                   .as<int64_t>();
      return Status::OK();
    } catch (const std::exception& e) {
      reserver_.reset();  // a fresh connection next time; this push fails and rolls back
      return Unavailable("push (reserving versions)", e.what());
    }
  }

  // A new connection. A push waits at most busy_timeout_ms for a row or the version counter another
  // process holds: a process stuck holding one then costs other pushers an UNAVAILABLE (retried by
  // clients), not a hung request.
  std::unique_ptr<pqxx::connection> Connect() {
    auto conn = std::make_unique<pqxx::connection>(conninfo_);
    pqxx::nontransaction setup(*conn);
    setup.exec("SET lock_timeout = " + std::to_string(std::max(1, options_.busy_timeout_ms)));
    setup.commit();
    return conn;
  }

  // Runs `body` on a pooled connection and turns libpqxx exceptions into Statuses (none leave the store).
  // Transient failures are retried up to options_.max_retries times; a broken connection is replaced.
  template <typename Body>
  Status RunTransaction(const char* what, Body&& body) {
    Status last;
    for (int attempt = 0; attempt <= std::max(0, options_.max_retries); ++attempt) {
      std::unique_ptr<pqxx::connection> conn;
      if (Status s = Acquire(&conn); !s.ok()) {
        last = s;
        continue;
      }
      bool keep = true;
      try {
        Status s = body(*conn);
        Release(std::move(conn));
        return s;
      } catch (const pqxx::broken_connection& e) {
        keep = false;
        last = Unavailable(what, e.what());
      } catch (const pqxx::in_doubt_error& e) {
        keep = false;  // the commit may or may not have happened: replaying the idempotent batch settles it
        last = Unavailable(what, e.what());
      } catch (const pqxx::transaction_rollback& e) {
        last = Unavailable(what, e.what());  // serialization failure or deadlock: retry
      } catch (const pqxx::unique_violation& e) {
        // A concurrent push created the same row or logged the same op id first: retried, the batch then
        // merges into that row or answers the op as a duplicate (nothing else here can be a duplicate key).
        last = Unavailable(what, e.what());
      } catch (const pqxx::sql_error& e) {
        Release(std::move(conn));
        // Lock timeout, statement cancelled, out of resources, shutting down: the store is busy, not broken.
        const std::string& state = e.sqlstate();
        if (state == "55P03" || state == "57014" || state.rfind("53", 0) == 0 || state.rfind("57P", 0) == 0) {
          return Unavailable(what, e.what());
        }
        return Status::Error("INTERNAL",
                             std::string("PostgreSQL store, ") + what + ": " + e.what() + " (SQLSTATE " + e.sqlstate() +
                                 "); check the server log.",
                             e.query());
      } catch (const std::exception& e) {
        Release(std::move(conn));
        return Status::Error("INTERNAL", std::string("PostgreSQL store, ") + what + ": " + e.what());
      }
      if (keep) {
        Release(std::move(conn));
      } else {
        Discard();
      }
    }
    return last;
  }

  static Status Unavailable(const char* what, const char* detail) {
    return Status::Error("UNAVAILABLE", std::string("PostgreSQL store, ") + what + ": " + detail + "; retry later.");
  }

  // The pool: at most options_.max_connections open connections; a caller waits for a free one.
  Status Acquire(std::unique_ptr<pqxx::connection>* out) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || open_ < std::max(1, options_.max_connections); });
    if (!idle_.empty()) {
      *out = std::move(idle_.back());
      idle_.pop_back();
      return Status::OK();
    }
    ++open_;
    lock.unlock();
    try {
      *out = Connect();
      return Status::OK();
    } catch (const std::exception& e) {
      Discard();
      return Status::Error("UNAVAILABLE", std::string("Cannot connect to PostgreSQL: ") + e.what() +
                                              "; check the connection string and that the server is up.");
    }
  }

  void Release(std::unique_ptr<pqxx::connection> conn) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(conn));
    cv_.notify_one();
  }

  void Discard() {
    std::lock_guard<std::mutex> lock(mu_);
    --open_;
    cv_.notify_one();
  }

  const std::string conninfo_;
  const Schema schema_;
  const StoreOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  int open_ = 0;
  std::mutex reserve_mu_;  // one reservation at a time on reserver_
  std::unique_ptr<pqxx::connection> reserver_;
};

}  // namespace

Status OpenPostgresStore(const std::string& conninfo, const Schema& schema, const StoreOptions& options,
                         std::unique_ptr<Store>* out) {
  auto store = std::make_unique<PgStore>(conninfo, schema, options);
  OUTPOST_RETURN_IF_ERROR(store->Open());
  *out = std::move(store);
  return Status::OK();
}

}  // namespace outpost::server
