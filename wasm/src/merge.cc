// Merge rules (wasm/include/outpost/merge.h states them exactly; docs/conflicts.md for users). One function
// per operation kind; the per-column policies are small functions that say whether a write is refused,
// applied or ignored.
#include "outpost/merge.h"

#include <algorithm>
#include <array>
#include <utility>

namespace outpost::merge {
namespace {

constexpr std::array<std::pair<Policy, std::string_view>, 5> kNames = {{
    {Policy::kLww, "lww"},
    {Policy::kManual, "manual"},
    {Policy::kFirstWriterWins, "first-writer-wins"},
    {Policy::kDeleteWins, "delete-wins"},
    {Policy::kCounter, "counter"},
}};

Status Invalid(std::string message) { return Status::Error("INVALID_ARGUMENT", std::move(message)); }

bool HasDelete(const RowState& row) { return row.deleted || row.delete_hlc != HlcTimestamp{}; }

// A write at `hlc` lost to the row's delete for good (ties go to the delete).
bool Dead(const RowState& row, const HlcTimestamp& hlc) { return HasDelete(row) && hlc <= row.delete_hlc; }

// Did the writer, who had seen server state `base_version`, miss a change of `column`?
bool Concurrent(const ColumnState& column, const std::optional<int64_t>& base_version) {
  return !base_version || column.version > *base_version;
}

// Every counter column's delta is an INTEGER and, unless it is dead, adds to an INTEGER (or NULL) total
// without overflow.
Status CheckCounters(const TablePolicy& policy, const RowState& row, const protocol::Operation& op) {
  for (const auto& [name, incoming] : op.columns) {
    if (policy.ForColumn(name) != Policy::kCounter) continue;
    const int64_t* delta = std::get_if<int64_t>(&incoming.value);
    if (delta == nullptr) {
      return Invalid("Counter column '" + name + "' takes an INTEGER delta (the amount to add), not another " +
                     "type of value. Write increments as integers.");
    }
    if (Dead(row, incoming.hlc)) continue;  // dropped: no total to add to
    const auto it = row.columns.find(name);
    if (it == row.columns.end() || std::holds_alternative<std::monostate>(it->second.value)) continue;
    const int64_t* total = std::get_if<int64_t>(&it->second.value);
    if (total == nullptr) {
      return Invalid("Counter column '" + name + "' holds a non-INTEGER value, so a delta cannot be added; " +
                     "reset the column to an integer (or NULL) before counting.");
    }
    int64_t sum;
    if (__builtin_add_overflow(*total, *delta, &sum)) {
      return Invalid("Adding " + std::to_string(*delta) + " to counter column '" + name +
                     "' overflows a 64-bit integer.");
    }
  }
  return Status::OK();
}

// Sets `column` to (value, hlc) at `version` if that changes it.
void Write(ColumnState& column, const Value& value, const HlcTimestamp& hlc, int64_t version) {
  if (column.value == value && column.hlc == hlc) return;
  column = ColumnState{value, hlc, version};
}

// Applies one column of an upsert to `next` (the row being built). Returns false if the write is refused
// as a conflict; a write that is stale (older HLC, dead) is ignored and returns true.
bool ApplyColumn(Policy policy, const std::string& name, const protocol::ColumnValue& incoming,
                 const std::optional<int64_t>& base_version, int64_t version, RowState& next) {
  const auto it = next.columns.find(name);
  const ColumnState* column = it == next.columns.end() ? nullptr : &it->second;
  switch (policy) {
    case Policy::kCounter: {
      // CheckCounters made sure the delta is an INTEGER, the total INTEGER or NULL, and the sum fits.
      const int64_t* total = column == nullptr ? nullptr : std::get_if<int64_t>(&column->value);
      const HlcTimestamp hlc = column == nullptr ? incoming.hlc : std::max(column->hlc, incoming.hlc);
      Write(next.columns[name], (total ? *total : 0) + std::get<int64_t>(incoming.value), hlc, version);
      return true;
    }
    case Policy::kManual:
      if (column != nullptr && column->value != incoming.value && Concurrent(*column, base_version)) return false;
      break;
    case Policy::kFirstWriterWins:
      if (column != nullptr && !std::holds_alternative<std::monostate>(column->value) &&
          column->value != incoming.value && Concurrent(*column, base_version)) {
        return false;
      }
      break;
    case Policy::kLww:
    case Policy::kDeleteWins:  // not a column policy; ForColumn never returns it
      break;
  }
  if (column == nullptr || incoming.hlc > column->hlc) Write(next.columns[name], incoming.value, incoming.hlc, version);
  return true;
}

void Upsert(const TablePolicy& policy, const RowState& current, const protocol::Operation& op, int64_t version,
            Outcome* out) {
  RowState& next = out->next;
  if (current.deleted && policy.table == Policy::kDeleteWins) {
    out->conflict_on_tombstone = true;
    for (const auto& [name, incoming] : op.columns) out->conflicts.push_back(name);
    return;
  }
  next.exists = true;
  HlcTimestamp row_hlc{};  // the latest time this op says the row exists, from the writes not refused
  for (const auto& [name, incoming] : op.columns) {
    if (Dead(current, incoming.hlc)) continue;
    if (!ApplyColumn(policy.ForColumn(name), name, incoming, op.base_version, version, next)) {
      out->conflicts.push_back(name);
      continue;
    }
    row_hlc = std::max(row_hlc, incoming.hlc);
  }
  if (out->conflicts.empty()) row_hlc = std::max(row_hlc, op.hlc);
  if (Dead(current, row_hlc)) return;  // every write is older than the delete: the tombstone stays
  next.deleted = false;
  next.live_hlc = std::max(next.live_hlc, row_hlc);
}

void Delete(const TablePolicy& policy, const protocol::Operation& op, Outcome* out) {
  RowState& next = out->next;
  next.exists = true;
  next.delete_hlc = std::max(next.delete_hlc, op.hlc);
  std::erase_if(next.columns, [&](const auto& entry) { return entry.second.hlc <= next.delete_hlc; });
  HlcTimestamp live = next.live_hlc;  // also the surviving columns: right even if a store lost live_hlc
  for (const auto& [name, column] : next.columns) live = std::max(live, column.hlc);
  if (policy.table == Policy::kDeleteWins || live <= next.delete_hlc) {
    next.deleted = true;
    next.columns.clear();
    next.live_hlc = HlcTimestamp{};
  }
}

}  // namespace

Status ParsePolicy(std::string_view name, Policy* out) {
  for (const auto& [policy, text] : kNames) {
    if (name == text) {
      *out = policy;
      return Status::OK();
    }
  }
  return Invalid("Unknown merge policy '" + std::string(name.substr(0, 64)) +
                 "'; expected lww, manual, first-writer-wins, delete-wins or counter.");
}

std::string_view PolicyName(Policy p) {
  for (const auto& [policy, text] : kNames) {
    if (policy == p) return text;
  }
  return "lww";
}

Policy TablePolicy::ForColumn(const std::string& column) const {
  const auto it = columns.find(column);
  const Policy p = it == columns.end() ? table : it->second;
  return p == Policy::kDeleteWins ? Policy::kLww : p;
}

Status TablePolicy::Validate() const {
  if (table == Policy::kCounter) {
    return Invalid("'counter' is a column policy, not a table policy; set it on the counter columns.");
  }
  for (const auto& [name, policy] : columns) {
    if (policy == Policy::kDeleteWins) {
      return Invalid("'delete-wins' is a table policy, not a column policy (column '" + name + "').");
    }
  }
  return Status::OK();
}

Status ApplyOperation(const TablePolicy& policy, const RowState& current, const protocol::Operation& op,
                      int64_t version, Outcome* out) {
  const bool upsert = op.kind == protocol::kUpsert;
  if (!upsert && op.kind != protocol::kDelete) {
    return Invalid("Operation kind '" + op.kind.substr(0, 64) + "' is not a row operation (upsert or delete).");
  }
  if (!upsert && !op.columns.empty()) return Invalid("A delete operation carries no columns.");
  if (upsert) {
    if (Status s = CheckCounters(policy, current, op); !s.ok()) return s;
  }

  Outcome outcome;
  outcome.next = current;
  if (upsert) {
    Upsert(policy, current, op, version, &outcome);
  } else {
    Delete(policy, op, &outcome);
  }
  outcome.changed = outcome.next != current;
  if (outcome.changed) outcome.next.version = version;
  *out = std::move(outcome);
  return Status::OK();
}

}  // namespace outpost::merge
