#include "training/distributed.h"

#include "core/error.h"
#include "model/runtime.h"

#include <c10/util/Logging.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef SWARM_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef SWARM_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <cstring>
#include <thread>
#include <unistd.h>

using nlohmann::json;

namespace swarm {

namespace {

// c10::Error::what() carries a C++ backtrace; the message alone is what a user needs.
std::string detailOf(const std::exception& e) {
    if (auto* c10error = dynamic_cast<const c10::Error*>(&e)) return c10error->what_without_backtrace();
    return e.what();
}

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

std::string seconds(std::chrono::milliseconds t) {
    const long long ms = t.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

int integerVariable(const char* name, int min, int max) {
    const char* text = std::getenv(name);
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0 || value < min || value > max)
        throw Error(std::string(name) + "='" + text + "' must be a whole number in [" + std::to_string(min) + ", " +
                    std::to_string(max) + "]");
    return int(value);
}

// c10d logs every failed connection attempt before it throws; the error thrown here says what
// matters in one line, so its log is silenced while the store connects.
class QuietC10dLog {
public:
#ifdef C10_USE_GLOG
    QuietC10dLog() : saved_(FLAGS_minloglevel) { FLAGS_minloglevel = 3; }      // FATAL only
    ~QuietC10dLog() { FLAGS_minloglevel = saved_; }
#else
    QuietC10dLog() : saved_(FLAGS_caffe2_log_level) { FLAGS_caffe2_log_level = 3; }
    ~QuietC10dLog() { FLAGS_caffe2_log_level = saved_; }
#endif
private:
    int saved_;
};

bool isCudaSpec(const std::string& deviceSpec) {
    return deviceSpec.rfind("cuda", 0) == 0 || (deviceSpec == "auto" && cudaAvailable());
}

// "peak_lr 0.001 vs 5e-05, epochs 1 vs 2": what differs between two facts, at most three entries.
std::string describeDifference(const json& mine, const json& theirs) {
    auto shortDump = [](const json& v) {
        std::string s = v.dump();
        return s.size() > 80 ? s.substr(0, 77) + "..." : s;
    };
    if (!mine.is_object() || !theirs.is_object()) return shortDump(theirs) + " vs " + shortDump(mine);
    std::vector<std::string> parts;
    for (auto it = mine.begin(); it != mine.end(); ++it) {
        const json other = theirs.contains(it.key()) ? theirs.at(it.key()) : json();
        if (other != it.value()) parts.push_back(it.key() + " " + shortDump(other) + " vs " + shortDump(it.value()));
    }
    for (auto it = theirs.begin(); it != theirs.end(); ++it)
        if (!mine.contains(it.key())) parts.push_back(it.key() + " " + shortDump(it.value()) + " vs (none)");
    std::string out;
    for (size_t i = 0; i < parts.size() && i < 3; ++i) out += (i ? ", " : "") + parts[i];
    if (parts.size() > 3) out += ", and " + std::to_string(parts.size() - 3) + " more";
    return out;
}

#ifdef SWARM_WITH_GLOO
// Gloo's sockets bind to one interface: GLOO_SOCKET_IFNAME when set (as in PyTorch), loopback for
// a job on this machine (containers often cannot resolve their own hostname), else the address
// this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> glooDevice(const LaunchEnv& env) {
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
        return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
    const std::string& addr = env.masterAddr;
    if (addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0)
        return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    return c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

} // namespace

bool glooCompiledIn() {
#ifdef SWARM_WITH_GLOO
    return true;
#else
    return false;
#endif
}

bool ncclCompiledIn() {
#ifdef SWARM_WITH_NCCL
    return true;
#else
    return false;
#endif
}

std::optional<LaunchEnv> launchEnvFromEnvironment() {
    const char* rank = std::getenv("RANK");
    const char* world = std::getenv("WORLD_SIZE");
    if (!rank && !world) return std::nullopt;
    // LOCAL_RANK and LOCAL_WORLD_SIZE are optional: a Kubernetes PyTorchJob pod without torchrun
    // is one process per machine and sets neither.
    for (const char* name : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
        if (!std::getenv(name) || !*std::getenv(name))
            throw Error(std::string(name) + " is not set, but " + (rank ? "RANK" : "WORLD_SIZE") +
                        " is: a data-parallel rank needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (as torchrun sets them)");
    LaunchEnv env;
    env.worldSize = integerVariable("WORLD_SIZE", 1, 1 << 20);
    env.rank = integerVariable("RANK", 0, 1 << 20);
    if (env.rank >= env.worldSize)
        throw Error("RANK=" + std::to_string(env.rank) + " is outside the job: WORLD_SIZE=" + std::to_string(env.worldSize) +
                    " has ranks 0.." + std::to_string(env.worldSize - 1));
    env.masterAddr = std::getenv("MASTER_ADDR");
    env.masterPort = integerVariable("MASTER_PORT", 1, 65535);
    if (std::getenv("LOCAL_WORLD_SIZE")) env.localWorldSize = integerVariable("LOCAL_WORLD_SIZE", 1, env.worldSize);
    if (std::getenv("LOCAL_RANK")) env.localRank = integerVariable("LOCAL_RANK", 0, env.worldSize - 1);
    if (env.localRank >= env.localWorldSize) {
        if (std::getenv("LOCAL_WORLD_SIZE"))
            throw Error("LOCAL_RANK=" + std::to_string(env.localRank) + " is not below LOCAL_WORLD_SIZE=" + std::to_string(env.localWorldSize));
        env.localWorldSize = env.localRank + 1;
    }
    const char* agentStore = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    env.agentStore = agentStore && std::string(agentStore) == "True";
    if (std::getenv("TORCHELASTIC_RESTART_COUNT")) env.restartCount = integerVariable("TORCHELASTIC_RESTART_COUNT", 0, 1 << 20);
    return env;
}

std::string chooseBackend(const std::string& requested, const std::string& deviceSpec) {
    const bool cuda = isCudaSpec(deviceSpec);
    const std::string backend = requested.empty() || requested == "auto" ? (cuda ? "nccl" : "gloo") : requested;
    if (backend == "gloo") {
        if (!glooCompiledIn())
            throw Error("the gloo backend is not in this build (it was configured without the Gloo headers: install "
                        "libgloo-dev and rebuild)");
        return backend;
    }
    if (backend == "nccl") {
        if (!ncclCompiledIn())
            throw Error("the nccl backend needs a CUDA build of LibTorch with NCCL, and this swarm was built against a "
                        "CPU-only LibTorch: use --dist-backend gloo");
        if (!cuda)
            throw Error("the nccl backend runs on CUDA devices only, and this run's device is '" + deviceSpec +
                        "': use --device cuda, or --dist-backend gloo");
        return backend;
    }
    throw Error("unknown distributed backend '" + requested + "' (expected auto, gloo or nccl)");
}

std::string rankDeviceSpec(const std::string& deviceSpec, const LaunchEnv& env) {
    return isCudaSpec(deviceSpec) ? "cuda:" + std::to_string(env.localRank) : deviceSpec;
}

// ---------------------------------------------------------------------------------------------
// Connecting: the store, then the roster check.

std::unique_ptr<Distributed> Distributed::connect(const LaunchEnv& env, const std::string& requestedBackend,
                                                  std::chrono::milliseconds timeout) {
    std::unique_ptr<Distributed> d(new Distributed());
    d->env_ = env;
    d->requestedBackend_ = requestedBackend;
    d->timeout_ = timeout;
    const std::string master = env.masterAddr + ":" + std::to_string(env.masterPort);
    c10d::TCPStoreOptions options;
    options.port = uint16_t(env.masterPort);
    options.isServer = env.rank == 0 && !env.agentStore;
    options.waitWorkers = false;     // the roster check below says which rank is missing
    options.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> tcp;
    try {
        QuietC10dLog quiet;
        tcp = c10::make_intrusive<c10d::TCPStore>(env.masterAddr, options);
    } catch (const std::exception& e) {
        const std::string detail = detailOf(e);
        if (options.isServer && (contains(detail, "errno: 98") || contains(detail, "Address already in use")))
            throw Error("MASTER_PORT " + std::to_string(env.masterPort) + " is already in use on this machine (another job, or "
                        "an earlier run still exiting?): choose another port (MASTER_PORT, or --master-port with --nproc)");
        if (options.isServer) throw Error("rank 0 cannot host the rendezvous at " + master + ": " + detail);
        if (contains(detail, "timed out") || contains(detail, "Timed out"))
            throw Error("rank " + std::to_string(env.rank) + " cannot reach the master at " + master + " within " + seconds(timeout) +
                        " (is rank 0 running, with the same MASTER_ADDR and MASTER_PORT on every rank?)");
        throw Error("rank " + std::to_string(env.rank) + " cannot reach the master at " + master + ": " + detail);
    }
    // Keys of one attempt: a job torchrun restarts on its agent's store starts from a clean slate.
    d->store_ = c10::make_intrusive<c10d::PrefixStore>("swarm/attempt_" + std::to_string(env.restartCount), tcp);
    d->join();
    return d;
}

Distributed::~Distributed() = default;

void Distributed::storeSet(const std::string& key, const std::string& value) {
    try {
        store_->set(key, std::vector<uint8_t>(value.begin(), value.end()));
    } catch (const std::exception& e) {
        throw Error("rank " + std::to_string(rank()) + " lost the rendezvous store at " + env_.masterAddr + ":" +
                    std::to_string(env_.masterPort) + " (did rank 0 stop?): " + detailOf(e));
    }
}

std::string Distributed::storeGet(const std::string& key, std::chrono::milliseconds timeout, const std::string& waitingFor) {
    try {
        store_->wait({key}, timeout);
        const std::vector<uint8_t> value = store_->get(key);
        return std::string(value.begin(), value.end());
    } catch (const std::exception& e) {
        const std::string detail = detailOf(e);
        if (contains(detail, "imeout") || contains(detail, "timed out"))
            throw Error("rank " + std::to_string(rank()) + " waited " + seconds(timeout) + " for " + waitingFor + " in vain");
        throw Error("rank " + std::to_string(rank()) + " lost the rendezvous store while waiting for " + waitingFor +
                    " (did rank 0 stop?): " + detail);
    }
}

// Rank 0 hosts the store, which ends with its process: before rank 0 gives up on a failed set-up it
// waits (a few seconds at most) until the other ranks have read why, so that they print the same
// line instead of "lost the rendezvous store". Each of them acknowledges once, then throws.
void Distributed::lingerForReaders() {
    if (!isRank0() || env_.agentStore || worldSize() == 1) return;
    const auto deadline = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(timeout_, std::chrono::seconds(10));
    try {
        while (std::chrono::steady_clock::now() < deadline && store_->add("failure-read", 0) < worldSize() - 1)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } catch (const std::exception&) {
    }
}

void Distributed::failureRead() {
    try {
        store_->add("failure-read", 1);
    } catch (const std::exception&) {
    }
}

// Every rank claims its number and says how big it believes the job is; rank 0 waits for all of
// them and publishes the roster, or the one line that says what is wrong.
void Distributed::join() {
    const std::string me = std::to_string(rank());
    int64_t claims = 0;
    try {
        claims = store_->add("claim/" + me, 1);
    } catch (const std::exception& e) {
        throw Error("rank " + me + " cannot use the rendezvous store: " + detailOf(e));
    }
    if (claims > 1) throw Error("another process already joined as rank " + me + " (two processes were started with RANK=" + me + ")");
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    storeSet("joined/" + me, json{{"world_size", worldSize()}, {"host", host}, {"pid", int64_t(::getpid())}}.dump());

    // Non-zero ranks wait a little longer than rank 0, so that rank 0's verdict reaches them first.
    const auto margin = std::chrono::milliseconds(5000);
    if (!isRank0()) {
        const json roster = json::parse(storeGet("roster", timeout_ + margin, "rank 0 to see every rank join"));
        if (roster.contains("error")) {
            failureRead();
            throw Error(roster.at("error").get<std::string>());
        }
        if (roster.at("world_size").get<int>() != worldSize())
            throw Error("WORLD_SIZE is " + std::to_string(worldSize()) + " on rank " + me + " but " +
                        std::to_string(roster.at("world_size").get<int>()) + " on rank 0: every rank must be started with the same WORLD_SIZE");
        return;
    }
    std::vector<std::string> keys;
    for (int r = 0; r < worldSize(); ++r) keys.push_back("joined/" + std::to_string(r));
    std::string verdict;
    try {
        store_->wait(keys, timeout_);
    } catch (const std::exception&) {
        std::string missing;
        for (int r = 0; r < worldSize(); ++r)
            if (!store_->check({keys[size_t(r)]})) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
        verdict = "rank(s) " + missing + " of " + std::to_string(worldSize()) + " did not join within " + seconds(timeout_) +
                  " (are all ranks started, with the same MASTER_ADDR and MASTER_PORT?)";
    }
    if (verdict.empty())
        for (int r = 1; r < worldSize() && verdict.empty(); ++r) {
            const std::vector<uint8_t> raw = store_->get(keys[size_t(r)]);
            const json joined = json::parse(std::string(raw.begin(), raw.end()));
            if (joined.at("world_size").get<int>() != worldSize())
                verdict = "WORLD_SIZE is " + std::to_string(joined.at("world_size").get<int>()) + " on rank " + std::to_string(r) +
                          " but " + std::to_string(worldSize()) + " on rank 0: every rank must be started with the same WORLD_SIZE";
        }
    storeSet("roster", verdict.empty() ? json{{"world_size", worldSize()}}.dump() : json{{"error", verdict}}.dump());
    if (!verdict.empty()) {
        lingerForReaders();
        throw Error(verdict);
    }
}

// ---------------------------------------------------------------------------------------------
// Set-up checks, through the store.

void Distributed::publishJob(const json& job) {
    storeSet("job", json{{"job", job}}.dump());
    jobPublished_ = true;
}

json Distributed::jobOfRank0() {
    if (!job_.is_null()) return job_;
    const json j = json::parse(storeGet("job", timeout_, "rank 0 to describe the job"));
    if (j.contains("error")) {
        failureRead();
        throw Error("rank 0: " + j.at("error").get<std::string>());
    }
    job_ = j.at("job");
    return job_;
}

void Distributed::failSetup(const std::string& message) {
    if (setupDone_ || setupFailed_) return;
    setupFailed_ = true;
    try {
        if (isRank0()) {
            if (!jobPublished_) storeSet("job", json{{"error", message}}.dump());
            storeSet("verdict", "rank 0: " + message);
            lingerForReaders();
        } else {
            storeSet("facts/" + std::to_string(rank()), json{{"error", message}}.dump());
        }
    } catch (const std::exception&) {
        // The store is gone as well: the others find out through their own timeouts.
    }
}

void Distributed::agree(json facts, const std::string& deviceSpec) {
    backend_ = chooseBackend(requestedBackend_, deviceSpec);
    facts["distributed backend"] = backend_;
    const auto margin = std::chrono::milliseconds(5000);
    if (!isRank0()) {
        storeSet("facts/" + std::to_string(rank()), json{{"facts", facts}}.dump());
        const std::string verdict = storeGet("verdict", timeout_ + margin, "rank 0 to compare the ranks' set-ups");
        if (!verdict.empty()) {
            failureRead();
            throw Error(verdict);
        }
    } else {
        std::string verdict;
        for (int r = 1; r < worldSize() && verdict.empty(); ++r) {
            const json theirs = json::parse(storeGet("facts/" + std::to_string(r), timeout_,
                                                     "rank " + std::to_string(r) + " to finish loading its model and data"));
            if (theirs.contains("error")) {
                verdict = "rank " + std::to_string(r) + ": " + theirs.at("error").get<std::string>();
                break;
            }
            for (auto it = facts.begin(); it != facts.end() && verdict.empty(); ++it) {
                const json& other = theirs.at("facts").contains(it.key()) ? theirs.at("facts").at(it.key()) : json();
                if (other != it.value())
                    verdict = "rank " + std::to_string(r) + "'s " + it.key() + " differs from rank 0's: " +
                              describeDifference(it.value(), other);
            }
        }
        storeSet("verdict", verdict);
        if (!verdict.empty()) {
            lingerForReaders();
            throw Error(verdict);
        }
    }
    startProcessGroup();
    setupDone_ = true;
}

void Distributed::startProcessGroup() {
    try {
        if (backend_ == "gloo") {
#ifdef SWARM_WITH_GLOO
            auto options = c10d::ProcessGroupGloo::Options::create(timeout_);
            options->devices.push_back(glooDevice(env_));
            group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", store_), rank(),
                                                                 worldSize(), options);
            collectiveDevice_ = at::Device(at::kCPU);
#endif
        } else if (backend_ == "nccl") {
#ifdef SWARM_WITH_NCCL
            // Blocking wait makes Work::wait honour the timeout and throw, instead of a CUDA stream
            // waiting forever on a rank that is gone.
            ::setenv("NCCL_BLOCKING_WAIT", "1", 0);
            auto options = c10d::ProcessGroupNCCL::Options::create();
            options->timeout = timeout_;
            group_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store_), rank(),
                                                                 worldSize(), options);
            collectiveDevice_ = at::Device(at::kCUDA, int8_t(env_.localRank));
#endif
        }
    } catch (const std::exception& e) {
        throw Error("rank " + std::to_string(rank()) + " cannot start the " + backend_ + " process group: " + detailOf(e));
    }
    if (!group_) throw Error("the " + backend_ + " backend is not in this build");
}

// ---------------------------------------------------------------------------------------------
// Collectives.

void Distributed::collectiveFailed(const std::string& what, const std::string& detail) const {
    throw Error("rank " + std::to_string(rank()) + ": the " + what + " failed: a rank stopped, or did not answer within " +
                seconds(timeout_) + " (" + backend_ + ": " + detail + ")");
}

void Distributed::wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
    try {
        if (!work->wait(timeout_)) collectiveFailed(what, "aborted");
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        collectiveFailed(what, detailOf(e));
    }
}

void Distributed::broadcastFromRank0(std::vector<at::Tensor>& tensors, const std::string& what) {
    // One collective per tensor, all in flight together; tensors off the collective device are
    // staged through it.
    std::vector<at::Tensor> staged;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    c10d::BroadcastOptions options;
    options.rootRank = 0;
    options.timeout = timeout_;
    try {
        for (at::Tensor& t : tensors) {
            staged.push_back(t.device() == collectiveDevice_ && t.is_contiguous() ? t : t.to(collectiveDevice_).contiguous());
            std::vector<at::Tensor> one{staged.back()};
            works.push_back(group_->broadcast(one, options));
        }
    } catch (const std::exception& e) {
        collectiveFailed(what, detailOf(e));
    }
    for (auto& w : works) wait(w, what);
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < tensors.size(); ++i)
        if (!staged[i].is_same(tensors[i])) tensors[i].copy_(staged[i]);
}

void Distributed::broadcastBytesFromRank0(std::string& bytes, const std::string& what) {
    std::vector<at::Tensor> size{at::full({1}, int64_t(bytes.size()), at::kLong)};
    broadcastFromRank0(size, what);
    const int64_t n = size[0].item<int64_t>();
    std::vector<at::Tensor> buffer{at::empty({n}, at::kByte)};
    if (isRank0()) std::memcpy(buffer[0].data_ptr(), bytes.data(), size_t(n));
    broadcastFromRank0(buffer, what);
    if (!isRank0()) bytes.assign(reinterpret_cast<const char*>(buffer[0].data_ptr()), size_t(n));
}

c10::intrusive_ptr<c10d::Work> Distributed::allReduceSumAsync(at::Tensor& tensor) {
    std::vector<at::Tensor> one{tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    options.timeout = timeout_;
    return group_->allreduce(one, options);
}

void Distributed::allReduceSum(at::Tensor& tensor, const std::string& what) {
    at::Tensor staged = tensor.device() == collectiveDevice_ && tensor.is_contiguous() ? tensor : tensor.to(collectiveDevice_).contiguous();
    c10::intrusive_ptr<c10d::Work> work;
    try {
        work = allReduceSumAsync(staged);
    } catch (const std::exception& e) {
        collectiveFailed(what, detailOf(e));
    }
    wait(work, what);
    if (!staged.is_same(tensor)) tensor.copy_(staged);
}

// ---------------------------------------------------------------------------------------------
// Gradients.

GradientAllReduce::GradientAllReduce(std::vector<at::Tensor> parameters, Distributed& dist, int64_t bucketBytes)
    : parameters_(std::move(parameters)), dist_(dist) {
    if (parameters_.empty()) return;
    const at::ScalarType dtype = parameters_.front().scalar_type();
    for (const at::Tensor& p : parameters_)
        if (p.scalar_type() != dtype) throw Error("data-parallel training needs every parameter in one dtype");
    const int64_t elementBytes = int64_t(at::elementSize(dtype));
    Bucket bucket;
    int64_t elements = 0;
    auto close = [&] {
        bucket.flagsOffset = elements;
        bucket.flat = at::zeros({elements + int64_t(bucket.members.size())},
                                at::TensorOptions().dtype(dtype).device(dist_.collectiveDevice()));
        bytesPerStep_ += bucket.flat.numel() * elementBytes;
        buckets_.push_back(std::move(bucket));
        bucket = Bucket();
        elements = 0;
    };
    for (size_t i = 0; i < parameters_.size(); ++i) {
        bucket.members.push_back(i);
        bucket.offsets.push_back(elements);
        elements += parameters_[i].numel();
        if (elements * elementBytes >= bucketBytes) close();
    }
    if (!bucket.members.empty()) close();
}

void GradientAllReduce::run(const std::string& what) {
    at::NoGradGuard noGrad;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (Bucket& b : buckets_) {
        std::vector<float> flags(b.members.size(), 0.0f);
        for (size_t k = 0; k < b.members.size(); ++k) {
            const at::Tensor& p = parameters_[b.members[k]];
            at::Tensor slice = b.flat.narrow(0, b.offsets[k], p.numel());
            if (p.grad().defined()) {
                slice.copy_(p.grad().reshape({-1}));
                flags[k] = 1.0f;
            } else {
                slice.zero_();
            }
        }
        b.flat.narrow(0, b.flagsOffset, int64_t(flags.size()))
            .copy_(at::from_blob(flags.data(), {int64_t(flags.size())}, at::kFloat));
        try {
            works.push_back(dist_.allReduceSumAsync(b.flat));   // in flight while the next bucket fills
        } catch (const std::exception& e) {
            throw Error("rank " + std::to_string(dist_.rank()) + ": the " + what + " failed to start: " + detailOf(e));
        }
    }
    for (size_t i = 0; i < buckets_.size(); ++i) {
        Bucket& b = buckets_[i];
        dist_.wait(works[i], what);
        const at::Tensor flags = b.flat.narrow(0, b.flagsOffset, int64_t(b.members.size())).to(at::kCPU, at::kFloat);
        const float* hasGradient = flags.data_ptr<float>();
        for (size_t k = 0; k < b.members.size(); ++k) {
            if (hasGradient[k] == 0.0f) continue;     // no rank reached it: it stays without a gradient
            at::Tensor& p = parameters_[b.members[k]];
            const at::Tensor sum = b.flat.narrow(0, b.offsets[k], p.numel()).view(p.sizes());
            if (p.grad().defined()) p.mutable_grad().copy_(sum);
            else p.mutable_grad() = sum.to(p.device(), p.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
        }
    }
}

} // namespace swarm
