// A candidate's model: its best trial's fit (or, with cross-validation, a
// final fit of the best setting), made an artifact with its lineage and
// stored with model.trained.
#include "common/ml/model.h"
#include "common/util/proto_bytes.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "services/train/trainer_internal.h"

namespace mlpipe::train {

using google::protobuf::util::TimeUtil;

namespace {

using internal::Data;

// A candidate's best trial by `metric`, and the time all its trials took.
struct Best {
  const v1::Trial* trial = nullptr;
  double search_seconds = 0;
};

absl::StatusOr<Best> BestTrial(const v1::TrainingJob& job,
                               const std::string& candidate,
                               const std::string& metric) {
  Best best;
  std::string first_error;
  for (const auto& t : job.trials()) {
    if (t.candidate() != candidate) continue;
    best.search_seconds += t.seconds();
    if (t.state() != v1::Operation::SUCCEEDED) {
      if (first_error.empty()) first_error = t.error();
      continue;
    }
    if (best.trial == nullptr || Better(metric, t.score(), best.trial->score()))
      best.trial = &t;
  }
  if (best.trial == nullptr) {
    return absl::FailedPreconditionError(
        StrCat("candidate ", candidate, ": every trial failed: ", first_error));
  }
  return best;
}

// The candidate's artifact: `fitted`'s parameters and metrics with what
// they were trained on and how long it took.
v1::ModelArtifact CandidateArtifact(const v1::TrainingJob& job,
                                    const Data& data,
                                    const std::string& candidate,
                                    const Best& best,
                                    const v1::ModelArtifact& fitted,
                                    v1::FittedTransform transform) {
  v1::ModelArtifact a;
  a.set_name(Or(job.request().model(), data.split.dataset()));
  a.set_candidate(candidate);
  a.set_algorithm(best.trial->algorithm());
  a.set_task(data.resolved.task);
  *a.mutable_params() = best.trial->params();
  *a.mutable_feature_names() = data.fs.features();
  a.set_label(data.resolved.label);
  *a.mutable_classes() = {data.resolved.classes.begin(),
                          data.resolved.classes.end()};
  *a.mutable_learned() = fitted.learned();
  a.set_transform_id(data.fs.transform_id());
  *a.mutable_transform() = std::move(transform);
  a.set_split_id(data.split.id());
  a.set_feature_set(data.fs.id());
  a.set_dataset(data.split.dataset());
  a.set_dataset_version(data.split.version());
  a.set_job_id(job.id());
  a.set_trial_id(best.trial->id());
  *a.mutable_train_metrics() = fitted.train_metrics();
  *a.mutable_eval_metrics() = fitted.eval_metrics();
  // The rows as the fit saw them (on a replica, or over shards).
  a.mutable_timings()->set_read_seconds(fitted.timings().read_seconds());
  a.mutable_timings()->set_fit_seconds(fitted.timings().fit_seconds());
  a.mutable_timings()->set_search_seconds(best.search_seconds);
  a.set_train_rows(fitted.train_rows());
  a.set_eval_rows(fitted.eval_rows());
  if (best.trial->shard_workers().empty()) {
    a.add_workers(best.trial->worker());
  } else {
    *a.mutable_workers() = best.trial->shard_workers();
  }
  *a.mutable_created_at() = TimeUtil::GetCurrentTime();
  return a;
}

}  // namespace

absl::Status Trainer::FinishCandidate(Job& live, const Data& data,
                                      const std::string& candidate,
                                      ops::Progress& progress) {
  v1::TrainingJob job;
  {
    std::lock_guard lock(live.mu);
    if (live.job.candidate_models().contains(candidate))
      return absl::OkStatus();
    job = live.job;
  }
  auto best = BestTrial(job, candidate, data.resolved.metric);
  if (!best.ok()) return best.status();
  auto fitted = FinalFit(job, data, *best->trial, progress);
  if (!fitted.ok()) return fitted.status();
  auto transform = sources_->GetTransform(data.fs.transform_id());
  if (!transform.ok()) return transform.status();
  v1::ModelArtifact a = CandidateArtifact(job, data, candidate, *best, *fitted,
                                          *std::move(transform));
  // Verify the parameters load before they are stored.
  if (auto m = ml::LoadModel(a.task(), a.feature_names_size(), a.classes_size(),
                             a.learned());
      !m.ok()) {
    return m.status();
  }
  return StoreCandidate(live, a, best->trial->score(), data.resolved.metric,
                        CandidateKey(job, data, candidate));
}

std::string Trainer::CandidateKey(const v1::TrainingJob& job, const Data& data,
                                  const std::string& candidate) {
  const auto& r = job.request();
  v1::StartTrainingRequest k;  // The inputs, resolved.
  for (const auto& c : r.candidates())
    if (c.name() == candidate) *k.add_candidates() = c;
  k.set_split(data.split.id());
  k.set_feature_set(data.fs.id());
  k.set_model(Or(r.model(), data.split.dataset()));
  k.set_label(data.resolved.label);
  k.set_task(TaskName(data.resolved.task));
  k.set_positive_class(r.positive_class());
  k.set_train_part(r.train_part());
  k.set_eval_part(r.eval_part());
  *k.mutable_search() = r.search();
  k.mutable_search()->set_metric(data.resolved.metric);
  Sha256 h;
  h.Update("candidate v1\n");
  h.Update(DeterministicBytes(k));
  for (const auto& c : data.resolved.classes) h.Update(StrCat(c, "\n"));
  return h.HexDigest();
}

bool Trainer::ReuseCandidate(v1::TrainingJob& job, const Data& data,
                             const v1::Candidate& candidate) {
  auto bytes =
      store_->Get(kCandidateCache, CandidateKey(job, data, candidate.name()));
  v1::CachedCandidate cached;
  if (!bytes.ok() || !cached.ParseFromString(*bytes) ||
      !models_.Get(cached.model()).ok())
    return false;
  for (const auto& t : cached.trials()) {
    v1::Trial* trial = job.add_trials();
    *trial = t;
    trial->set_id(StrCat(job.id(), "/", candidate.name(), "/", t.index()));
    trial->set_job(job.id());
    trial->set_cached_from(t.id());
  }
  (*job.mutable_candidate_models())[candidate.name()] = cached.model();
  job.add_models(cached.model());
  job.add_cached_candidates(candidate.name());
  return true;
}

absl::StatusOr<v1::ModelArtifact> Trainer::FinalFit(const v1::TrainingJob& job,
                                                    const Data& data,
                                                    const v1::Trial& best,
                                                    ops::Progress& progress) {
  const auto& r = job.request();
  // The best trial's model (scored on the eval part), or with
  // cross-validation a fit of the best setting on the whole train part.
  if (r.search().folds() <= 0) {
    v1::ModelArtifact fitted;
    auto bytes = store_->Get(kTrialModels, best.id());
    if (!bytes.ok()) return bytes.status();
    if (!fitted.ParseFromString(*bytes)) {
      return absl::DataLossError(
          StrCat("trial ", best.id(), ": stored model is unreadable"));
    }
    return fitted;
  }
  const int threads = r.threads_per_candidate() > 0
                          ? r.threads_per_candidate()
                          : options_.threads_per_candidate;
  auto cancelled = [&progress] { return progress.Cancelled(); };
  if (options_.replicas != nullptr) {
    v1::TrainTrialRequest req;
    *req.mutable_job() = job;
    *req.mutable_trial() = best;
    req.set_final_fit(true);
    req.set_threads(threads);
    auto resp = options_.replicas->Run(req, cancelled);
    if (!resp.ok()) return resp.status();
    return resp->model();
  }
  progress.Update(0, 0, StrCat("final fit of ", best.candidate()));
  auto outcome = RunTrialHere(
      data, job, best, true, threads, cancelled, [&](const v1::Trial& t) {
        progress.Update(
            0, 0,
            StrCat("final fit of ", best.candidate(), ": iteration ",
                   t.iteration(), "/", t.iterations()));
      });
  if (!outcome.ok()) return outcome.status();
  return FittedModel(*outcome);
}

absl::Status Trainer::StoreCandidate(Job& live, const v1::ModelArtifact& a,
                                     double score, const std::string& metric,
                                     const std::string& cache_key) {
  const std::string& candidate = a.candidate();
  const std::string& job = a.job_id();
  auto stored = models_.Add(a, [&](const v1::ModelArtifact& added,
                                   storage::WriteBatch batch) {
    v1::TrainingJob updated;
    {
      std::lock_guard lock(live.mu);
      (*live.job.mutable_candidate_models())[candidate] = added.id();
      live.job.add_models(added.id());
      updated = live.job;
    }
    batch.Put(kJobs, updated.id(), updated.SerializeAsString());
    v1::CachedCandidate cached;
    cached.set_model(added.id());
    for (const auto& t : updated.trials())
      if (t.candidate() == candidate) *cached.add_trials() = t;
    batch.Put(kCandidateCache, cache_key, cached.SerializeAsString());
    // The candidate's leftovers: its trial models and checkpoints.
    for (const auto& t : updated.trials()) {
      if (t.candidate() != candidate) continue;
      batch.Delete(kTrialModels, t.id());
    }
    batch.DeleteRange(kCheckpoints, StrCat(job, "/", candidate, "/"),
                      StrCat(job, "/", candidate, "0"));  // '0' follows '/'.
    auto event = events::EventLog::Make(
        "model.trained", {{"model", added.id()},
                          {"name", added.name()},
                          {"version", std::to_string(added.version())},
                          {"candidate", candidate},
                          {"algorithm", added.algorithm()},
                          {"job", job},
                          {"split", added.split_id()},
                          {"feature_set", added.feature_set()},
                          {"dataset", added.dataset()},
                          {"metric", metric},
                          {"score", StrCat(score)}});
    return events_->Commit(std::move(batch), {event}, {.sync = true});
  });
  if (!stored.ok()) return stored.status();
  std::lock_guard lock(live.mu);
  Changed(live, false);
  return absl::OkStatus();
}

}  // namespace mlpipe::train
