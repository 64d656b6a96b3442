#include "common/table/frame_codec.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "common/util/strings.h"

namespace mlpipe::table {
namespace {

// Writes the n values (value(i) for valid rows) as dictionary + codes when
// at most half of them are distinct (one small string per distinct value
// instead of one per row). Returns false, writing nothing, when that would
// not pay.
uint64_t Load32Le(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  if constexpr (std::endian::native == std::endian::big)
    v = __builtin_bswap32(v);
  return v;
}

// A value of up to 7 bytes as one integer: byte i of the value is byte i
// of the key (least significant first), the length is byte 7. Loads that
// overlap, not a copy byte by byte (which stalls the load that follows).
uint64_t ShortKey(std::string_view v) {
  const size_t n = v.size();
  const char* p = v.data();
  uint64_t key = uint64_t{n} << 56;
  if (n >= 4) {
    key |= Load32Le(p) | Load32Le(p + n - 4) << (8 * (n - 4));
  } else if (n > 0) {
    key |= uint64_t{static_cast<uint8_t>(p[0])} |
           uint64_t{static_cast<uint8_t>(p[n / 2])} << (8 * (n / 2)) |
           uint64_t{static_cast<uint8_t>(p[n - 1])} << (8 * (n - 1));
  }
  return key;
}

template <typename ValueAt>
bool EncodeDictionary(size_t n, const Bitmap& valid, ValueAt value,
                      v1::Column* out) {
  if (n < 16) return false;
  // Values of up to 7 bytes (most categories) are looked up as one integer
  // (the bytes and the length): no string hashing or comparing.
  absl::flat_hash_map<uint64_t, uint32_t> short_index;
  absl::flat_hash_map<std::string_view, uint32_t> index;
  std::vector<std::string_view> entries;
  std::vector<uint32_t> codes(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (!valid.Get(i)) continue;
    const std::string_view v = value(i);
    const auto next = static_cast<uint32_t>(entries.size());
    std::pair<uint32_t*, bool> found;
    if (v.size() < 8) {
      auto [it, added] = short_index.try_emplace(ShortKey(v), next);
      found = {&it->second, added};
    } else {
      auto [it, added] = index.try_emplace(v, next);
      found = {&it->second, added};
    }
    if (found.second) {
      entries.push_back(v);
      if (entries.size() > n / 2) return false;
    }
    codes[i] = *found.first;
  }
  auto* dict = out->mutable_dictionary();
  dict->Reserve(static_cast<int>(entries.size()));
  for (std::string_view e : entries) dict->Add()->assign(e);
  out->mutable_codes()->Add(codes.begin(), codes.end());
  return true;
}

// Writes NUMERIC values as bits when every one is +0 or 1 (missing entries
// are 0) and there are enough rows for it to matter.
bool EncodeBits(const std::vector<double>& numbers, v1::Column* out) {
  const size_t n = numbers.size();
  if (n < 64) return false;
  std::string bits((n + 7) / 8, '\0');
  for (size_t i = 0; i < n; ++i) {
    const double v = numbers[i];
    if (v == 1.0) {
      bits[i >> 3] = static_cast<char>(bits[i >> 3] | (1 << (i & 7)));
    } else if (v != 0.0 || std::signbit(v)) {
      return false;
    }
  }
  out->set_bits(std::move(bits));
  return true;
}

// Writes NUMERIC values as integers when every one is a whole number
// within +-2^53 (exact as a double) and none is -0.
bool EncodeIntegers(const std::vector<double>& numbers, v1::Column* out) {
  constexpr double kMax = 9007199254740992.0;  // 2^53
  for (double v : numbers) {
    if (!(std::fabs(v) <= kMax) || v != std::trunc(v) ||
        (v == 0 && std::signbit(v)))
      return false;
  }
  auto* ints = out->mutable_integers();
  ints->Reserve(static_cast<int>(numbers.size()));
  for (double v : numbers) ints->AddAlreadyReserved(static_cast<int64_t>(v));
  return true;
}

void EncodeTimestampDeltas(const std::vector<int64_t>& timestamps,
                           const Bitmap& valid, v1::Column* out) {
  auto* deltas = out->mutable_timestamp_deltas();
  deltas->Reserve(static_cast<int>(timestamps.size()));
  uint64_t last = 0;  // Unsigned: differences wrap instead of overflowing.
  for (size_t i = 0; i < timestamps.size(); ++i) {
    uint64_t delta = 0;
    if (valid.Get(i)) {
      delta = static_cast<uint64_t>(timestamps[i]) - last;
      last = static_cast<uint64_t>(timestamps[i]);
    }
    deltas->AddAlreadyReserved(static_cast<int64_t>(delta));
  }
}

template <typename C>
void Fill(C&& c, v1::Column* out, bool compact = false) {
  out->set_name(c.name);
  out->set_type(static_cast<v1::ColumnType>(c.type));
  out->set_timestamp_format(c.timestamp_format);
  if (!c.valid.AllSet()) out->set_validity(c.valid.ToBytes());
  switch (c.type) {
    case ColumnType::kNumeric:
      if (EncodeBits(c.numbers, out)) break;
      if (compact && EncodeIntegers(c.numbers, out)) break;
      out->mutable_numbers()->Add(c.numbers.begin(), c.numbers.end());
      break;
    case ColumnType::kTimestamp:
      if (compact) {
        EncodeTimestampDeltas(c.timestamps, c.valid, out);
        break;
      }
      out->mutable_timestamps()->Add(c.timestamps.begin(), c.timestamps.end());
      break;
    case ColumnType::kCategorical:
    case ColumnType::kText: {
      if (EncodeDictionary(
              c.strings.size(), c.valid,
              [&](size_t i) -> std::string_view { return c.strings[i]; }, out))
        break;
      auto* s = out->mutable_strings();
      s->Reserve(static_cast<int>(c.strings.size()));
      for (auto& v : c.strings) {
        if constexpr (std::is_rvalue_reference_v<C&&>) {
          s->Add(std::move(v));
        } else {
          s->Add(std::string(v));
        }
      }
      break;
    }
    case ColumnType::kUnknown:
      // Every value is missing; only the (empty) validity travels.
      if (c.valid.size() > 0 && out->validity().empty()) {
        out->set_validity(c.valid.ToBytes());
      }
      break;
  }
}

}  // namespace

void ColumnToProto(const Column& column, v1::Column* out) { Fill(column, out); }

void StringColumnToProto(const Column& c,
                         absl::FunctionRef<std::string_view(size_t)> value,
                         v1::Column* out) {
  out->set_name(c.name);
  out->set_type(static_cast<v1::ColumnType>(c.type));
  if (!c.valid.AllSet()) out->set_validity(c.valid.ToBytes());
  const size_t n = c.size();
  if (EncodeDictionary(n, c.valid, value, out)) return;
  auto* s = out->mutable_strings();
  s->Reserve(static_cast<int>(n));
  for (size_t i = 0; i < n; ++i)
    s->Add()->assign(c.valid.Get(i) ? value(i) : std::string_view());
}
void ColumnToProto(Column&& column, v1::Column* out) {
  Fill(std::move(column), out);
}
void ColumnToStoredProto(Column&& column, v1::Column* out) {
  Fill(std::move(column), out, /*compact=*/true);
}

absl::StatusOr<Column> ColumnFromProto(v1::Column&& in, size_t n) {
  Column c;
  c.name = std::move(*in.mutable_name());
  int type = in.type();
  if (type < 0 || type > static_cast<int>(ColumnType::kText)) {
    return absl::InvalidArgumentError(
        StrCat("column '", c.name, "': unknown type ", type));
  }
  c.type = static_cast<ColumnType>(type);
  c.timestamp_format = std::move(*in.mutable_timestamp_format());
  auto bad = [&](std::string_view what, size_t got) {
    return absl::InvalidArgumentError(StrCat("column '", c.name, "': ", what,
                                             " has ", got, " entries for ", n,
                                             " rows"));
  };
  // The values sent must cover the n rows claimed before anything is
  // allocated for them.
  const bool coded = in.codes_size() > 0 || in.dictionary_size() > 0;
  const size_t bytes = (n + 7) / 8;
  if (!in.validity().empty() && in.validity().size() != bytes)
    return bad("validity (bytes)", in.validity().size());
  switch (c.type) {
    case ColumnType::kNumeric:
      if (!in.bits().empty() &&
          (in.bits().size() != bytes || in.numbers_size() != 0 ||
           in.integers_size() != 0))
        return bad("bits (bytes)", in.bits().size());
      if (in.integers_size() > 0 &&
          (static_cast<size_t>(in.integers_size()) != n ||
           in.numbers_size() != 0))
        return bad("integers", in.integers_size());
      if (in.bits().empty() && in.integers_size() == 0 &&
          static_cast<size_t>(in.numbers_size()) != n)
        return bad("numbers", in.numbers_size());
      break;
    case ColumnType::kTimestamp:
      if (in.timestamp_deltas_size() > 0 &&
          (static_cast<size_t>(in.timestamp_deltas_size()) != n ||
           in.timestamps_size() != 0))
        return bad("timestamp_deltas", in.timestamp_deltas_size());
      if (in.timestamp_deltas_size() == 0 &&
          static_cast<size_t>(in.timestamps_size()) != n)
        return bad("timestamps", in.timestamps_size());
      break;
    case ColumnType::kCategorical:
    case ColumnType::kText:
      if (coded && static_cast<size_t>(in.codes_size()) != n)
        return bad("codes", in.codes_size());
      if (!coded && static_cast<size_t>(in.strings_size()) != n)
        return bad("strings", in.strings_size());
      break;
    case ColumnType::kUnknown:
      break;
  }
  if (in.validity().empty()) {
    c.valid.Resize(n, c.type != ColumnType::kUnknown);
  } else {
    c.valid = Bitmap::FromBytes(in.validity(), n);
  }
  switch (c.type) {
    case ColumnType::kNumeric:
      if (!in.bits().empty()) {
        c.numbers.resize(n);
        for (size_t i = 0; i < n; ++i) c.numbers[i] = NumberAt(in, i);
        break;
      }
      if (in.integers_size() > 0) {
        c.numbers.assign(in.integers().begin(), in.integers().end());
        break;
      }
      c.numbers.assign(in.numbers().begin(), in.numbers().end());
      break;
    case ColumnType::kTimestamp:
      if (in.timestamp_deltas_size() > 0) {
        c.timestamps.resize(n);
        uint64_t last = 0;
        for (size_t i = 0; i < n; ++i) {
          last +=
              static_cast<uint64_t>(in.timestamp_deltas(static_cast<int>(i)));
          c.timestamps[i] = c.valid.Get(i) ? static_cast<int64_t>(last) : 0;
        }
        break;
      }
      c.timestamps.assign(in.timestamps().begin(), in.timestamps().end());
      break;
    case ColumnType::kCategorical:
    case ColumnType::kText:
      if (coded) {
        c.strings.resize(n);
        const auto& dict = in.dictionary();
        for (size_t i = 0; i < n; ++i) {
          if (!c.valid.Get(i)) continue;
          uint32_t code = in.codes(static_cast<int>(i));
          if (code >= static_cast<uint32_t>(dict.size())) {
            return absl::InvalidArgumentError(
                StrCat("column '", c.name, "': code ", code, " at row ", i,
                       " is outside the dictionary of ", dict.size()));
          }
          c.strings[i] = dict.Get(static_cast<int>(code));
        }
        break;
      }
      c.strings.reserve(n);
      for (auto& s : *in.mutable_strings()) c.strings.push_back(std::move(s));
      break;
    case ColumnType::kUnknown:
      if (c.valid.CountSet() != 0) {
        return absl::InvalidArgumentError(
            StrCat("column '", c.name, "': has values but no type"));
      }
      break;
  }
  return c;
}

void TableToFrame(const Table& table, v1::Frame* out) {
  out->set_num_rows(static_cast<int64_t>(table.num_rows));
  for (const auto& c : table.columns) ColumnToProto(c, out->add_columns());
}

absl::StatusOr<Table> TableFromFrame(v1::Frame&& frame) {
  if (frame.num_rows() < 0 || frame.num_rows() > kMaxFrameRows) {
    return absl::InvalidArgumentError(
        StrCat("frame: num_rows ", frame.num_rows(), " is not in [0, ",
               kMaxFrameRows, "]"));
  }
  Table t;
  t.num_rows = static_cast<size_t>(frame.num_rows());
  for (auto& c : *frame.mutable_columns()) {
    auto col = ColumnFromProto(std::move(c), t.num_rows);
    if (!col.ok()) return col.status();
    if (t.Find(col->name) >= 0) {
      return absl::InvalidArgumentError(
          StrCat("frame: duplicate column '", col->name, "'"));
    }
    t.columns.push_back(std::move(*col));
  }
  return t;
}

}  // namespace mlpipe::table

namespace mlpipe::table {
namespace {

// Bits `rows` of `bits`; *all tells whether every one was set.
std::string FilterBits(const std::string& bits,
                       const std::vector<uint32_t>& rows, bool* all) {
  std::string out((rows.size() + 7) / 8, '\0');
  bool every = true;
  for (size_t i = 0; i < rows.size(); ++i) {
    uint32_t r = rows[i];
    if ((static_cast<uint8_t>(bits[r / 8]) >> (r % 8)) & 1) {
      out[i / 8] = static_cast<char>(out[i / 8] | (1 << (i % 8)));
    } else {
      every = false;
    }
  }
  if (all != nullptr) *all = every;
  return out;
}

}  // namespace

absl::Status FilterFrame(const v1::Frame& in, const std::vector<uint32_t>& rows,
                         v1::Frame* out) {
  const size_t n = static_cast<size_t>(in.num_rows());
  out->Clear();
  out->set_num_rows(static_cast<int64_t>(rows.size()));
  if (!rows.empty() && rows.back() >= n)
    return absl::InvalidArgumentError("FilterFrame: row outside the frame");
  for (const v1::Column& c : in.columns()) {
    v1::Column* o = out->add_columns();
    o->set_name(c.name());
    o->set_type(c.type());
    o->set_timestamp_format(c.timestamp_format());
    auto check = [&](int size, const char* what) -> absl::Status {
      if (size != 0 && static_cast<size_t>(size) != n) {
        return absl::InvalidArgumentError(StrCat(
            "column '", c.name(), "': ", size, " ", what, " for ", n, " rows"));
      }
      return absl::OkStatus();
    };
    if (c.numbers_size() > 0) {
      if (auto s = check(c.numbers_size(), "numbers"); !s.ok()) return s;
      auto* v = o->mutable_numbers();
      v->Resize(static_cast<int>(rows.size()), 0);
      for (size_t i = 0; i < rows.size(); ++i) v->Set(i, c.numbers(rows[i]));
    }
    if (c.timestamps_size() > 0) {
      if (auto s = check(c.timestamps_size(), "timestamps"); !s.ok()) return s;
      auto* v = o->mutable_timestamps();
      v->Resize(static_cast<int>(rows.size()), 0);
      for (size_t i = 0; i < rows.size(); ++i) v->Set(i, c.timestamps(rows[i]));
    }
    if (c.strings_size() > 0) {
      if (auto s = check(c.strings_size(), "strings"); !s.ok()) return s;
      auto* v = o->mutable_strings();
      v->Reserve(static_cast<int>(rows.size()));
      for (uint32_t r : rows) v->Add()->assign(c.strings(r));
    }
    if (c.codes_size() > 0) {
      if (auto s = check(c.codes_size(), "codes"); !s.ok()) return s;
      *o->mutable_dictionary() = c.dictionary();
      auto* v = o->mutable_codes();
      v->Resize(static_cast<int>(rows.size()), 0);
      for (size_t i = 0; i < rows.size(); ++i) v->Set(i, c.codes(rows[i]));
    }
    if (!c.bits().empty()) {
      if (c.bits().size() != (n + 7) / 8)
        return absl::InvalidArgumentError(
            StrCat("column '", c.name(), "': bits do not match rows"));
      o->set_bits(FilterBits(c.bits(), rows, nullptr));
    }
    if (!c.validity().empty()) {
      if (c.validity().size() != (n + 7) / 8)
        return absl::InvalidArgumentError(
            StrCat("column '", c.name(), "': validity does not match rows"));
      bool all = true;
      std::string bits = FilterBits(c.validity(), rows, &all);
      if (!all) o->set_validity(std::move(bits));
    }
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::table
