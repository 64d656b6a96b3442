#include "common/redis/online_redis.h"

#include <algorithm>
#include <chrono>

#include "absl/flags/flag.h"
#include "common/metrics/metrics.h"
#include "common/util/log.h"
#include "common/util/strings.h"

ABSL_FLAG(std::string, online_store, "",
          "Where the latest online feature vectors are served from: empty "
          "(or 'embedded') for prep's own RocksDB store, answered by prep; or "
          "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], which prep writes and "
          "scoring replicas read directly (the password may instead be in "
          "$MLPIPE_REDIS_PASSWORD). Point-in-time reads stay on prep.");
ABSL_FLAG(int, online_store_timeout_ms, 100,
          "Redis online store: the timeout of each connect, read and write "
          "(and of the wait for a free connection); one past it fails the "
          "call with UNAVAILABLE. A call makes one round trip, more after a "
          "broken connection or with Sentinel.");
ABSL_FLAG(int, online_store_connections, 16,
          "Redis online store: connections per process, at most.");

namespace mlpipe::redis {
namespace {

constexpr char kPrefix[] = "mlpipe:online:";
// Keys written per pipelined round trip.
constexpr size_t kChunk = 1024;
// Feature sets whose view a reader remembers.
constexpr size_t kMaxCachedViews = 4096;

std::string FeatureSetKey(std::string_view fs) {
  return StrCat(kPrefix, "fs:", fs);
}
std::string ViewKey(std::string_view view) {
  return StrCat(kPrefix, "view:", view);
}
std::string ValueKey(std::string_view view, std::string_view key) {
  std::string k = StrCat(kPrefix, "val:", view);
  k.push_back('\0');
  k.append(key);
  return k;
}

struct Metrics {
  prometheus::Family<prometheus::Counter>& calls;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Counter& keys;
  static Metrics& Get() {
    static Metrics* m = new Metrics{
        prometheus::BuildCounter()
            .Name("mlpipe_online_redis_calls_total")
            .Help("Calls to the Redis online store, by op (read, write) and "
                  "outcome (ok, unavailable: Redis down or past the "
                  "timeout, error: a refused command or a corrupt value).")
            .Register(metrics::Registry()),
        prometheus::BuildHistogram()
            .Name("mlpipe_online_redis_seconds")
            .Help("Time of one call to the Redis online store, by op.")
            .Register(metrics::Registry()),
        prometheus::BuildCounter()
            .Name("mlpipe_online_redis_keys_total")
            .Help("Entity keys looked up in the Redis online store.")
            .Register(metrics::Registry())
            .Add({}),
    };
    return *m;
  }
};

// Counts one call's outcome and time; returns its status.
absl::Status Record(const char* op, std::chrono::steady_clock::time_point t0,
                    absl::Status s) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3,
      5e-3,  10e-3, 25e-3,  50e-3,  100e-3, 1.0,  10.0};
  const char* outcome = s.ok()                   ? "ok"
                        : absl::IsUnavailable(s) ? "unavailable"
                                                 : "error";
  Metrics::Get().calls.Add({{"op", op}, {"outcome", outcome}}).Increment();
  Metrics::Get()
      .latency.Add({{"op", op}}, kBuckets)
      .Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count());
  return s;
}

}  // namespace

OnlineStoreConfig OnlineStoreConfigFromFlags() {
  OnlineStoreConfig c;
  c.url = absl::GetFlag(FLAGS_online_store);
  c.pool.timeout = std::chrono::milliseconds(
      std::max(1, absl::GetFlag(FLAGS_online_store_timeout_ms)));
  c.pool.max_connections =
      std::max(1, absl::GetFlag(FLAGS_online_store_connections));
  return c;
}

absl::StatusOr<std::unique_ptr<OnlineRedis>> OpenOnlineStore(
    const OnlineStoreConfig& config, std::string_view role) {
  if (config.url.empty() || config.url == "embedded")
    return std::unique_ptr<OnlineRedis>();
  auto address = ParseUrl(config.url);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        StrCat("--online_store: ", address.status().message()));
  }
  LogInfo(StrCat("Redis online store: ", role),
          {{"redis", address->ToString()}});
  return std::make_unique<OnlineRedis>(
      std::make_unique<Pool>(*std::move(address), config.pool));
}

absl::StatusOr<std::optional<v1::OnlineView>> OnlineRedis::StoredView(
    const std::string& view) {
  const std::string key = ViewKey(view);
  auto r = pool_->Call({"GET", key});
  if (!r.ok()) return r.status();
  if (r->type == Reply::kNil) return std::nullopt;
  v1::OnlineView stored;
  if (r->type != Reply::kString || !stored.ParseFromString(r->str))
    return absl::DataLossError(StrCat("redis: ", key, " is not a view"));
  return stored;
}

absl::Status OnlineRedis::Write(const v1::OnlineView& view,
                                const ValueRefs& values, bool create) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> keys, bodies;
  for (size_t begin = 0; begin < values.size(); begin += kChunk) {
    const size_t end = std::min(values.size(), begin + kChunk);
    keys.clear();
    bodies.clear();
    for (size_t i = begin; i < end; ++i) {
      keys.push_back(ValueKey(view.name(), values[i].first));
      bodies.push_back(values[i].second->SerializeAsString());
    }
    Command mset = {"MSET"};
    for (size_t i = 0; i < keys.size(); ++i) {
      mset.push_back(keys[i]);
      mset.push_back(bodies[i]);
    }
    if (auto r = pool_->Call(mset); !r.ok())
      return Record("write", t0, r.status());
  }
  keys.clear();
  for (const auto& fs : view.feature_sets()) keys.push_back(FeatureSetKey(fs));
  const std::string view_key = ViewKey(view.name());
  const std::string def = view.SerializeAsString();
  std::vector<Command> last;
  if (!keys.empty()) {
    Command names = {"MSET"};
    for (const auto& k : keys) {
      names.push_back(k);
      names.push_back(view.name());
    }
    last.push_back(std::move(names));
  }
  last.push_back(create ? Command{"SET", view_key, def}
                        : Command{"SET", view_key, def, "XX"});
  auto r = pool_->Run(last);
  if (r.ok() && r->back().type == Reply::kNil) {
    return Record("write", t0,
                  absl::NotFoundError(StrCat(
                      "redis at ", pool_->address().ToString(), " has lost ",
                      view_key, " (restarted or flushed?)")));
  }
  return Record("write", t0, r.status());
}

absl::StatusOr<std::shared_ptr<const OnlineRedis::ViewInfo>>
OnlineRedis::Resolve(const std::string& feature_set) {
  {
    std::lock_guard lock(mu_);
    if (auto it = views_.find(feature_set); it != views_.end())
      return it->second;
  }
  std::string view = feature_set;
  if (feature_set.rfind("fs-", 0) == 0) {
    auto name = pool_->Call({"GET", FeatureSetKey(feature_set)});
    if (!name.ok()) return name.status();
    if (name->type != Reply::kString) {
      return absl::NotFoundError(StrCat(
          "feature set ", feature_set,
          " has no online view in the Redis online store at ",
          pool_->address().ToString(),
          " (not prepared with an entity_key, or prep writes elsewhere)"));
    }
    view = name->str;
  }
  auto def = pool_->Call({"GET", ViewKey(view)});
  if (!def.ok()) return def.status();
  v1::OnlineView parsed;
  if (def->type == Reply::kNil) {
    return absl::NotFoundError(
        StrCat("online view '", view, "' not found in the Redis online store"));
  }
  if (def->type != Reply::kString || !parsed.ParseFromString(def->str))
    return absl::DataLossError(StrCat("redis: ", ViewKey(view), " is corrupt"));
  auto info = std::make_shared<ViewInfo>();
  info->name = parsed.name();
  info->features.assign(parsed.features().begin(), parsed.features().end());
  std::lock_guard lock(mu_);
  if (views_.size() >= kMaxCachedViews) views_.clear();
  views_[feature_set] = info;
  return info;
}

namespace {

// Where each of `features` is in `view`'s order; empty when they are that
// order.
absl::StatusOr<std::vector<int>> Projection(
    const std::string& view, const std::vector<std::string>& order,
    const std::vector<std::string>& features) {
  std::vector<int> out;
  if (features == order) return out;
  for (const auto& f : features) {
    auto it = std::find(order.begin(), order.end(), f);
    if (it == order.end()) {
      return absl::InvalidArgumentError(
          StrCat("features: no feature '", f, "' in ", view));
    }
    out.push_back(static_cast<int>(it - order.begin()));
  }
  return out;
}

// The vector in a stored value, projected; DATA_LOSS naming the key.
absl::StatusOr<std::vector<double>> Decode(const std::string& view,
                                           const std::string& key,
                                           const std::string& bytes,
                                           const std::vector<int>& projection,
                                           size_t width) {
  v1::OnlineValue value;
  if (!value.ParseFromString(bytes) ||
      static_cast<size_t>(value.values_size()) != width) {
    return absl::DataLossError(
        StrCat("redis: the value of '", key, "' in ", view, " is corrupt"));
  }
  if (projection.empty())
    return std::vector<double>(value.values().begin(), value.values().end());
  std::vector<double> out;
  out.reserve(projection.size());
  for (int j : projection) out.push_back(value.values(j));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Reply>> OnlineRedis::Fetch(
    const std::string& view, const std::vector<std::string>& keys) {
  std::vector<std::string> value_keys;
  value_keys.reserve(keys.size());
  for (const auto& k : keys) value_keys.push_back(ValueKey(view, k));
  const std::string view_key = ViewKey(view);
  Command mget = {"MGET"};
  for (const auto& k : value_keys) mget.push_back(k);
  // The view's key in the same round trip: without it, Redis has lost the
  // view (its values come back before it), and a missing value means
  // nothing yet.
  auto r = pool_->Run({{"EXISTS", view_key}, mget});
  if (!r.ok()) return r.status();
  if ((*r)[0].integer == 0) {
    std::lock_guard lock(mu_);
    views_.clear();
    return absl::UnavailableError(StrCat(
        "the Redis online store at ", pool_->address().ToString(),
        " has lost online view ", view,
        " (restarted or flushed?); prep writes it again within seconds"));
  }
  if ((*r)[1].type != Reply::kArray || (*r)[1].elements.size() != keys.size())
    return absl::InternalError("redis: MGET answered no list");
  return std::move((*r)[1].elements);
}

absl::StatusOr<std::vector<std::optional<std::vector<double>>>>
OnlineRedis::Get(const std::string& feature_set,
                 const std::vector<std::string>& keys,
                 const std::vector<std::string>& features) {
  auto t0 = std::chrono::steady_clock::now();
  auto fail = [&](absl::Status s) { return Record("read", t0, std::move(s)); };
  if (keys.empty()) return fail(absl::InvalidArgumentError("keys: required"));
  auto view = Resolve(feature_set);
  if (!view.ok()) return fail(view.status());
  const ViewInfo& v = **view;
  auto projection = Projection(v.name, v.features, features);
  if (!projection.ok()) return fail(projection.status());
  auto replies = Fetch(v.name, keys);
  if (!replies.ok()) return fail(replies.status());
  std::vector<std::optional<std::vector<double>>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const Reply& e = (*replies)[i];
    if (e.type != Reply::kString) continue;
    auto vec = Decode(v.name, keys[i], e.str, *projection, v.features.size());
    if (!vec.ok()) return fail(vec.status());
    out[i] = *std::move(vec);
  }
  Metrics::Get().keys.Increment(static_cast<double>(keys.size()));
  (void)Record("read", t0, absl::OkStatus());
  return out;
}

}  // namespace mlpipe::redis
