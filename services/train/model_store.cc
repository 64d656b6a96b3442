#include "services/train/model_store.h"

#include <algorithm>
#include <cstdio>

#include "common/ml/artifact.h"
#include "common/util/ids.h"
#include "common/util/strings.h"

namespace mlpipe::train {
namespace {

std::string VersionKey(const std::string& name, int64_t version) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%012lld", static_cast<long long>(version));
  return StrCat("a/", name, "/", buf);
}

absl::StatusOr<v1::ModelArtifact> Parse(std::string_view bytes,
                                        std::string_view key) {
  v1::ModelArtifact a;
  if (!a.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        StrCat("model ", key, ": stored bytes are unreadable"));
  }
  if (auto s = ml::CheckArtifactHash(a); !s.ok()) return s;
  return a;
}

}  // namespace

v1::ModelArtifact Summary(const v1::ModelArtifact& artifact) {
  v1::ModelArtifact s = artifact;
  s.clear_learned();
  s.clear_transform();
  return s;
}

absl::StatusOr<v1::ModelArtifact> ModelStore::Add(v1::ModelArtifact artifact,
                                                  const Commit& commit) {
  const std::string& name = artifact.name();
  if (name.empty() || name.find('/') != std::string::npos ||
      name.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat("model: \"", name, "\" must be non-empty, without '/' or ':'"));
  }
  std::lock_guard lock(add_mu_);
  auto last = store_->LastKey(kModelsColumnFamily, StrCat("a/", name, "/"));
  if (!last.ok()) return last.status();
  int64_t version = 1;
  if (last->has_value()) {
    version =
        std::stoll(last->value().substr(last->value().rfind('/') + 1)) + 1;
  }
  artifact.set_version(version);
  artifact.set_id(StrCat(name, ":", version));
  artifact.set_sha256(ml::ArtifactHash(artifact));
  if (auto s = ml::SignArtifact(&artifact); !s.ok()) return s;
  storage::WriteBatch batch;
  batch.Put(kModelsColumnFamily, VersionKey(name, version),
            artifact.SerializeAsString());
  absl::Status written = commit ? commit(artifact, std::move(batch))
                                : store_->Write(batch, {.sync = true});
  if (!written.ok()) return written;
  return artifact;
}

absl::StatusOr<v1::ModelArtifact> ModelStore::Get(const std::string& id) const {
  size_t colon = id.rfind(':');
  std::string name = colon == std::string::npos ? id : id.substr(0, colon);
  std::string key;
  if (colon == std::string::npos) {
    auto last = store_->LastKey(kModelsColumnFamily, StrCat("a/", name, "/"));
    if (!last.ok()) return last.status();
    if (!last->has_value()) {
      return absl::NotFoundError(StrCat("model \"", id, "\": no such model"));
    }
    key = **last;
  } else {
    // Digits only ("credit:2/../1", "credit:+2", "credit: 2" are not 2).
    const std::string digits = id.substr(colon + 1);
    int64_t version = 0;
    const bool whole = !digits.empty() && digits.size() <= 18 &&
                       digits[0] != '0' &&
                       std::all_of(digits.begin(), digits.end(),
                                   [](char c) { return c >= '0' && c <= '9'; });
    if (whole) version = std::stoll(digits);
    if (version <= 0 || !IsValidName(name)) {
      return absl::InvalidArgumentError(
          StrCat("model \"", id,
                 "\": expected NAME:VERSION, the version a number >= 1"));
    }
    key = VersionKey(name, version);
  }
  auto bytes = store_->Get(kModelsColumnFamily, key);
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) {
      return absl::NotFoundError(
          StrCat("model \"", id, "\": no such model version"));
    }
    return bytes.status();
  }
  return Parse(*bytes, key);
}

absl::StatusOr<std::vector<v1::ModelArtifact>> ModelStore::List(
    const std::string& name, int limit) const {
  if (limit <= 0) limit = 100;
  // Keys sort by name then version; collect, then order newest first per name.
  std::vector<std::vector<v1::ModelArtifact>> by_name;
  std::string current;
  auto it = store_->Scan(kModelsColumnFamily,
                         name.empty() ? "a/" : StrCat("a/", name, "/"));
  for (; it->Valid(); it->Next()) {
    auto a = Parse(it->value(), it->key());
    if (!a.ok()) return a.status();
    if (by_name.empty() || a->name() != current) {
      current = a->name();
      by_name.emplace_back();
    }
    by_name.back().push_back(Summary(*a));
  }
  if (auto s = it->status(); !s.ok()) return s;
  std::vector<v1::ModelArtifact> out;
  for (auto& versions : by_name) {
    for (auto v = versions.rbegin(); v != versions.rend(); ++v) {
      if (static_cast<int>(out.size()) == limit) return out;
      out.push_back(std::move(*v));
    }
  }
  return out;
}

}  // namespace mlpipe::train
