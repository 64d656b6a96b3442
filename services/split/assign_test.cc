#include "services/split/assign.h"

#include <cmath>
#include <map>
#include <set>

#include "common/util/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::split {
namespace {

using ::testing::HasSubstr;

table::Column Strings(const std::string& name, std::vector<std::string> v,
                      std::vector<bool> valid = {}) {
  table::Column c;
  c.name = name;
  c.type = table::ColumnType::kCategorical;
  for (size_t i = 0; i < v.size(); ++i)
    c.valid.PushBack(valid.empty() || valid[i]);
  c.strings = std::move(v);
  return c;
}

table::Column Numbers(const std::string& name, std::vector<double> v) {
  table::Column c;
  c.name = name;
  c.type = table::ColumnType::kNumeric;
  for (double x : v) c.valid.PushBack(!std::isnan(x));
  c.numbers = std::move(v);
  return c;
}

table::Column Times(const std::string& name, std::vector<int64_t> v) {
  table::Column c;
  c.name = name;
  c.type = table::ColumnType::kTimestamp;
  for (size_t i = 0; i < v.size(); ++i) c.valid.PushBack(true);
  c.timestamps = std::move(v);
  return c;
}

v1::SplitSpec Spec(const std::string& strategy,
                   std::vector<std::pair<std::string, double>> parts,
                   uint64_t seed = 42) {
  v1::SplitSpec s;
  s.set_dataset("d");
  s.set_strategy(strategy);
  s.set_seed(seed);
  for (const auto& [name, ratio] : parts) {
    auto* p = s.add_parts();
    p->set_name(name);
    p->set_ratio(ratio);
  }
  return s;
}

const std::vector<std::pair<std::string, double>> k3 = {
    {"train", 0.7}, {"eval", 0.15}, {"test", 0.15}};

struct Result {
  v1::SplitSpec spec;
  SplitInputs in;
  Assignment a;
  v1::Split split;
};

// Normalizes, reads `table` in chunks of `chunk` rows, assigns, summarizes.
Result MakeSplit(v1::SplitSpec spec, const table::Table& table,
                 size_t chunk = 1000) {
  Result r;
  auto s = NormalizeSpec(&spec);
  EXPECT_TRUE(s.ok()) << s;
  r.spec = spec;
  InputsBuilder b(spec);
  for (size_t begin = 0; begin < table.num_rows; begin += chunk) {
    size_t n = std::min(chunk, table.num_rows - begin);
    table::Table part;
    part.num_rows = n;
    for (const auto& c : table.columns)
      part.columns.push_back(c.Slice(begin, n));
    auto added = b.Add(part);
    EXPECT_TRUE(added.ok()) << added;
  }
  r.in = b.Finish();
  if (b.Columns().empty()) r.in.rows = static_cast<int64_t>(table.num_rows);
  auto a = Assign(spec, r.in);
  EXPECT_TRUE(a.ok()) << a.status();
  if (a.ok()) r.a = std::move(*a);
  Summarize(spec, r.in, r.a, &r.split);
  return r;
}

std::vector<int64_t> Sizes(const Assignment& a) {
  std::vector<int64_t> n(a.part_names.size());
  for (uint8_t p : a.parts)
    if (p != kNoPart) ++n[p];
  return n;
}

table::Table Empty(size_t rows) {
  table::Table t;
  t.num_rows = rows;
  return t;
}

// Labels with an imbalanced class mix: 60% a, 30% b, 10% c.
table::Table Labelled(size_t rows) {
  table::Table t;
  t.num_rows = rows;
  std::vector<std::string> labels;
  for (size_t i = 0; i < rows; ++i) {
    size_t m = (i * 7919) % 10;
    labels.push_back(m < 6 ? "a" : m < 9 ? "b" : "c");
  }
  t.columns.push_back(Strings("y", labels));
  return t;
}

TEST(ApportionTest, LargestRemainderWithinOneRow) {
  for (int64_t n : {0, 1, 2, 7, 10, 101, 4454}) {
    auto sizes = ApportionRows(n, {0.7, 0.15, 0.15});
    EXPECT_EQ(sizes[0] + sizes[1] + sizes[2], n);
    EXPECT_LE(std::abs(sizes[0] - 0.7 * n), 1.0);
    EXPECT_LE(std::abs(sizes[1] - 0.15 * n), 1.0);
  }
}

TEST(StratifiedCountsTest, EveryClassAndPartWithinOneRow) {
  // Many awkward class sizes: controlled rounding keeps both margins.
  std::vector<int64_t> classes = {1, 2, 3, 5, 7, 11, 13, 17, 19, 23, 1000, 3};
  std::vector<double> ratios = {0.7, 0.15, 0.15};
  auto counts = StratifiedCounts(classes, ratios);
  int64_t total = 0;
  std::vector<int64_t> part(3);
  for (size_t c = 0; c < classes.size(); ++c) {
    int64_t sum = 0;
    for (size_t p = 0; p < 3; ++p) {
      EXPECT_LT(std::abs(counts[c][p] - classes[c] * ratios[p]), 1.0)
          << "class " << c << " part " << p;
      sum += counts[c][p];
      part[p] += counts[c][p];
    }
    EXPECT_EQ(sum, classes[c]);
    total += classes[c];
  }
  for (size_t p = 0; p < 3; ++p)
    EXPECT_LT(std::abs(part[p] - total * ratios[p]), 1.0) << "part " << p;
}

TEST(NormalizeSpecTest, ErrorsNameTheField) {
  auto check = [](v1::SplitSpec s, const std::string& want) {
    auto st = NormalizeSpec(&s);
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
    EXPECT_THAT(st.ToString(), HasSubstr(want));
  };
  check(Spec("bogus", k3), "strategy: 'bogus' is unknown");
  check(Spec("random", {{"train", 0.7}, {"test", 0.2}}),
        "parts: ratios sum to 0.9");
  check(Spec("random", {{"train", 0.5}, {"train", 0.5}}), "given twice");
  check(Spec("random", {{"a", 0.25}, {"b", 0.25}, {"c", 0.25}, {"d", 0.25}}),
        "4 parts; give 2 or 3");
  check(Spec("random", {{"train", 1}}), "a single part needs folds");
  check(Spec("random", {{"train", 1.2}, {"test", -0.2}}), "parts[1].ratio");
  check(Spec("stratified", k3), "label: required");
  check(Spec("group", k3), "group_column: required");
  check(Spec("time", k3), "column: required by the time strategy");
  auto s = Spec("random", k3);
  s.set_folds(1);
  check(s, "folds: must be 0 (none) or 2..100");
  s = Spec("time", k3);
  s.set_column("t");
  s.add_cutoffs()->set_seconds(10);
  check(s, "3 parts need 2 cut-offs, not 1");
  s = Spec("random", k3);
  s.set_folds(5);
  s.set_fold_part("holdout");
  check(s, "fold_part: 'holdout' is not a part");
}

TEST(NormalizeSpecTest, DefaultsAndCanonicalOrder) {
  auto s = Spec("random", {{"test", 0.2}, {"zeta", 0.1}, {"train", 0.7}});
  ASSERT_TRUE(NormalizeSpec(&s).ok());
  EXPECT_EQ(s.parts(0).name(), "train");
  EXPECT_EQ(s.parts(1).name(), "test");
  EXPECT_EQ(s.parts(2).name(), "zeta");
  auto d = Spec("shuffled", {});
  ASSERT_TRUE(NormalizeSpec(&d).ok());
  ASSERT_EQ(d.parts_size(), 2);
  EXPECT_EQ(d.parts(0).ratio(), 0.8);
}

TEST(SequentialTest, SourceOrderExactSizes) {
  auto r = MakeSplit(Spec("sequential", k3), Empty(1001));
  EXPECT_EQ(Sizes(r.a), (std::vector<int64_t>{701, 150, 150}));
  for (size_t i = 1; i < r.a.parts.size(); ++i)
    EXPECT_LE(r.a.parts[i - 1], r.a.parts[i]);
}

TEST(RandomTest, SizesNearRatiosAndDeterministic) {
  auto r = MakeSplit(Spec("random", k3), Empty(100000));
  auto n = Sizes(r.a);
  EXPECT_NEAR(n[0] / 1e5, 0.7, 0.01);
  EXPECT_NEAR(n[1] / 1e5, 0.15, 0.01);
  auto again = MakeSplit(Spec("random", k3), Empty(100000));
  EXPECT_EQ(r.a.parts, again.a.parts);
  auto other = MakeSplit(Spec("random", k3, 43), Empty(100000));
  EXPECT_NE(r.a.parts, other.a.parts);
}

TEST(ShuffledTest, ExactSizesSeededPermutation) {
  auto r = MakeSplit(Spec("shuffled", k3), Empty(1000));
  EXPECT_EQ(Sizes(r.a), (std::vector<int64_t>{700, 150, 150}));
  EXPECT_EQ(r.a.parts, MakeSplit(Spec("shuffled", k3), Empty(1000)).a.parts);
  // Not the sequential order.
  EXPECT_NE(r.a.parts, MakeSplit(Spec("sequential", k3), Empty(1000)).a.parts);
}

TEST(DeterminismTest, SameOnEveryMachine) {
  // Golden values: the PRNG and hashes are fully specified (no std::
  // distributions), so these never change with the platform or compiler.
  auto r = MakeSplit(Spec("shuffled", k3, 7), Empty(20));
  std::string got;
  for (uint8_t p : r.a.parts) got += static_cast<char>('0' + p);
  auto random = MakeSplit(Spec("random", k3, 7), Empty(20));
  std::string got_random;
  for (uint8_t p : random.a.parts) got_random += static_cast<char>('0' + p);
  EXPECT_EQ(HashText("customer-17"), HashText("customer-17"));
  EXPECT_EQ(got, "20010002010000002001");
  EXPECT_EQ(got_random, "10220100000000012020");
  EXPECT_EQ(HashText("abc"), 0x29e32c04ec3f9c30ULL);
}

TEST(StratifiedTest, EveryClassWithinOneRowOfExactProportions) {
  auto spec = Spec("stratified", k3);
  spec.set_label("y");
  auto t = Labelled(10007);
  auto r = MakeSplit(spec, t);
  std::map<std::string, std::vector<int64_t>> per_class;
  std::map<std::string, int64_t> total;
  for (size_t i = 0; i < t.num_rows; ++i) {
    const std::string& y = t.columns[0].strings[i];
    per_class[y].resize(3);
    ++per_class[y][r.a.parts[i]];
    ++total[y];
  }
  for (const auto& [y, counts] : per_class) {
    for (int p = 0; p < 3; ++p) {
      EXPECT_LT(std::abs(counts[p] - total[y] * spec.parts(p).ratio()), 1.0)
          << "class " << y << " part " << p;
    }
  }
  auto n = Sizes(r.a);
  for (int p = 0; p < 3; ++p)
    EXPECT_LT(std::abs(n[p] - 10007 * r.spec.parts(p).ratio()), 1.0);
  EXPECT_EQ(r.split.label_kind(), "classes");
  EXPECT_EQ(r.split.warnings_size(), 0) << r.split.DebugString();
  // Class distribution is reported per part.
  ASSERT_EQ(r.split.parts(0).classes_size(), 3);
  EXPECT_EQ(r.split.parts(0).classes(0).value(), "a");
}

TEST(StratifiedTest, ContinuousLabelByDeciles) {
  table::Table t;
  t.num_rows = 5000;
  std::vector<double> y;
  for (int i = 0; i < 5000; ++i) y.push_back(std::sin(i) * 100 + i * 0.01);
  y[17] = NAN;
  t.columns.push_back(Numbers("price", y));
  auto spec = Spec("stratified", {{"train", 0.8}, {"test", 0.2}});
  spec.set_label("price");
  auto r = MakeSplit(spec, t);
  EXPECT_EQ(r.split.label_kind(), "continuous");
  EXPECT_EQ(r.a.parts[17], kNoPart);
  EXPECT_EQ(r.split.unassigned_rows(), 1);
  EXPECT_NEAR(r.split.parts(0).label_mean(), r.split.parts(1).label_mean(),
              0.05 * r.split.parts(0).label_stddev());
}

TEST(StratifiedTest, IntegralNumericLabelIsClasses) {
  table::Table t;
  t.num_rows = 100;
  std::vector<double> y;
  for (int i = 0; i < 100; ++i) y.push_back(i % 4 == 0 ? 1 : 0);
  t.columns.push_back(Numbers("y", y));
  auto spec = Spec("stratified", {{"train", 0.8}, {"test", 0.2}});
  spec.set_label("y");
  auto r = MakeSplit(spec, t);
  EXPECT_EQ(r.split.label_kind(), "classes");
  EXPECT_EQ(r.split.parts(1).classes(1).value(), "1");
  EXPECT_EQ(r.split.parts(1).classes(1).count(), 5);
}

table::Table Grouped(size_t rows) {
  table::Table t;
  t.num_rows = rows;
  std::vector<std::string> g;
  for (size_t i = 0; i < rows; ++i)
    g.push_back(StrCat("customer-", (i * 31) % (rows / 5 + 1)));
  t.columns.push_back(Strings("customer", g));
  return t;
}

TEST(GroupTest, NoGroupOnTwoSides) {
  auto spec = Spec("group", k3);
  spec.set_group_column("customer");
  auto t = Grouped(20000);
  auto r = MakeSplit(spec, t);
  std::map<std::string, std::set<uint8_t>> sides;
  for (size_t i = 0; i < t.num_rows; ++i)
    sides[t.columns[0].strings[i]].insert(r.a.parts[i]);
  for (const auto& [g, s] : sides) EXPECT_EQ(s.size(), 1u) << g;
  auto n = Sizes(r.a);
  EXPECT_NEAR(n[0] / 20000.0, 0.7, 0.02);
  for (const auto& w : r.split.warnings()) EXPECT_NE(w.code(), "group_leak");
}

TEST(GroupTest, LeakIsReportedForOtherStrategies) {
  auto spec = Spec("shuffled", k3);
  spec.set_group_column("customer");
  auto r = MakeSplit(spec, Grouped(2000));
  bool leak = false;
  for (const auto& w : r.split.warnings())
    if (w.code() == "group_leak") leak = true;
  EXPECT_TRUE(leak) << r.split.DebugString();
}

TEST(TimeTest, EarlierRowsBeforeLaterOnesTiesTogether) {
  table::Table t;
  t.num_rows = 1000;
  std::vector<int64_t> ts;
  for (int i = 0; i < 1000; ++i) ts.push_back(((i * 37) % 1000) / 4 * 1000000);
  t.columns.push_back(Times("t", ts));
  auto spec = Spec("time", k3);
  spec.set_column("t");
  auto r = MakeSplit(spec, t);
  // Every train time < every eval time < every test time.
  std::vector<int64_t> lo(3, INT64_MAX), hi(3, INT64_MIN);
  for (size_t i = 0; i < 1000; ++i) {
    lo[r.a.parts[i]] = std::min(lo[r.a.parts[i]], ts[i]);
    hi[r.a.parts[i]] = std::max(hi[r.a.parts[i]], ts[i]);
  }
  EXPECT_LT(hi[0], lo[1]);
  EXPECT_LT(hi[1], lo[2]);
  auto n = Sizes(r.a);
  EXPECT_NEAR(n[0], 700, 4);  // Ties come in fours.
}

TEST(TimeTest, Cutoffs) {
  table::Table t;
  t.num_rows = 100;
  std::vector<int64_t> ts;
  for (int i = 0; i < 100; ++i) ts.push_back(int64_t{i} * 1000000);
  t.columns.push_back(Times("t", ts));
  auto spec = Spec("time", {{"train", 0.5}, {"test", 0.5}});
  spec.set_column("t");
  spec.add_cutoffs()->set_seconds(90);  // [.., 90 s) train, [90 s, ..) test.
  auto r = MakeSplit(spec, t);
  EXPECT_EQ(Sizes(r.a), (std::vector<int64_t>{90, 10}));
  EXPECT_EQ(r.a.parts[89], 0);
  EXPECT_EQ(r.a.parts[90], 1);
  // The ratio is not met: the split comes with a warning.
  bool uneven = false;
  for (const auto& w : r.split.warnings()) uneven |= w.code() == "uneven";
  EXPECT_TRUE(uneven);
}

TEST(HashTest, StableWhenRowsAreAppended) {
  auto spec = Spec("hash", k3);
  spec.set_column("id");
  table::Table v1t;
  v1t.num_rows = 5000;
  std::vector<std::string> ids;
  for (int i = 0; i < 5000; ++i) ids.push_back(StrCat("id", i));
  v1t.columns.push_back(Strings("id", ids));
  auto before = MakeSplit(spec, v1t);
  // Version 2: the same rows plus 3000 new ones (some with old ids).
  for (int i = 0; i < 3000; ++i)
    ids.push_back(StrCat("id", i % 2 ? 9000 + i : i));
  table::Table v2t;
  v2t.num_rows = ids.size();
  v2t.columns.push_back(Strings("id", ids));
  auto after = MakeSplit(spec, v2t);
  for (size_t i = 0; i < 5000; ++i)
    ASSERT_EQ(before.a.parts[i], after.a.parts[i]) << "row " << i << " moved";
  // A key's part is the same wherever it appears.
  for (size_t i = 5000; i < ids.size(); ++i)
    if ((i - 5000) % 2 == 0) {
      EXPECT_EQ(after.a.parts[i], after.a.parts[i - 5000]);
    }
  auto n = Sizes(after.a);
  EXPECT_NEAR(n[0] / 8000.0, 0.7, 0.03);
}

TEST(ExplicitTest, ColumnNamesThePart) {
  table::Table t;
  t.num_rows = 6;
  t.columns.push_back(Strings("fold",
                              {"test", "train", "train", "eval", "", "train"},
                              {true, true, true, true, false, true}));
  auto spec = Spec("explicit", {});
  spec.set_column("fold");
  auto r = MakeSplit(spec, t);
  EXPECT_EQ(r.a.part_names,
            (std::vector<std::string>{"train", "eval", "test"}));
  EXPECT_EQ(r.a.parts, (std::vector<uint8_t>{2, 0, 0, 1, kNoPart, 0}));
  EXPECT_EQ(r.split.unassigned_rows(), 1);

  // A value that is not one of the named parts is an error naming it.
  auto named = Spec("explicit", {{"train", 0}, {"test", 0}});
  named.set_column("fold");
  ASSERT_TRUE(NormalizeSpec(&named).ok());
  InputsBuilder b(named);
  ASSERT_TRUE(b.Add(t).ok());
  auto in = b.Finish();
  auto a = Assign(named, in);
  EXPECT_TRUE(absl::IsInvalidArgument(a.status()));
  EXPECT_THAT(a.status().ToString(), HasSubstr("the value 'eval'"));
}

TEST(WarningsTest, CraftedUnevenSplit) {
  // 40 rows, one rare class of 2 rows, a 0.9/0.05/0.05 stratified split:
  // small parts, a class missing from one, and a shifted label mix.
  table::Table t;
  t.num_rows = 40;
  std::vector<std::string> y;
  for (int i = 0; i < 40; ++i) y.push_back(i < 2 ? "rare" : i < 20 ? "a" : "b");
  t.columns.push_back(Strings("y", y));
  auto spec =
      Spec("stratified", {{"train", 0.9}, {"eval", 0.05}, {"test", 0.05}});
  spec.set_label("y");
  auto r = MakeSplit(spec, t);
  std::set<std::string> codes;
  for (const auto& w : r.split.warnings())
    codes.insert(w.code() + ":" + w.part());
  EXPECT_TRUE(codes.contains("small_part:eval")) << r.split.DebugString();
  EXPECT_TRUE(codes.contains("small_part:test"));
  EXPECT_TRUE(codes.contains("missing_class:eval") ||
              codes.contains("missing_class:test"));
  EXPECT_TRUE(codes.contains("label_shift:eval") ||
              codes.contains("label_shift:test"));
  // The split is still made.
  EXPECT_EQ(Sizes(r.a)[0], 36);

  // An empty part.
  auto tiny =
      MakeSplit(Spec("sequential", {{"train", 0.9}, {"test", 0.1}}), Empty(5));
  bool empty = false;
  for (const auto& w : tiny.split.warnings()) empty |= w.code() == "empty_part";
  EXPECT_TRUE(empty) << tiny.split.DebugString();
}

void ExpectFoldsPartition(const Result& r, int k, uint8_t fold_part) {
  std::vector<int64_t> per_fold(k);
  for (size_t i = 0; i < r.a.parts.size(); ++i) {
    if (r.a.parts[i] == fold_part) {
      ASSERT_LT(r.a.folds[i], k)
          << "row " << i << " of the fold part has no fold";
      ++per_fold[r.a.folds[i]];
    } else {
      EXPECT_EQ(r.a.folds[i], kNoFold);
    }
  }
  int64_t total = 0;
  for (int64_t n : per_fold) total += n;
  for (int64_t n : per_fold)
    EXPECT_NEAR(static_cast<double>(n), static_cast<double>(total) / k,
                std::max(1.0, total * 0.05));
}

TEST(FoldsTest, DisjointAndCoveringForEveryStrategy) {
  auto t = Labelled(3000);
  t.columns.push_back(Grouped(3000).columns[0]);
  std::vector<int64_t> ts;
  for (int i = 0; i < 3000; ++i) ts.push_back(i * 1000);
  t.columns.push_back(Times("t", ts));
  for (std::string strategy : {"sequential", "random", "shuffled", "stratified",
                               "group", "time", "hash"}) {
    SCOPED_TRACE(strategy);
    auto spec = Spec(strategy, {{"train", 0.8}, {"test", 0.2}});
    spec.set_folds(5);
    spec.set_label("y");
    spec.set_group_column("customer");
    if (strategy == "time") spec.set_column("t");
    if (strategy == "hash") spec.set_column("customer");
    auto r = MakeSplit(spec, t);
    ASSERT_EQ(r.a.folds.size(), 3000u);
    ExpectFoldsPartition(r, 5, 0);
    ASSERT_EQ(r.split.parts(0).fold_rows_size(), 5);
  }
  // Stratified folds: every class within one row per fold.
  auto spec = Spec("stratified", {{"train", 1}});
  spec.set_folds(4);
  spec.set_label("y");
  auto r = MakeSplit(spec, t);
  std::map<std::pair<std::string, int>, int64_t> n;
  std::map<std::string, int64_t> total;
  for (size_t i = 0; i < 3000; ++i) {
    ++n[{t.columns[0].strings[i], r.a.folds[i]}];
    ++total[t.columns[0].strings[i]];
  }
  for (const auto& [key, count] : n)
    EXPECT_LE(std::abs(count - total[key.first] / 4.0), 1.0);
}

TEST(InputsTest, WrongColumnsAreNamed) {
  auto spec = Spec("time", k3);
  spec.set_column("y");
  ASSERT_TRUE(NormalizeSpec(&spec).ok());
  InputsBuilder b(spec);
  auto s = b.Add(Labelled(10));
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.ToString(), HasSubstr("column: 'y' is categorical"));
  auto missing = Spec("hash", k3);
  missing.set_column("nope");
  ASSERT_TRUE(NormalizeSpec(&missing).ok());
  InputsBuilder b2(missing);
  EXPECT_THAT(b2.Add(Labelled(10)).ToString(),
              HasSubstr("column: no column 'nope'"));
}

}  // namespace
}  // namespace mlpipe::split
