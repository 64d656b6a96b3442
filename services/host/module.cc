#include "services/host/module.h"

#include <algorithm>

#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/host/flags.h"

namespace mlpipe::host {

Module::Module(std::string name, ModuleEnv env)
    : name_(std::move(name)),
      data_dir_(std::move(env.data_dir)),
      min_free_bytes_(env.min_free_bytes),
      store_memory_bytes_(env.store_memory_bytes),
      peers_(env.peers ? std::move(env.peers)
                       : std::make_shared<rpc::Peers>()) {}

Module::~Module() {
  Stop();
  services_.clear();
  ops_.reset();
  while (!parts_.empty()) parts_.pop_back();
  outbox_.reset();
  store_.reset();
}

absl::Status Module::OpenStore(storage::Options options) {
  for (const char* cf :
       {ops::kOperationsColumnFamily, events::kEventsColumnFamily}) {
    auto& cfs = options.column_families;
    if (std::none_of(cfs.begin(), cfs.end(),
                     [cf](const auto& c) { return c.name == cf; }))
      cfs.push_back({.name = cf});
  }
  options.min_free_bytes = min_free_bytes_;
  options.block_cache_bytes = store_memory_bytes_ / 2;
  options.write_buffer_bytes = store_memory_bytes_ / 2;
  auto store = storage::OpenRocksStore(data_dir_ + "/" + name_, options);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  auto log = events::EventLog::Open(store_.get(), name_);
  if (!log.ok()) return log.status();
  outbox_ = std::move(*log);
  return absl::OkStatus();
}

std::vector<grpc::Service*> Module::services() {
  std::vector<grpc::Service*> out;
  for (auto& s : services_) out.push_back(s.get());
  return out;
}

void Module::AddService(std::unique_ptr<grpc::Service> service,
                        const std::string& name) {
  services_.push_back(std::move(service));
  std::lock_guard lock(health_mu_);
  ready_.emplace(name, true);
}

void Module::EnableOperations(ops::OperationManagerOptions options) {
  options.service = name_;
  ops_ =
      std::make_unique<ops::OperationManager>(std::move(options), store_.get());
}

ops::OperationManager* Module::ops() {
  if (!ops_) EnableOperations({});
  return ops_.get();
}

absl::Status Module::UnreadableRequest(const std::string& kind) {
  return absl::DataLossError(
      StrCat("the stored ", kind, " request is unreadable"));
}

util::BackgroundLoop* Module::AddLoop(
    std::function<void(util::BackgroundLoop&)> body) {
  loops_.emplace_back(std::move(body),
                      std::make_unique<util::BackgroundLoop>());
  return loops_.back().second.get();
}

void Module::ReportHealth(const std::string& service, bool serving) {
  std::lock_guard lock(health_mu_);
  ready_[service] = serving;
  if (health_) health_(service, serving && writable_);
}

void Module::SetWritable(bool writable) {
  std::lock_guard lock(health_mu_);
  writable_ = writable;
  if (!health_) return;
  for (const auto& [service, ready] : ready_)
    health_(service, ready && writable);
}

void Module::WatchStore(util::BackgroundLoop& loop) {
  bool writable = true;
  do {
    const absl::Status s = store_->Writable();
    if (s.ok() == writable) continue;
    writable = s.ok();
    if (writable) {
      LogInfo("store takes writes again", {{"module", name_}});
    } else {
      LogWarning("store refuses writes",
                 {{"module", name_}, {"error", std::string(s.message())}});
    }
    SetWritable(writable);
  } while (loop.Wait(std::chrono::seconds(1)));
}

absl::Status Module::Start(std::shared_ptr<grpc::Channel> self) {
  peers_->SetSelf(std::move(self));
  if (ops_) {
    if (auto s = ops_->Resume(); !s.ok()) return s;
  }
  if (auto s = OnStart(); !s.ok()) return s;
  SetWritable(true);  // Each service's health, as ready as OnStart left it.
  if (store_) AddLoop([this](util::BackgroundLoop& loop) { WatchStore(loop); });
  for (auto& [body, loop] : loops_) loop->Start(body);
  return absl::OkStatus();
}

void Module::Disconnect() { peers_->Close(); }

void Module::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& loop : loops_) loop.second->Stop();
  if (ops_) ops_->Stop();
  OnStop();
}

int ServerMain(int argc, char** argv, const std::string& process,
               const char* usage, const std::vector<ModuleDef>& modules) {
  InitServerProcess(argc, argv, usage);
  ModuleEnv env(DataDirFromFlags(),
                std::make_shared<rpc::Peers>(PeerAddressesFromFlags()));
  env.min_free_bytes = MinFreeBytesFromFlags();
  env.store_memory_bytes = StoreMemoryBytesFromFlags();
  std::vector<std::unique_ptr<ServiceModule>> opened;
  for (const auto& def : modules) {
    auto m = def.open(env);
    if (!m.ok()) {
      LogError(StrCat("cannot open the ", def.name, " module"),
               {{"error", std::string(m.status().message())}});
      // A configuration the module refuses is a usage error, as a bad flag.
      return absl::IsInvalidArgument(m.status()) ? 2 : 1;
    }
    opened.push_back(std::move(*m));
  }
  return RunHost(process, HostOptionsFromFlags(), std::move(opened));
}

}  // namespace mlpipe::host
