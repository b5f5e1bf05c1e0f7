// Sync protocol v1: the messages the client engine (WASM) and the sync server (native) exchange, and their one
// codec. Both sides encode and decode with this code, so they cannot disagree about what a message means or
// what is valid. docs/protocol.md is the wire-level specification for other backends; this header is its C++
// form.
//
// Invariants:
//  - Decode never throws and never aborts: any input (malformed JSON, wrong types, hostile sizes) gives a
//    Status. On error *out is unspecified (partially filled); on success it holds a fully valid message.
//  - A successfully decoded message satisfies every rule in docs/protocol.md: identifiers match
//    ^[A-Za-z_][A-Za-z0-9_]{0,62}$, op ids are canonical UUIDv7, HLCs are canonical encodings, values are
//    finite, op ids within a batch are unique, counts are within the Limits.
//  - Decode(Encode(m)) == m for every message m that Decode produced: the encoding is canonical (compact JSON,
//    object keys sorted), so re-encoding a decoded message is stable byte for byte.
//  - Encode does not validate: it writes what it is given. A TEXT value that is not valid UTF-8 is written
//    with U+FFFD replacements (JSON strings are UTF-8); values decoded by Decode always are valid UTF-8.
//  - Error codes: INVALID_JSON (not JSON, duplicate object keys, nesting too deep), INVALID_ARGUMENT (wrong
//    type, missing or unknown field, bad identifier, op id, HLC or value; duplicate op id), UNSUPPORTED_VERSION
//    (protocol is not 1: the client must update), TOO_LARGE (body, batch, columns or page over the Limits).
//    Messages name the offending field by its path, e.g. `ops[3].columns.title.hlc`.
#ifndef OUTPOST_PROTOCOL_H_
#define OUTPOST_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "outpost/hlc.h"
#include "outpost/status.h"
#include "outpost/value.h"

namespace outpost::protocol {

inline constexpr int kVersion = 1;

// Largest integer a JSON number may carry as INTEGER: beyond it JavaScript loses precision, so larger
// integers travel as {"$bigint": "<decimal>"}. Versions and counts must stay within it.
inline constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;
inline constexpr size_t kMaxIdentifierLength = 63;
inline constexpr size_t kMaxClientIdLength = 128;
inline constexpr size_t kMaxEntityLength = 256;
inline constexpr size_t kMaxTargetLength = 2048;
inline constexpr size_t kMaxCursorLength = 512;
inline constexpr size_t kMaxScopeLength = 128;
inline constexpr size_t kMaxKindLength = 64;
inline constexpr size_t kMaxCodeLength = 64;
inline constexpr size_t kMaxMessageLength = 4096;

// What a decoder accepts. The server passes its configured limits; the client the ones the server announced
// (or these defaults). Exceeding any of them is TOO_LARGE.
struct Limits {
  size_t max_body_bytes = 4 << 20;  // whole JSON text
  size_t max_ops = 1000;            // operations per push batch (and results per push response)
  size_t max_columns = 256;         // changed columns per operation or change
  size_t max_key_columns = 16;      // primary-key columns
  size_t max_scopes = 64;           // scopes per pull request
  size_t max_page_size = 10000;     // changes per pull response
  size_t max_depth = 64;            // JSON nesting (custom payloads included)
  // Push bodies and answers in the exact form Encode writes are read without a JSON tree; anything else goes
  // to the strict decoder. Same results either way; false forces the strict decoder (tests compare them).
  bool canonical_fast_path = true;
};

// A value with the HLC of the write that set it: the unit of per-column last-writer-wins.
struct ColumnValue {
  Value value;
  HlcTimestamp hlc;
  bool operator==(const ColumnValue&) const = default;
};

using Columns = std::map<std::string, ColumnValue>;  // column name → value + HLC
using Key = std::map<std::string, Value>;            // primary-key column → value (never NULL)

enum class Priority { kCritical, kHigh, kNormal, kLow };

inline constexpr std::string_view kUpsert = "upsert";
inline constexpr std::string_view kDelete = "delete";

// One outbox operation. Row operations (kind "upsert" or "delete") name a table and primary key; custom
// operations (kind "namespace.name", e.g. "http.post") name an entity and carry a target and a JSON payload.
struct Operation {
  std::string id;  // UUIDv7, the idempotency key
  std::string kind;
  Priority priority = Priority::kNormal;
  HlcTimestamp hlc;  // when the operation was made (a delete's timestamp; for upserts each column has its own)
  // Row operations.
  std::string table;
  Key key;
  Columns columns;                      // upsert: the changed columns; always empty for delete and custom ops
  std::optional<int64_t> base_version;  // server version of the row the client last pulled; none: never seen
  // Custom operations.
  std::string entity;   // orders operations: same entity, same order
  std::string target;   // e.g. the URL of an http.post; may be empty
  std::string payload;  // JSON text (canonical); empty: no payload

  bool is_row_op() const { return kind == kUpsert || kind == kDelete; }
  bool operator==(const Operation&) const = default;
};

struct PushRequest {
  std::string client_id;       // the device: [A-Za-z0-9._:-]{1,128}
  std::vector<Operation> ops;  // 1..max_ops, unique ids
  bool operator==(const PushRequest&) const = default;
};

enum class OpStatus { kApplied, kDuplicate, kConflict, kRejected };

// What the server did with an operation the first time it saw it.
struct OpOutcome {
  OpStatus status = OpStatus::kApplied;  // never kDuplicate
  int64_t version = 0;                   // applied: server version of the change; conflict: the row's current version
  Columns current;                       // conflict: the server's current values and HLCs (empty if `deleted`)
  bool deleted = false;                  // conflict: the row is a tombstone on the server
  std::string code;                      // rejected: reason code, e.g. UNKNOWN_TABLE
  std::string message;                   // rejected: what to do
  // conflict: the operation's columns the server refused (it kept its own value), as its table policy
  // decided; the client records a conflict for each, whatever policy it was configured with. Empty from
  // servers that predate the field: the client then infers them (sync.md, "Conflicts").
  std::vector<std::string> refused;
  bool operator==(const OpOutcome&) const = default;
};

struct OpResult {
  std::string id;          // the operation's id
  bool duplicate = false;  // true: the operation was seen before and `outcome` is the original result
  OpOutcome outcome;
  OpStatus status() const { return duplicate ? OpStatus::kDuplicate : outcome.status; }
  bool operator==(const OpResult&) const = default;
};

struct PushResponse {
  std::vector<OpResult> results;  // one per operation, in request order
  bool operator==(const PushResponse&) const = default;
};

struct PullRequest {
  std::string client_id;
  std::string cursor;               // opaque, from the last pull response; empty: from the beginning
  std::optional<int64_t> limit;     // page size hint, >= 1: the server sends at most min(limit, its maximum)
  std::vector<std::string> scopes;  // subscribed scopes; empty: every scope the token allows
  bool operator==(const PullRequest&) const = default;
};

// One row change in a pull page: an upsert with per-column values and HLCs, or a tombstone.
struct Change {
  std::string table;
  Key key;
  int64_t version = 0;   // server sequence number of this change
  bool deleted = false;  // tombstone
  Columns columns;       // upsert: the row's columns; empty for tombstones
  HlcTimestamp hlc;      // tombstone: the delete's HLC (zero for upserts)
  bool operator==(const Change&) const = default;
};

struct PullResponse {
  // The cursor is older than the server's tombstone retention: the client must drop its synced copy (keeping
  // pending operations) and pull again from an empty cursor. No changes and no cursor then.
  bool resync_required = false;
  std::vector<Change> changes;
  std::string cursor;  // pass to the next pull (also when has_more is false: it is where to continue later)
  bool has_more = false;
  bool operator==(const PullResponse&) const = default;
};

struct HealthResponse {
  std::string status = "ok";                    // "ok" or "unavailable"
  std::vector<int64_t> protocols = {kVersion};  // protocol versions the server speaks
  int64_t server_time_ms = 0;                   // lets a client compare its clock before pushing
  std::string store;                            // backend name, e.g. "sqlite"
  std::map<std::string, int64_t> counts;        // e.g. {"changes": 1234, "ops": 5678}
  bool operator==(const HealthResponse&) const = default;
};

// The body of every non-2xx answer.
struct ErrorBody {
  std::string code;     // [A-Z][A-Z0-9_]{0,63}
  std::string message;  // what to do
  bool operator==(const ErrorBody&) const = default;
};

std::string Encode(const PushRequest& m);
std::string Encode(const PushResponse& m);
std::string Encode(const PullRequest& m);
std::string Encode(const PullResponse& m);
std::string Encode(const HealthResponse& m);
std::string Encode(const ErrorBody& m);

Status Decode(std::string_view json, const Limits& limits, PushRequest* out);
Status Decode(std::string_view json, const Limits& limits, PushResponse* out);
Status Decode(std::string_view json, const Limits& limits, PullRequest* out);
Status Decode(std::string_view json, const Limits& limits, PullResponse* out);
Status Decode(std::string_view json, const Limits& limits, HealthResponse* out);
Status Decode(std::string_view json, const Limits& limits, ErrorBody* out);

// Checks that a push response answers this request: one result per operation, same ids, same order.
// INVALID_ARGUMENT otherwise (the client then treats the whole batch as failed and retries it).
Status CheckResultsMatch(const PushRequest& request, const PushResponse& response);

// The error body for a failed Status, and the HTTP status a server answers it with (table in
// docs/protocol.md; 400 for unknown codes).
ErrorBody ErrorFor(const Status& status);
int HttpStatusFor(std::string_view code);

// ^[A-Za-z_][A-Za-z0-9_]{0,62}$: the only table and column names the protocol carries.
bool IsIdentifier(std::string_view name);

std::string_view PriorityName(Priority p);

}  // namespace outpost::protocol

#endif  // OUTPOST_PROTOCOL_H_
