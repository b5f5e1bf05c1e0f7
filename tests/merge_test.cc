// Merge rules: every policy's rule on hand-made rows, then a seeded randomized property test that applies
// random operation sets (several devices, one with a clock years ahead) in many orders, with replays
// skipped by operation id as the server does, and checks convergence and each policy's promise.
#include "outpost/merge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace outpost::merge {
namespace {

using protocol::ColumnValue;
using protocol::Operation;

constexpr uint64_t kNode = 0xa1;
constexpr int64_t kNow = 1'720'000'000'000;  // 2024-07-03, Unix ms

HlcTimestamp Ts(int64_t ms, uint64_t node = kNode) { return HlcTimestamp{kNow + ms, 0, node}; }

struct Col {
  std::string name;
  Value value;
  HlcTimestamp hlc;
};

Operation Upsert(HlcTimestamp hlc, std::vector<Col> columns, std::optional<int64_t> base = std::nullopt) {
  Operation op;
  op.id = "op";
  op.kind = std::string(protocol::kUpsert);
  op.hlc = hlc;
  op.table = "t";
  op.key = {{"id", Value{std::string("r1")}}};
  for (auto& c : columns) op.columns[c.name] = ColumnValue{c.value, c.hlc};
  op.base_version = base;
  return op;
}

// An upsert whose columns are all written at the op's HLC (what a single local edit produces).
Operation Edit(HlcTimestamp hlc, std::vector<std::pair<std::string, Value>> values,
               std::optional<int64_t> base = std::nullopt) {
  std::vector<Col> columns;
  for (auto& [name, value] : values) columns.push_back(Col{name, value, hlc});
  return Upsert(hlc, std::move(columns), base);
}

Operation Delete(HlcTimestamp hlc, std::optional<int64_t> base = std::nullopt) {
  Operation op = Upsert(hlc, {}, base);
  op.kind = std::string(protocol::kDelete);
  return op;
}

TablePolicy Table(Policy table, std::map<std::string, Policy> columns = {}) { return TablePolicy{table, columns}; }

Outcome Apply(const TablePolicy& policy, const RowState& row, const Operation& op, int64_t version) {
  Outcome out;
  Status s = ApplyOperation(policy, row, op, version, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// Applies `ops` in order from a never-seen row, the store's way: version n+1 for the n-th change.
RowState ApplyAll(const TablePolicy& policy, const std::vector<Operation>& ops, RowState row = {}) {
  for (const Operation& op : ops) {
    Outcome out = Apply(policy, row, op, row.version + 1);
    row = out.next;
  }
  return row;
}

Value I(int64_t v) { return Value{v}; }
Value S(const char* s) { return Value{std::string(s)}; }
const Value kNull{};

// A row as text, for failure messages (gtest would print raw bytes).
std::string Describe(const RowState& row) {
  std::ostringstream os;
  os << "{exists " << row.exists << ", deleted " << row.deleted << ", delete_hlc " << Hlc::Encode(row.delete_hlc)
     << ", live_hlc " << Hlc::Encode(row.live_hlc) << ", version " << row.version << ", columns {";
  for (const auto& [name, c] : row.columns) {
    os << name << ": ";
    if (std::holds_alternative<std::monostate>(c.value)) os << "NULL";
    if (const int64_t* i = std::get_if<int64_t>(&c.value)) os << *i;
    if (const double* d = std::get_if<double>(&c.value)) os << *d;
    if (const std::string* text = std::get_if<std::string>(&c.value)) os << '"' << *text << '"';
    if (const Blob* b = std::get_if<Blob>(&c.value)) os << "blob(" << b->bytes.size() << ")";
    os << " @" << Hlc::Encode(c.hlc) << " v" << c.version << "; ";
  }
  os << "}}";
  return os.str();
}

// --- policies ------------------------------------------------------------------------------------------

TEST(MergePolicy, ParsesAndNamesEveryPolicy) {
  for (Policy p : {Policy::kLww, Policy::kManual, Policy::kFirstWriterWins, Policy::kDeleteWins, Policy::kCounter}) {
    Policy parsed = Policy::kLww;
    ASSERT_TRUE(ParsePolicy(PolicyName(p), &parsed).ok()) << PolicyName(p);
    EXPECT_EQ(parsed, p);
  }
  EXPECT_EQ(PolicyName(Policy::kFirstWriterWins), "first-writer-wins");
  Policy untouched = Policy::kCounter;
  Status s = ParsePolicy("LWW", &untouched);
  EXPECT_EQ(s.code(), "INVALID_ARGUMENT");
  EXPECT_NE(s.message().find("'LWW'"), std::string::npos) << s.message();
  EXPECT_EQ(untouched, Policy::kCounter);
  EXPECT_EQ(ParsePolicy("", &untouched).code(), "INVALID_ARGUMENT");
}

TEST(MergePolicy, ColumnOverridesTheTableAndDeleteWinsColumnsAreLww) {
  TablePolicy p = Table(Policy::kDeleteWins, {{"likes", Policy::kCounter}, {"owner", Policy::kFirstWriterWins}});
  EXPECT_EQ(p.ForColumn("likes"), Policy::kCounter);
  EXPECT_EQ(p.ForColumn("owner"), Policy::kFirstWriterWins);
  EXPECT_EQ(p.ForColumn("title"), Policy::kLww);
  EXPECT_EQ(Table(Policy::kManual).ForColumn("title"), Policy::kManual);
  EXPECT_TRUE(p.Validate().ok());
  EXPECT_EQ(Table(Policy::kCounter).Validate().code(), "INVALID_ARGUMENT");
  TablePolicy bad = Table(Policy::kLww, {{"title", Policy::kDeleteWins}});
  EXPECT_EQ(bad.Validate().code(), "INVALID_ARGUMENT");
  EXPECT_EQ(bad.ForColumn("title"), Policy::kLww);
}

TEST(Merge, RejectsNonRowOperationsAndDeletesWithColumns) {
  Operation custom = Edit(Ts(1), {});
  custom.kind = "http.post";
  Outcome out;
  out.changed = true;  // must stay untouched on error
  EXPECT_EQ(ApplyOperation(Table(Policy::kLww), {}, custom, 1, &out).code(), "INVALID_ARGUMENT");
  Operation del = Delete(Ts(1));
  del.columns["a"] = ColumnValue{I(1), Ts(1)};
  EXPECT_EQ(ApplyOperation(Table(Policy::kLww), {}, del, 1, &out).code(), "INVALID_ARGUMENT");
  EXPECT_TRUE(out.changed);
}

// --- lww ---------------------------------------------------------------------------------------------

TEST(MergeLww, UpsertOfANewRowCreatesItWithVersions) {
  Outcome out = Apply(Table(Policy::kLww), {}, Edit(Ts(10), {{"a", S("x")}, {"b", kNull}}), 7);
  EXPECT_TRUE(out.changed);
  EXPECT_FALSE(out.conflict());
  EXPECT_TRUE(out.next.exists);
  EXPECT_FALSE(out.next.deleted);
  EXPECT_EQ(out.next.version, 7);
  EXPECT_EQ(out.next.live_hlc, Ts(10));
  EXPECT_EQ(out.next.columns.at("a"), (ColumnState{S("x"), Ts(10), 7}));
  EXPECT_EQ(out.next.columns.at("b"), (ColumnState{kNull, Ts(10), 7}));
}

TEST(MergeLww, UpsertWithoutColumnsCreatesAnEmptyLiveRow) {
  Outcome out = Apply(Table(Policy::kLww), {}, Edit(Ts(10), {}), 1);
  EXPECT_TRUE(out.changed);
  EXPECT_TRUE(out.next.exists);
  EXPECT_FALSE(out.next.deleted);
  EXPECT_TRUE(out.next.columns.empty());
  EXPECT_EQ(out.next.version, 1);
}

TEST(MergeLww, HigherHlcWinsPerColumnAndOnlyChangedColumnsGetTheVersion) {
  RowState row = ApplyAll(Table(Policy::kLww), {Edit(Ts(10), {{"a", S("a1")}, {"b", S("b1")}})});
  // Column a newer, column b older than what the row holds.
  Outcome out = Apply(Table(Policy::kLww), row, Upsert(Ts(20), {{"a", S("a2"), Ts(20)}, {"b", S("b0"), Ts(5)}}), 2);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(out.next.columns.at("a"), (ColumnState{S("a2"), Ts(20), 2}));
  EXPECT_EQ(out.next.columns.at("b"), (ColumnState{S("b1"), Ts(10), 1}));
  EXPECT_EQ(out.next.version, 2);

  // Arriving late, the older write changes nothing at all.
  Outcome late = Apply(Table(Policy::kLww), out.next, Edit(Ts(15), {{"a", S("stale")}}), 3);
  EXPECT_FALSE(late.changed);
  EXPECT_EQ(late.next, out.next);
  EXPECT_FALSE(late.conflict());

  // The node breaks a tie of wall time and counter.
  Outcome tie = Apply(Table(Policy::kLww), out.next, Edit(Ts(20, kNode + 1), {{"a", S("a3")}}), 4);
  EXPECT_EQ(tie.next.columns.at("a").value, S("a3"));
}

TEST(MergeLww, TheSameWriteTwiceChangesNothing) {
  const Operation op = Edit(Ts(10), {{"a", S("x")}});
  RowState row = ApplyAll(Table(Policy::kLww), {op});
  Outcome again = Apply(Table(Policy::kLww), row, op, 2);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.next, row);
  // Equal HLC means the same write, even if the value were different: idempotent, no change.
  Outcome same_hlc = Apply(Table(Policy::kLww), row, Edit(Ts(10), {{"a", S("y")}}), 2);
  EXPECT_FALSE(same_hlc.changed);
  EXPECT_EQ(same_hlc.next.columns.at("a").value, S("x"));
}

TEST(MergeLww, DeleteOfANeverSeenRowCreatesATombstoneThatKeepsOlderWritesDead) {
  Outcome del = Apply(Table(Policy::kLww), {}, Delete(Ts(20)), 1);
  EXPECT_TRUE(del.changed);
  EXPECT_TRUE(del.next.exists);
  EXPECT_TRUE(del.next.deleted);
  EXPECT_EQ(del.next.delete_hlc, Ts(20));
  EXPECT_EQ(del.next.version, 1);

  // A write made before the delete arrives after it: dead, nothing changes.
  Outcome older = Apply(Table(Policy::kLww), del.next, Edit(Ts(10), {{"a", S("x")}}), 2);
  EXPECT_FALSE(older.changed);
  EXPECT_TRUE(older.next.deleted);
  EXPECT_FALSE(older.conflict());
}

TEST(MergeLww, DeleteBeatsOlderColumnsAndLosesToNewerOnes) {
  const TablePolicy lww = Table(Policy::kLww);
  RowState row = ApplyAll(lww, {Edit(Ts(10), {{"a", S("a1")}, {"b", S("b1")}}), Edit(Ts(30), {{"b", S("b2")}})});
  // A delete at 20: column a (10) dies; b (30) was written after the delete and keeps the row live.
  Outcome out = Apply(lww, row, Delete(Ts(20)), 3);
  EXPECT_TRUE(out.changed);
  EXPECT_FALSE(out.next.deleted);
  EXPECT_EQ(out.next.delete_hlc, Ts(20));
  EXPECT_EQ(out.next.columns.size(), 1u);
  EXPECT_EQ(out.next.columns.at("b").value, S("b2"));
  // A delete after everything: tombstone with no columns.
  Outcome gone = Apply(lww, out.next, Delete(Ts(40)), 4);
  EXPECT_TRUE(gone.next.deleted);
  EXPECT_TRUE(gone.next.columns.empty());
  EXPECT_EQ(gone.next.delete_hlc, Ts(40));
  EXPECT_EQ(gone.next.live_hlc, HlcTimestamp{});
  // An older delete arriving late changes nothing; a write at the delete's HLC loses (ties go to delete).
  EXPECT_FALSE(Apply(lww, gone.next, Delete(Ts(35)), 5).changed);
  EXPECT_FALSE(Apply(lww, gone.next, Edit(Ts(40), {{"a", S("tie")}}), 5).changed);
}

TEST(MergeLww, ANewerUpsertResurrectsWithOnlyTheColumnsWrittenAfterTheDelete) {
  const TablePolicy lww = Table(Policy::kLww);
  RowState row = ApplyAll(lww, {Edit(Ts(10), {{"a", S("a1")}, {"b", S("b1")}}), Delete(Ts(20))});
  ASSERT_TRUE(row.deleted);
  // A compacted op: a written at 30 (after the delete), b at 15 (before it).
  Outcome out = Apply(lww, row, Upsert(Ts(30), {{"a", S("a2"), Ts(30)}, {"b", S("b0"), Ts(15)}}), 3);
  EXPECT_TRUE(out.changed);
  EXPECT_FALSE(out.next.deleted);
  EXPECT_EQ(out.next.delete_hlc, Ts(20));  // kept: older writes stay dead
  EXPECT_EQ(out.next.columns.size(), 1u);
  EXPECT_EQ(out.next.columns.at("a"), (ColumnState{S("a2"), Ts(30), 3}));
  // b, written before the delete, stays dead after the resurrection too.
  Outcome late = Apply(lww, out.next, Edit(Ts(18), {{"b", S("late")}}), 4);
  EXPECT_FALSE(late.changed);
  EXPECT_FALSE(late.next.columns.contains("b"));
  // Written after the delete, it comes back.
  EXPECT_EQ(Apply(lww, out.next, Edit(Ts(25), {{"b", S("b3")}}), 4).next.columns.at("b").value, S("b3"));
}

TEST(MergeLww, KeyOnlyRowsAreResurrectedByAColumnlessUpsertInAnyOrder) {
  const TablePolicy lww = Table(Policy::kLww);
  const Operation insert = Edit(Ts(10), {}), del = Delete(Ts(20)), reinsert = Edit(Ts(30), {}),
                  late_del = Delete(Ts(25));
  RowState a = ApplyAll(lww, {insert, del, reinsert, late_del});
  RowState b = ApplyAll(lww, {late_del, reinsert, del, insert});
  EXPECT_FALSE(a.deleted);
  EXPECT_FALSE(b.deleted);
  EXPECT_EQ(a.delete_hlc, Ts(25));
  EXPECT_EQ(a.live_hlc, Ts(30));
  EXPECT_EQ(a.live_hlc, b.live_hlc);
  EXPECT_TRUE(ApplyAll(lww, {insert, del}).deleted);
}

// --- delete-wins -----------------------------------------------------------------------------------------

TEST(MergeDeleteWins, ATombstoneIsFinal) {
  const TablePolicy dw = Table(Policy::kDeleteWins);
  RowState row = ApplyAll(dw, {Edit(Ts(10), {{"a", S("a1")}}), Delete(Ts(20))});
  ASSERT_TRUE(row.deleted);
  Outcome out = Apply(dw, row, Edit(Ts(30), {{"a", S("a2")}, {"b", S("b2")}}), 3);
  EXPECT_FALSE(out.changed);
  EXPECT_EQ(out.next, row);
  EXPECT_TRUE(out.conflict_on_tombstone);
  EXPECT_TRUE(out.conflict());
  EXPECT_EQ(out.conflicts, (std::vector<std::string>{"a", "b"}));
  // A column-less upsert is refused too; it has no columns to list.
  Outcome empty = Apply(dw, row, Edit(Ts(30), {}), 3);
  EXPECT_FALSE(empty.changed);
  EXPECT_TRUE(empty.conflict());
  EXPECT_TRUE(empty.conflicts.empty());
}

TEST(MergeDeleteWins, ADeleteOlderThanTheDataStillDeletesAndLiveRowsAreLww) {
  const TablePolicy dw = Table(Policy::kDeleteWins);
  RowState row =
      ApplyAll(dw, {Edit(Ts(10), {{"a", S("a1")}}), Edit(Ts(30), {{"a", S("a2")}}), Edit(Ts(20), {{"a", S("stale")}})});
  EXPECT_EQ(row.columns.at("a").value, S("a2"));
  Outcome out = Apply(dw, row, Delete(Ts(5)), 4);
  EXPECT_TRUE(out.changed);
  EXPECT_TRUE(out.next.deleted);
  EXPECT_TRUE(out.next.columns.empty());
  EXPECT_EQ(out.next.delete_hlc, Ts(5));
}

// --- counter -----------------------------------------------------------------------------------------

TEST(MergeCounter, DeltasAddUpAndTheHlcIsTheLatest) {
  const TablePolicy p = Table(Policy::kLww, {{"n", Policy::kCounter}});
  RowState row = ApplyAll(p, {Edit(Ts(10), {{"n", I(5)}}), Edit(Ts(30), {{"n", I(-2)}})});
  EXPECT_EQ(row.columns.at("n"), (ColumnState{I(3), Ts(30), 2}));
  // A concurrent, older increment still adds; the HLC stays the latest.
  Outcome out = Apply(p, row, Edit(Ts(20), {{"n", I(4)}}), 3);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(out.next.columns.at("n"), (ColumnState{I(7), Ts(30), 3}));
  // NULL counts as 0.
  RowState null_row = ApplyAll(Table(Policy::kLww), {Edit(Ts(10), {{"n", kNull}})});
  EXPECT_EQ(Apply(p, null_row, Edit(Ts(20), {{"n", I(4)}}), 2).next.columns.at("n").value, I(4));
}

TEST(MergeCounter, ANonIntegerDeltaOrAnOverflowAppliesNothing) {
  const TablePolicy p = Table(Policy::kLww, {{"n", Policy::kCounter}});
  RowState row = ApplyAll(p, {Edit(Ts(10), {{"n", I(std::numeric_limits<int64_t>::max() - 1)}})});
  Outcome out;
  for (const Value& bad : {Value{1.5}, S("1"), kNull, Value{Blob{{1}}}}) {
    Status s = ApplyOperation(p, row, Edit(Ts(20), {{"a", S("x")}, {"n", bad}}), 2, &out);
    EXPECT_EQ(s.code(), "INVALID_ARGUMENT");
    EXPECT_NE(s.message().find("'n'"), std::string::npos) << s.message();
  }
  EXPECT_FALSE(out.changed);  // untouched
  EXPECT_EQ(ApplyOperation(p, row, Edit(Ts(20), {{"n", I(2)}}), 2, &out).code(), "INVALID_ARGUMENT");
  EXPECT_TRUE(ApplyOperation(p, row, Edit(Ts(20), {{"n", I(1)}}), 2, &out).ok());
  // A total that is not an INTEGER (the column was not always a counter) cannot take deltas.
  RowState text = ApplyAll(Table(Policy::kLww), {Edit(Ts(10), {{"n", S("ten")}})});
  EXPECT_EQ(ApplyOperation(p, text, Edit(Ts(20), {{"n", I(1)}}), 2, &out).code(), "INVALID_ARGUMENT");
}

TEST(MergeCounter, DeltasOlderThanADeleteAreDroppedAndNewerOnesStartAgain) {
  const TablePolicy p = Table(Policy::kLww, {{"n", Policy::kCounter}});
  RowState row = ApplyAll(p, {Edit(Ts(10), {{"n", I(5)}}), Delete(Ts(20))});
  EXPECT_TRUE(row.deleted);
  EXPECT_FALSE(Apply(p, row, Edit(Ts(15), {{"n", I(3)}}), 3).changed);
  // Dropped or not, a malformed delta is malformed.
  Outcome out_of_date;
  EXPECT_EQ(ApplyOperation(p, row, Edit(Ts(15), {{"n", S("3")}}), 3, &out_of_date).code(), "INVALID_ARGUMENT");
  Outcome out = Apply(p, row, Edit(Ts(25), {{"n", I(3)}}), 3);
  EXPECT_FALSE(out.next.deleted);
  EXPECT_EQ(out.next.columns.at("n"), (ColumnState{I(3), Ts(25), 3}));
}

// --- manual ------------------------------------------------------------------------------------------

TEST(MergeManual, AConcurrentEditIsAConflictAndTheOtherColumnsStillApply) {
  const TablePolicy p = Table(Policy::kManual, {{"tags", Policy::kLww}});
  RowState row = ApplyAll(p, {Edit(Ts(10), {{"title", S("t1")}}), Edit(Ts(20), {{"title", S("t2")}}, 1)});
  ASSERT_EQ(row.columns.at("title").version, 2);
  // Written by someone who had seen version 1 only.
  Outcome out = Apply(p, row, Edit(Ts(30), {{"title", S("mine")}, {"tags", S("x")}}, 1), 3);
  EXPECT_EQ(out.conflicts, (std::vector<std::string>{"title"}));
  EXPECT_FALSE(out.conflict_on_tombstone);
  EXPECT_TRUE(out.changed);  // tags applied
  EXPECT_EQ(out.next.columns.at("title"), (ColumnState{S("t2"), Ts(20), 2}));
  EXPECT_EQ(out.next.columns.at("tags").value, S("x"));
}

TEST(MergeManual, AWriterThatSawTheLatestVersionOverwrites) {
  const TablePolicy p = Table(Policy::kManual);
  RowState row = ApplyAll(p, {Edit(Ts(10), {{"title", S("t1")}}), Edit(Ts(20), {{"title", S("t2")}}, 1)});
  Outcome out = Apply(p, row, Edit(Ts(30), {{"title", S("t3")}}, 2), 3);
  EXPECT_FALSE(out.conflict());
  EXPECT_EQ(out.next.columns.at("title"), (ColumnState{S("t3"), Ts(30), 3}));
  // A newer base than the column's version is fine too (another column changed since).
  EXPECT_FALSE(Apply(p, row, Edit(Ts(30), {{"title", S("t3")}}, 9), 3).conflict());
}

TEST(MergeManual, WithoutABaseVersionAnExistingDifferentValueConflicts) {
  const TablePolicy p = Table(Policy::kManual);
  RowState row = ApplyAll(p, {Edit(Ts(10), {{"title", S("t1")}, {"body", kNull}})});
  Outcome out = Apply(p, row, Edit(Ts(20), {{"title", S("other")}, {"body", S("b")}, {"new", S("n")}}), 2);
  EXPECT_EQ(out.conflicts, (std::vector<std::string>{"body", "title"}));  // a NULL that exists is a value too
  EXPECT_EQ(out.next.columns.at("new").value, S("n"));                    // absent before: no concurrent edit
  EXPECT_EQ(out.next.columns.at("title").value, S("t1"));
}

TEST(MergeManual, TheSameValueIsNotAConflictAndAnOlderHlcNeverOverwrites) {
  const TablePolicy p = Table(Policy::kManual);
  RowState row = ApplyAll(p, {Edit(Ts(20), {{"title", S("t1")}})});
  Outcome same = Apply(p, row, Edit(Ts(30), {{"title", S("t1")}}), 2);
  EXPECT_FALSE(same.conflict());
  EXPECT_EQ(same.next.columns.at("title"), (ColumnState{S("t1"), Ts(30), 2}));  // HLC refreshed
  // The writer saw the latest version but its HLC is older: not a conflict, not applied either.
  Outcome older = Apply(p, row, Edit(Ts(10), {{"title", S("t0")}}, 1), 2);
  EXPECT_FALSE(older.conflict());
  EXPECT_FALSE(older.changed);
}

TEST(MergeManual, AnOpWhoseEveryColumnIsRefusedLeavesTheRowAlone) {
  const TablePolicy p = Table(Policy::kManual);
  RowState row = ApplyAll(p, {Edit(Ts(10), {{"title", S("t1")}})});
  Outcome out = Apply(p, row, Edit(Ts(50), {{"title", S("other")}}), 2);
  EXPECT_TRUE(out.conflict());
  EXPECT_FALSE(out.changed);
  EXPECT_EQ(out.next, row);  // live_hlc not advanced by the refused op
}

// --- first-writer-wins -------------------------------------------------------------------------------

TEST(MergeFirstWriterWins, TheFirstValueStaysAgainstWritersThatHadNotSeenIt) {
  const TablePolicy p = Table(Policy::kLww, {{"owner", Policy::kFirstWriterWins}});
  RowState row = ApplyAll(p, {Edit(Ts(10), {{"owner", kNull}})});
  // NULL holds no value: the first writer claims the column.
  Outcome first = Apply(p, row, Edit(Ts(20), {{"owner", S("ann")}}, 1), 2);
  EXPECT_FALSE(first.conflict());
  EXPECT_EQ(first.next.columns.at("owner"), (ColumnState{S("ann"), Ts(20), 2}));
  // Bob had seen version 1 (owner NULL): his later claim conflicts, the value stays.
  Outcome bob = Apply(p, first.next, Edit(Ts(30), {{"owner", S("bob")}}, 1), 3);
  EXPECT_EQ(bob.conflicts, (std::vector<std::string>{"owner"}));
  EXPECT_FALSE(bob.changed);
  // Without a base version too; the same value is not a conflict.
  EXPECT_TRUE(Apply(p, first.next, Edit(Ts(30), {{"owner", S("bob")}}), 3).conflict());
  EXPECT_FALSE(Apply(p, first.next, Edit(Ts(30), {{"owner", S("ann")}}), 3).conflict());
  // Someone who had seen ann's claim (version 2) may hand the row over.
  Outcome handover = Apply(p, first.next, Edit(Ts(30), {{"owner", S("cy")}}, 2), 3);
  EXPECT_FALSE(handover.conflict());
  EXPECT_EQ(handover.next.columns.at("owner").value, S("cy"));
}

TEST(MergeFirstWriterWins, ANewRowTakesTheFirstArrivingValue) {
  const TablePolicy p = Table(Policy::kFirstWriterWins);
  // The later writer (HLC 20) arrives first and wins: arrival order decides, not the HLC.
  RowState row = ApplyAll(p, {Edit(Ts(20), {{"slot", S("late")}})});
  Outcome out = Apply(p, row, Edit(Ts(10), {{"slot", S("early")}}), 2);
  EXPECT_TRUE(out.conflict());
  EXPECT_EQ(out.next.columns.at("slot").value, S("late"));
}

// --- property test -----------------------------------------------------------------------------------

// Random operation sets on one row from several devices, one of them with a clock three years ahead.
class OpSetGenerator {
 public:
  struct Options {
    std::string counter_column;  // empty: none
    double delete_rate = 0.2;
    bool null_values = true;
    std::vector<std::string> lww_columns = {"a", "b", "c"};
  };

  OpSetGenerator(uint64_t seed, Options options) : rng_(seed), options_(std::move(options)) {}

  std::vector<Operation> Generate() {
    const int devices = 2 + Pick(3);
    std::vector<Hlc> clocks;
    std::vector<int64_t> offsets;
    for (int d = 0; d < devices; ++d) {
      clocks.emplace_back(0x1000 + d);
      offsets.push_back(d == 0 ? 3 * 365LL * 24 * 3600 * 1000 : static_cast<int64_t>(Pick(2000)) - 1000);
    }
    std::vector<Operation> ops;
    const int count = 1 + Pick(12);
    int64_t real = kNow;
    for (int i = 0; i < count; ++i) {
      real += Pick(5000);
      const int d = Pick(devices);
      const int64_t wall = real + offsets[d];
      if (Pick(4) == 0) {  // the device pulled another's write: receive its HLC (drift-clamped)
        const Operation* seen = ops.empty() ? nullptr : &ops[Pick(static_cast<int>(ops.size()))];
        HlcTimestamp ignored;
        if (seen != nullptr) (void)clocks[d].Receive(seen->hlc, wall, &ignored);
      }
      Operation op;
      if (Chance(options_.delete_rate)) {
        op = Delete(clocks[d].Now(wall));
      } else {
        std::vector<Col> columns;
        for (const std::string& name : options_.lww_columns) {
          if (Chance(0.5)) columns.push_back(Col{name, RandomValue(), clocks[d].Now(wall)});
        }
        if (!options_.counter_column.empty() && Chance(0.6)) {
          columns.push_back(
              Col{options_.counter_column, I(static_cast<int64_t>(Pick(201)) - 100), clocks[d].Now(wall)});
        }
        // Columns stamped one by one, the op after them (a compacted op's shape); sometimes no column at all.
        op = Upsert(clocks[d].Now(wall), std::move(columns));
      }
      op.id = "op-" + std::to_string(i);
      ops.push_back(std::move(op));
    }
    return ops;
  }

  // A delivery order: every op once, some replayed later (the server skips those by id).
  std::vector<const Operation*> Order(const std::vector<Operation>& ops) {
    std::vector<const Operation*> order;
    for (const Operation& op : ops) order.push_back(&op);
    std::shuffle(order.begin(), order.end(), rng_);
    const size_t n = order.size();
    for (size_t i = 0; i < n; ++i) {
      if (Chance(0.3)) order.insert(order.begin() + Pick(static_cast<int>(order.size()) + 1), order[i]);
    }
    return order;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  Value RandomValue() {
    switch (Pick(options_.null_values ? 3 : 2)) {
      case 0:
        return I(Pick(1000));
      case 1:
        return Value{"v" + std::to_string(Pick(1000))};
      default:
        return kNull;
    }
  }

  std::mt19937_64 rng_;
  Options options_;
};

struct Delivery {
  RowState row;
  std::vector<std::string> applied;  // op ids in the order they were applied (replays skipped)
};

// Delivers `order` as the server would: an id seen before is a duplicate and is not applied again.
Delivery Deliver(const TablePolicy& policy, const std::vector<const Operation*>& order) {
  Delivery d;
  std::set<std::string> seen;
  int64_t version = 0;
  for (const Operation* op : order) {
    if (!seen.insert(op->id).second) continue;
    Outcome out;
    Status s = ApplyOperation(policy, d.row, *op, version + 1, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (out.changed) {
      ++version;
      EXPECT_EQ(out.next.version, version);
    } else {
      EXPECT_EQ(out.next, d.row);
    }
    d.row = out.next;
    d.applied.push_back(op->id);
  }
  return d;
}

// The row without its order-dependent version numbers.
RowState WithoutVersions(RowState row) {
  row.version = 0;
  for (auto& [name, column] : row.columns) column.version = 0;
  return row;
}

// What lww (with deletes) must converge to, computed from the op set alone.
RowState LwwOracle(const std::vector<Operation>& ops) {
  RowState row;
  row.exists = !ops.empty();
  std::optional<HlcTimestamp> deleted_at, live_at;
  for (const Operation& op : ops) {
    if (op.kind == protocol::kDelete) {
      deleted_at = std::max(deleted_at.value_or(op.hlc), op.hlc);
      continue;
    }
    HlcTimestamp row_hlc = op.hlc;
    for (const auto& [name, cv] : op.columns) {
      row_hlc = std::max(row_hlc, cv.hlc);
      auto [it, inserted] = row.columns.try_emplace(name, ColumnState{cv.value, cv.hlc, 0});
      if (!inserted && cv.hlc > it->second.hlc) it->second = ColumnState{cv.value, cv.hlc, 0};
    }
    live_at = std::max(live_at.value_or(row_hlc), row_hlc);
  }
  if (deleted_at) {
    row.delete_hlc = *deleted_at;
    std::erase_if(row.columns, [&](const auto& entry) { return entry.second.hlc <= *deleted_at; });
  }
  row.deleted = deleted_at && (!live_at || *live_at <= *deleted_at);
  row.live_hlc = row.deleted || !live_at ? HlcTimestamp{} : *live_at;
  return row;
}

uint64_t BaseSeed() {
  const char* env = std::getenv("OUTPOST_MERGE_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20261122;
}

constexpr int kOpSets = 400;
constexpr int kOrders = 25;

// Runs `check(ops, generator)` for kOpSets seeded op sets; a failure names the seed to rerun with.
template <class Check>
void ForEachOpSet(const OpSetGenerator::Options& options, Check check) {
  const uint64_t base = BaseSeed();
  for (int i = 0; i < kOpSets; ++i) {
    const uint64_t seed = base + i;
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun this set first with OUTPOST_MERGE_SEED=" + std::to_string(seed) + ")");
    OpSetGenerator gen(seed, options);
    const std::vector<Operation> ops = gen.Generate();
    check(ops, gen);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(MergeProperty, LwwConvergesToTheHighestHlcPerColumnInEveryOrder) {
  const TablePolicy lww = Table(Policy::kLww);
  ForEachOpSet({}, [&](const std::vector<Operation>& ops, OpSetGenerator& gen) {
    const RowState expected = LwwOracle(ops);
    for (int k = 0; k < kOrders; ++k) {
      const RowState got = WithoutVersions(Deliver(lww, gen.Order(ops)).row);
      ASSERT_EQ(got.deleted, expected.deleted) << "order " << k;
      ASSERT_TRUE(got == expected) << "order " << k << ": " << Describe(got) << "\nbut the highest-HLC oracle says "
                                   << Describe(expected);
    }
  });
}

TEST(MergeProperty, DeleteWinsRowsStayDeletedInEveryOrder) {
  const TablePolicy dw = Table(Policy::kDeleteWins, {{"n", Policy::kCounter}});
  ForEachOpSet({"n", 0.15}, [&](const std::vector<Operation>& ops, OpSetGenerator& gen) {
    const bool any_delete =
        std::any_of(ops.begin(), ops.end(), [](const Operation& op) { return op.kind == protocol::kDelete; });
    std::optional<RowState> first;
    for (int k = 0; k < kOrders; ++k) {
      const RowState got = WithoutVersions(Deliver(dw, gen.Order(ops)).row);
      ASSERT_EQ(got.deleted, any_delete) << "order " << k;
      if (any_delete) {
        ASSERT_TRUE(got.columns.empty()) << "order " << k;
      }
      if (!first) first = got;
      ASSERT_TRUE(got == *first) << "order " << k << ": " << Describe(got) << "\nbut order 0 gave " << Describe(*first);
    }
  });
}

TEST(MergeProperty, CountersAddEveryDeltaOnceInEveryOrder) {
  const TablePolicy p = Table(Policy::kLww, {{"n", Policy::kCounter}});
  ForEachOpSet({"n", 0}, [&](const std::vector<Operation>& ops, OpSetGenerator& gen) {
    int64_t sum = 0;
    std::optional<HlcTimestamp> latest;
    for (const Operation& op : ops) {
      if (auto it = op.columns.find("n"); it != op.columns.end()) {
        sum += std::get<int64_t>(it->second.value);
        latest = std::max(latest.value_or(it->second.hlc), it->second.hlc);
      }
    }
    std::optional<RowState> first;
    for (int k = 0; k < kOrders; ++k) {
      const RowState got = WithoutVersions(Deliver(p, gen.Order(ops)).row);
      if (latest) {
        ASSERT_EQ(got.columns.at("n").value, I(sum)) << "order " << k;
        ASSERT_EQ(Hlc::Encode(got.columns.at("n").hlc), Hlc::Encode(*latest)) << "order " << k;
      } else {
        ASSERT_FALSE(got.columns.contains("n"));
      }
      if (!first) first = got;
      ASSERT_TRUE(got == *first) << "order " << k << ": " << Describe(got) << "\nbut order 0 gave " << Describe(*first);
    }
  });
}

TEST(MergeProperty, FirstWriterWinsKeepsTheFirstAppliedValue) {
  const TablePolicy fww = Table(Policy::kFirstWriterWins);
  ForEachOpSet({"", 0, false}, [&](const std::vector<Operation>& ops, OpSetGenerator& gen) {
    std::map<std::string, const Operation*> by_id;
    for (const Operation& op : ops) by_id[op.id] = &op;
    for (int k = 0; k < kOrders; ++k) {
      const Delivery d = Deliver(fww, gen.Order(ops));
      std::map<std::string, Value> first;
      for (const std::string& id : d.applied) {
        for (const auto& [name, cv] : by_id.at(id)->columns) first.try_emplace(name, cv.value);
      }
      ASSERT_EQ(d.row.columns.size(), first.size()) << "order " << k;
      for (const auto& [name, value] : first) {
        ASSERT_EQ(d.row.columns.at(name).value, value) << "order " << k << ", column " << name;
      }
    }
  });
}

}  // namespace
}  // namespace outpost::merge
