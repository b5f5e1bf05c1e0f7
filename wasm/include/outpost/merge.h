// Merge: how a row changes when an operation or a pulled change meets its current state. The server applies
// every pushed row operation with ApplyOperation; the client applies every pulled change with the same code
// (issue 5: "one implementation"), so both sides always decide alike. Pure functions: no I/O, no clock.
// docs/conflicts.md ("Merge rules") describes the policies for users.
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
//
// The rules exactly (HLC order is HlcTimestamp's total order; "dead" below means: the row has a delete
// (deleted, or delete_hlc is not the zero timestamp) and the write's HLC <= delete_hlc):
//  - Upsert, per column of op.columns, by ForColumn(name):
//      lww      applied iff not dead and (the column is absent or its HLC > the column's HLC). An equal HLC
//               is the same write again: nothing changes (idempotent).
//      counter  the value must be an INTEGER delta (any non-INTEGER value, a current value that is neither
//               INTEGER nor NULL, or an int64 overflow of the total: INVALID_ARGUMENT, nothing applied).
//               Not dead: total (absent or NULL counts as 0) += delta, HLC = max(HLC, op's column HLC).
//               Dead (older than the delete): dropped. No HLC dedup: replays are stopped by operation ids.
//      manual   conflict iff the column is present, the incoming value differs from the current one and
//               (base_version is absent or the column's version > base_version); the value stays.
//               Otherwise as lww (an older HLC never overwrites; an equal value with a newer HLC refreshes
//               the HLC).
//      first-writer-wins  conflict iff the column holds a non-NULL value, the incoming value differs and
//               (base_version is absent or base_version < the column's version); the value stays.
//               Otherwise as lww: the first write to reach an absent or NULL column sets it, and a writer
//               that had seen the value may replace it.
//    Dead writes are dropped silently before any policy check: a column removed by a delete is absent, so
//    manual and first-writer-wins do not conflict with the delete (only delete-wins refuses edits).
//  - Upsert, the row: its timestamp is max(op.hlc, the HLCs of the op's columns that were not refused). If
//    that timestamp is not dead the row is live afterwards (a tombstone is resurrected with only the
//    columns applied by this op) and live_hlc = max(live_hlc, timestamp). An upsert with no columns thus
//    creates an empty live row (never-seen row) or resurrects a key-only row deleted before it. If some
//    column was refused (conflict), op.hlc does not count either, so an op whose every column is refused
//    leaves the row exactly as it was (changed == false).
//  - Upsert on a delete-wins tombstone: refused as a whole; conflicts lists every column of the op (none
//    for a column-less upsert), conflict_on_tombstone = true, nothing changes.
//  - Delete (op.hlc = D): delete_hlc = max(delete_hlc, D). delete-wins: the row becomes a tombstone
//    whatever the HLCs (columns cleared). Other policies: every column with HLC <= delete_hlc is removed
//    (counters included: their totals are dropped), and the row is a tombstone iff
//    max(live_hlc, remaining column HLCs) <= delete_hlc. A delete of a never-seen row creates a tombstone
//    (exists, deleted, delete_hlc = D), so writes older than it that arrive later stay dead.
//  - A tombstone has no columns and live_hlc = {} (so its state does not depend on arrival order).
//    delete_hlc is kept after a resurrection: older writes stay dead.
//  - Versions: a column whose value or HLC changes gets ColumnState.version = `version`; if anything in the
//    row changes (changed == true), next.version = `version`. Removed columns vanish with their versions.
//  - Convergence: for lww columns, deletes and counters without deletes, the state after any order of the
//    same set of operations is the same except for the `version` fields. Counter totals combined with
//    lww deletes, manual and first-writer-wins depend on arrival order by nature (the server's order is
//    the truth; clients take the server's rows).
//  - Key columns are not in op.columns (the protocol carries them in op.key); ApplyOperation reads neither
//    op.key nor op.table: the caller finds the row and its TablePolicy.
#ifndef OUTPOST_MERGE_H_
#define OUTPOST_MERGE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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
  // The column's override, else the table's; kDeleteWins (as table or, invalidly, as override) means kLww.
  Policy ForColumn(const std::string& column) const;
  // INVALID_ARGUMENT if the table policy is kCounter or an override is kDeleteWins (config parsers call it).
  Status Validate() const;
  bool operator==(const TablePolicy&) const = default;
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
  // The latest HLC at which an applied upsert said the row exists (zero for tombstones). Stores persist it
  // with delete_hlc: it keeps a row live against an older delete even when the upsert carried no column
  // newer than that delete (e.g. a table whose only columns are its key).
  HlcTimestamp live_hlc;
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
  // The protocol answer is `conflict`: some column was refused, or the op hit a delete-wins tombstone (an
  // upsert without columns refused by a tombstone has an empty `conflicts`).
  bool conflict() const { return conflict_on_tombstone || !conflicts.empty(); }
};

// Applies one row operation (kind upsert or delete) to `current`. `version` is the version the store will
// assign if the outcome changes the row. The op's base_version tells which server state its writer had
// seen: a manual/first-writer-wins column whose ColumnState.version > base_version (or that exists when
// base_version is absent) was edited concurrently. Counter columns: the op's value must be an INTEGER delta,
// else INVALID_ARGUMENT (nothing applied). Any other kind, or a delete with columns: INVALID_ARGUMENT. On
// error *out is left untouched.
Status ApplyOperation(const TablePolicy& policy, const RowState& current, const protocol::Operation& op,
                      int64_t version, Outcome* out);

}  // namespace outpost::merge

#endif  // OUTPOST_MERGE_H_
