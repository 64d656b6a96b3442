// InputsBuilder (assign.h): the columns a split reads, compacted as chunks
// of rows stream in.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "common/table/typing.h"
#include "common/util/hash.h"
#include "common/util/strings.h"
#include "services/split/assign.h"
#include "services/split/assign_internal.h"

namespace mlpipe::split {
namespace {

using internal::Bad;

// The text of row r (numbers as JavaScript prints them), for hashing and
// naming.
std::string ValueText(const table::Column& c, size_t r) {
  if (table::IsStringType(c.type)) return c.strings[r];
  std::string out;
  if (c.type == table::ColumnType::kNumeric) {
    table::AppendNumber(c.numbers[r], &out);
  } else if (c.type == table::ColumnType::kTimestamp) {
    out = std::to_string(c.timestamps[r]);
  }
  return out;
}

}  // namespace

uint64_t HashText(std::string_view text) { return StableHash(text); }

InputsBuilder::InputsBuilder(const v1::SplitSpec& spec) : spec_(spec) {}

std::vector<std::string> InputsBuilder::Columns() const {
  std::vector<std::string> out;
  auto add = [&out](const std::string& c) {
    if (!c.empty() && std::find(out.begin(), out.end(), c) == out.end())
      out.push_back(c);
  };
  add(spec_.label());
  const std::string& s = spec_.strategy();
  if (s == "time" || s == "hash" || s == "explicit") add(spec_.column());
  add(spec_.group_column());
  return out;
}

absl::Status InputsBuilder::Add(const table::Table& chunk) {
  const size_t n = chunk.num_rows;
  auto find =
      [&](const std::string& field,
          const std::string& name) -> absl::StatusOr<const table::Column*> {
    int i = chunk.Find(name);
    if (i < 0) return Bad(field, StrCat("no column '", name, "' in the data"));
    return &chunk.columns[i];
  };
  if (!spec_.label().empty()) {
    auto c = find("label", spec_.label());
    if (!c.ok()) return c.status();
    if (absl::Status added = AddLabel(**c, n); !added.ok()) return added;
  }
  const std::string& s = spec_.strategy();
  if (s == "time" || s == "hash" || s == "explicit") {
    auto c = find("column", spec_.column());
    if (!c.ok()) return c.status();
    if (absl::Status added = AddColumn(**c, n); !added.ok()) return added;
  }
  if (!spec_.group_column().empty()) {
    auto c = find("group_column", spec_.group_column());
    if (!c.ok()) return c.status();
    AddGroup(**c, n);
  }
  in_.rows += static_cast<int64_t>(n);
  return absl::OkStatus();
}

absl::Status InputsBuilder::AddLabel(const table::Column& col, size_t n) {
  if (col.type == table::ColumnType::kTimestamp)
    return Bad("label", StrCat("'", col.name, "' is a timestamp column"));
  if (col.type == table::ColumnType::kNumeric) {
    if (!label_codes_.empty())
      return Bad("label", StrCat("'", col.name, "' changes type"));
    label_numeric_ = true;
  } else if (table::IsStringType(col.type) && label_numeric_) {
    return Bad("label", StrCat("'", col.name, "' changes type"));
  }
  for (size_t r = 0; r < n; ++r) {
    if (label_numeric_) {
      in_.label_value.push_back(col.type == table::ColumnType::kNumeric &&
                                        col.IsValid(r)
                                    ? col.numbers[r]
                                    : std::numeric_limits<double>::quiet_NaN());
    } else if (!col.IsValid(r) || !table::IsStringType(col.type)) {
      in_.label_class.push_back(-1);
    } else {
      auto [it, added] = label_codes_.try_emplace(
          col.strings[r], static_cast<int32_t>(label_codes_.size()));
      if (added) in_.classes.push_back(col.strings[r]);
      in_.label_class.push_back(it->second);
    }
  }
  return absl::OkStatus();
}

absl::Status InputsBuilder::AddColumn(const table::Column& col, size_t n) {
  const std::string& s = spec_.strategy();
  if (s == "time" && (table::IsStringType(col.type))) {
    return Bad("column",
               StrCat("'", col.name, "' is ", table::ColumnTypeName(col.type),
                      "; time needs a timestamp or numeric column"));
  }
  if (s == "time" && !spec_.cutoffs().empty() &&
      col.type == table::ColumnType::kNumeric)
    return Bad("cutoffs",
               StrCat("need a timestamp column; '", col.name, "' is numeric"));
  for (size_t r = 0; r < n; ++r) {
    bool valid = col.type != table::ColumnType::kUnknown && col.IsValid(r);
    in_.column_valid.push_back(valid);
    if (s == "time") {
      in_.order.push_back(!valid ? 0
                          : col.type == table::ColumnType::kTimestamp
                              ? static_cast<double>(col.timestamps[r])
                              : col.numbers[r]);
    } else if (s == "hash") {
      in_.key.push_back(valid ? HashText(ValueText(col, r)) : 0);
    } else {
      int32_t code = -1;
      if (valid) {
        std::string text = ValueText(col, r);
        auto [it, added] = name_codes_.try_emplace(
            text, static_cast<int32_t>(name_codes_.size()));
        if (added) {
          if (name_codes_.size() > kMaxParts)
            return Bad("column",
                       StrCat("'", col.name, "' has more than ", kMaxParts,
                              " distinct values; an explicit split "
                              "column names parts"));
          in_.names.push_back(text);
        }
        code = it->second;
      }
      in_.named.push_back(code);
    }
  }
  return absl::OkStatus();
}

void InputsBuilder::AddGroup(const table::Column& col, size_t n) {
  for (size_t r = 0; r < n; ++r) {
    bool valid = col.type != table::ColumnType::kUnknown && col.IsValid(r);
    in_.group_valid.push_back(valid);
    in_.group.push_back(valid ? HashText(ValueText(col, r)) : 0);
  }
}

SplitInputs InputsBuilder::Finish() {
  if (!spec_.label().empty()) {
    if (label_numeric_) {
      std::map<double, int32_t> distinct;
      bool classes = true;
      for (double v : in_.label_value) {
        if (std::isnan(v)) continue;
        if (v != std::floor(v)) {
          classes = false;
          break;
        }
        distinct.emplace(v, 0);
        if (distinct.size() > kMaxNumericClasses) {
          classes = false;
          break;
        }
      }
      if (classes && !distinct.empty()) {
        in_.label_kind = "classes";
        int32_t i = 0;
        for (auto& [v, code] : distinct) {
          code = i++;
          std::string name;
          table::AppendNumber(v, &name);
          in_.classes.push_back(name);
        }
        in_.label_class.reserve(in_.label_value.size());
        for (double v : in_.label_value)
          in_.label_class.push_back(std::isnan(v) ? -1 : distinct[v]);
        in_.label_value.clear();
      } else {
        in_.label_kind = "continuous";
      }
    } else {
      in_.label_kind = "classes";
      // Classes in name order, whatever order they were seen in.
      std::vector<int32_t> order(in_.classes.size());
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [this](int32_t a, int32_t b) {
        return in_.classes[a] < in_.classes[b];
      });
      std::vector<int32_t> remap(order.size());
      std::vector<std::string> sorted;
      for (size_t i = 0; i < order.size(); ++i) {
        remap[order[i]] = static_cast<int32_t>(i);
        sorted.push_back(in_.classes[order[i]]);
      }
      in_.classes = std::move(sorted);
      for (int32_t& c : in_.label_class)
        if (c >= 0) c = remap[c];
    }
  }
  return std::move(in_);
}

}  // namespace mlpipe::split
