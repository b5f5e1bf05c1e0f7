// Merge: how a row changes when an operation or a pulled change meets its current state. The server applies
// every pushed row operation with ApplyOperation; the client applies every pulled change with the same code
// (issue 5: "one implementation"), so both sides always decide alike. Pure functions: no I/O, no clock.
//
// Invariants:
//  - Deterministic: the result depends only on the arguments (no clock, no randomness, no iteration order
//    of unordered containers).
//  - LWW (the default) compares HLCs per column; the higher HLC wins, whatever order operations arrive in,
//    so replicas that saw the same set of writes hold the same values (commutative, idempotent).
//  - A row is a tombstone or live. Under `lww`, a delete beats the column writes with lower HLCs and loses to
//    higher ones (an edit made after the delete resurrects the row with only the columns written after the
//    delete; the others become NULL). Under `delete-wins` (a table policy) a tombstone is final.
//  - `counter` columns carry deltas in operations and totals in states: the server adds each applied delta
//    once (operation ids make replays harmless), so a total is the sum of every applied delta.
//  - `manual` and `first-writer-wins` columns are never overwritten silently: a write that would replace a
//    value concurrently set by someone else yields a conflict and leaves the value as it is.
#ifndef OUTPOST_MERGE_H_
#define OUTPOST_MERGE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "outpost/hlc.h"
#include "outpost/protocol.h"
#include "outpost/status.h"

namespace outpost::merge {

enum class Policy {
  kLww,              // last writer (highest HLC) wins, per column
  kManual,           // concurrent edits become a conflict record the user resolves
  kFirstWriterWins,  // once a column holds a value written by an applied operation, later writers conflict
  kDeleteWins,       // table-level only: a tombstone beats any concurrent or stale edit, for good
  kCounter,          // PN-counter column: operations carry integer deltas; concurrent increments add up
};

// "lww", "manual", "first-writer-wins", "delete-wins", "counter"; INVALID_ARGUMENT otherwise.
Status ParsePolicy(std::string_view name, Policy* out);
std::string_view PolicyName(Policy p);

// The merge rules of one synced table: a table policy (kLww, kManual, kFirstWriterWins or kDeleteWins;
// kDeleteWins means LWW columns with final tombstones) and per-column overrides (any but kDeleteWins).
struct TablePolicy {
  Policy table = Policy::kLww;
  std::map<std::string, Policy> columns;
  Policy ForColumn(const std::string& column) const;  // override, else the table's (kLww for kDeleteWins)
};

// A column as a store keeps it: value, HLC of the write that set it, and the server version at which it
// last changed (what `base_version` of an operation is compared against to tell a concurrent edit).
struct ColumnState {
  Value value;
  HlcTimestamp hlc;
  int64_t version = 0;
  bool operator==(const ColumnState&) const = default;
};

struct RowState {
  bool exists = false;    // false: the store has never seen this row (all other fields default)
  bool deleted = false;   // tombstone
  HlcTimestamp delete_hlc;  // when deleted (kept after a resurrection too: older writes stay dead)
  int64_t version = 0;    // server version of the row's last change
  std::map<std::string, ColumnState> columns;
  bool operator==(const RowState&) const = default;
};

// What ApplyOperation decided.
struct Outcome {
  RowState next;        // the row after the operation (== current if nothing changed)
  bool changed = false; // next differs from current: the store must assign a new version and persist it
  // Columns whose incoming write was refused because of a concurrent edit (manual, first-writer-wins) or a
  // final tombstone (delete-wins). Non-empty means the protocol answer is `conflict` with the current row;
  // the op's other columns are still applied (changed says whether anything was).
  std::vector<std::string> conflicts;
  bool conflict_on_tombstone = false;  // the op hit a delete-wins tombstone (conflicts lists its columns)
};

// Applies one row operation (kind upsert or delete) to `current`. `version` is the version the store will
// assign if the outcome changes the row. The op's base_version tells which server state its writer had
// seen: a manual/first-writer-wins column whose ColumnState.version > base_version (or that exists when
// base_version is absent) was edited concurrently. Counter columns: the op's value must be an INTEGER delta,
// else INVALID_ARGUMENT (nothing applied).
Status ApplyOperation(const TablePolicy& policy, const RowState& current, const protocol::Operation& op,
                      int64_t version, Outcome* out);

}  // namespace outpost::merge

#endif  // OUTPOST_MERGE_H_
