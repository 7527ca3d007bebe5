#pragma once
// Data-parallel training on LibTorch's own distributed engine (c10d): a TCPStore for the
// rendezvous and the set-up checks, ProcessGroupGloo (CPU) or ProcessGroupNCCL (CUDA) for the
// collectives. The launch contract is torchrun's: each process reads RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT, so torchrun, Slurm scripts and
// Kubernetes PyTorchJob start `swarm train` unchanged (training/local_launcher.h is the
// built-in launcher for one machine).
//
// Every wait has a deadline: joining, the set-up checks and each collective give up after
// timeout() with an error naming the rank, the step of the protocol and what was waited for.
#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace swarm {

// Where this process sits in the job, from the environment torchrun sets.
struct LaunchEnv {
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;             // the GPU index on this machine: rank r uses cuda:LOCAL_RANK
    int localWorldSize = 1;        // ranks on this machine: threads = cores / LOCAL_WORLD_SIZE
    std::string masterAddr;
    int masterPort = 0;
    bool agentStore = false;       // TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store
    int restartCount = 0;          // TORCHELASTIC_RESTART_COUNT: keys of a restarted job start afresh
};

// None of RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT set: nullopt (a plain single process).
// Some set: the whole contract is required; throws swarm::Error naming the missing or
// inconsistent variable (RANK outside [0, WORLD_SIZE), a port that is not a number...).
std::optional<LaunchEnv> launchEnvFromEnvironment();

// "gloo" or "nccl" for a run on `deviceSpec` (cpu, cuda, cuda:N, auto); `requested` is "auto"
// (NCCL when the device is CUDA, Gloo otherwise) or a backend name. Throws for unknown names and
// for NCCL where this build or the device cannot use it.
std::string chooseBackend(const std::string& requested, const std::string& deviceSpec);
bool ncclCompiledIn();     // this build was compiled against a CUDA LibTorch with c10d NCCL
bool glooCompiledIn();

// The device rank r computes on: under data parallelism every CUDA spec means cuda:LOCAL_RANK
// (torchrun's convention); CPU stays CPU.
std::string rankDeviceSpec(const std::string& deviceSpec, const LaunchEnv& env);

class Distributed {
public:
    // Connects to the job: rank 0 hosts the TCPStore at MASTER_ADDR:MASTER_PORT (unless torchrun's
    // agent does), every rank joins, and rank 0 checks that all WORLD_SIZE ranks arrived with the
    // same world size. Throws swarm::Error with one clear line: master unreachable, port in use,
    // a rank that did not join in time, inconsistent world sizes, two processes with one rank.
    // `requestedBackend` ("auto", "gloo", "nccl") is resolved against the run's device in agree().
    static std::unique_ptr<Distributed> connect(const LaunchEnv& env, const std::string& requestedBackend,
                                                std::chrono::milliseconds timeout);
    ~Distributed();

    int rank() const { return env_.rank; }
    int worldSize() const { return env_.worldSize; }
    bool isRank0() const { return env_.rank == 0; }
    const LaunchEnv& env() const { return env_; }
    const std::string& backend() const { return backend_; }      // set by agree()
    std::chrono::milliseconds timeout() const { return timeout_; }
    // Where collective buffers live: the rank's GPU for NCCL, the CPU for Gloo.
    at::Device collectiveDevice() const { return collectiveDevice_; }

    // --- Set-up, through the store (before the first collective) ---
    // Rank 0 publishes what the job is (a JSON object); every other rank may read it. A rank 0
    // that failed instead publishes its error, which jobOfRank0() throws as "rank 0: ...".
    void publishJob(const nlohmann::json& job);
    nlohmann::json jobOfRank0();
    // Every rank must present the same facts as rank 0 (an object of named values: "training
    // config", "dataset"...). Rank 0 compares and publishes one verdict; every rank throws the same
    // line when it is not ok ("rank 1's dataset differs from rank 0's: fingerprint ... vs ...").
    // Then the backend is chosen for `deviceSpec` (also compared) and the process group started.
    void agree(nlohmann::json facts, const std::string& deviceSpec);
    // A rank whose set-up threw tells the others, so that nobody waits for it until the timeout.
    // Does nothing once agree() has passed.
    void failSetup(const std::string& message);
    bool setupDone() const { return setupDone_; }

    // --- Collectives (each waits at most timeout(); `what` names it in errors) ---
    void broadcastFromRank0(std::vector<at::Tensor>& tensors, const std::string& what);
    void broadcastBytesFromRank0(std::string& bytes, const std::string& what);
    void allReduceSum(at::Tensor& tensor, const std::string& what);
    c10::intrusive_ptr<c10d::Work> allReduceSumAsync(at::Tensor& tensor);
    void wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what);

private:
    Distributed() = default;
    void join();
    void startProcessGroup();
    void lingerForReaders();
    void failureRead();
    std::string storeGet(const std::string& key, std::chrono::milliseconds timeout, const std::string& waitingFor);
    void storeSet(const std::string& key, const std::string& value);
    [[noreturn]] void collectiveFailed(const std::string& what, const std::string& detail) const;

    LaunchEnv env_;
    std::string requestedBackend_;
    std::string backend_;
    std::chrono::milliseconds timeout_{0};
    at::Device collectiveDevice_{at::kCPU};
    c10::intrusive_ptr<c10d::Store> store_;
    c10::intrusive_ptr<c10d::ProcessGroup> group_;
    nlohmann::json job_;                     // rank 0's job, once read
    bool jobPublished_ = false;
    bool setupDone_ = false;
    bool setupFailed_ = false;
};

// Sums every parameter's gradient over the ranks in buckets of about 25 MB (DDP's default), each
// bucket one all-reduce, all in flight together. Each rank's loss is already its share of the
// global batch's loss, so the sum is the gradient one process would have computed.
// Gradients are dropped, not zeroed, between steps (see Trainer::clearGradients): a parameter
// without a gradient on some rank counts as zeros there, and one without a gradient on every
// rank stays without one, so AdamW skips it exactly as in one process. Each bucket carries a
// "has gradient" flag per parameter, reduced with the gradients.
class GradientAllReduce {
public:
    GradientAllReduce(std::vector<at::Tensor> parameters, Distributed& dist, int64_t bucketBytes = 25 << 20);
    void run(const std::string& what);
    int64_t bytesPerStep() const { return bytesPerStep_; }    // all-reduced bytes: gradients and flags
    size_t bucketCount() const { return buckets_.size(); }

private:
    struct Bucket {
        std::vector<size_t> members;      // indices into parameters_
        std::vector<int64_t> offsets;     // element offset of each member in `flat`
        int64_t flagsOffset = 0;          // the members' flags follow their gradients
        at::Tensor flat;
    };
    std::vector<at::Tensor> parameters_;
    std::vector<Bucket> buckets_;
    Distributed& dist_;
    int64_t bytesPerStep_ = 0;
};

} // namespace swarm
