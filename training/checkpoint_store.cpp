#include "training/checkpoint_store.h"

#include "training/run_folder.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hf_folder.h"
#include "model/model_io.h"

#include <ATen/CPUGeneratorImpl.h>
#include <algorithm>
#include <mutex>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm {

namespace {

void fsyncPath(const fs::path& p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

} // namespace

std::string serializeOptimizer(torch::optim::Optimizer& optimizer) {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    std::ostringstream out;
    archive.save_to(out);
    return out.str();
}

void loadOptimizer(torch::optim::Optimizer& optimizer, const std::string& bytes, const torch::Device& device,
                   const std::string& source) {
    try {
        std::istringstream in(bytes);
        torch::serialize::InputArchive archive;
        archive.load_from(in, device);
        optimizer.load(archive);
    } catch (const c10::Error& e) {
        throw Error(source + ": cannot read the optimizer state: " + e.what_without_backtrace());
    }
}

CheckpointStore::CheckpointStore(std::string runDir, int keep)
    : runDir_(std::move(runDir)), dir_(run_folder::checkpointsDir(runDir_)), keep_(std::max(1, keep)) {}

std::string CheckpointStore::save(int64_t step, const EveModel& model, torch::optim::Optimizer& optimizer,
                                  const json& trainerState) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) throw Error(dir_ + ": cannot create the checkpoints folder: " + ec.message());
    const fs::path final = fs::path(dir_) / run_folder::checkpointDirName(step);
    const fs::path temp = fs::path(dir_) / (run_folder::kTemporaryPrefix + run_folder::checkpointDirName(step) + "-" + std::to_string(::getpid()));
    fs::remove_all(temp, ec);
    try {
        saveEveModel(temp.string(), model, DType::F32, nullptr);     // F32 master weights: exact resume
        writeFileAtomically((temp / "optimizer.pt").string(), serializeOptimizer(optimizer));
        torch::Tensor rng = at::detail::getDefaultCPUGenerator().get_state();
        writeFileAtomically((temp / "rng_cpu.bin").string(),
                            std::string(reinterpret_cast<const char*>(rng.data_ptr()), size_t(rng.nbytes())));
        // trainer_state.json last: its presence marks a complete checkpoint.
        writeFileAtomically((temp / run_folder::kCheckpointStateFile).string(), trainerState.dump(2) + "\n");
        fsyncPath(temp);
        if (fs::exists(final)) fs::remove_all(final);                 // a re-run of the same step
        fs::rename(temp, final);
        fsyncPath(dir_);
    } catch (const fs::filesystem_error& e) {
        fs::remove_all(temp, ec);
        throw Error(final.string() + ": cannot write the checkpoint: " + e.code().message());
    } catch (...) {
        fs::remove_all(temp, ec);
        throw;
    }
    std::vector<Info> all = list();
    for (size_t i = 0; i + size_t(keep_) < all.size(); ++i) fs::remove_all(all[i].path, ec);
    return final.string();
}

std::vector<CheckpointStore::Info> CheckpointStore::list() const {
    std::vector<Info> out;
    for (const run_folder::Checkpoint& c : run_folder::listCheckpoints(runDir_)) out.push_back(Info{c.step, c.path});
    return out;
}

std::optional<CheckpointStore::Info> CheckpointStore::latest() const {
    std::vector<Info> all = list();
    if (all.empty()) return std::nullopt;
    return all.back();
}

json CheckpointStore::loadState(const Info& info) const {
    const std::string path = (fs::path(info.path) / run_folder::kCheckpointStateFile).string();
    json j = json::parse(readTextFile(path, 1 << 24), nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(path + ": not a valid trainer state");
    return j;
}

void CheckpointStore::restore(const Info& info, EveModel& model, torch::optim::Optimizer& optimizer) const {
    const fs::path dir(info.path);
    HfModelFiles files = locateHfModel(info.path);
    ModelConfig config = ModelConfig::load(files.configPath);
    if (config.n_layer != model->config().n_layer || config.n_embd != model->config().n_embd ||
        config.num_experts != model->config().num_experts)
        throw Error(info.path + ": checkpoint was written for a different model configuration");
    HfWeights weights = HfWeights::open(files, config);
    {
        torch::NoGradGuard noGrad;
        for (auto& [name, param] : model->namedWeights()) {
            HfWeights::Entry e = weights.get(name);
            torch::Tensor staged = torch::empty(e.info->shape, toTorchDType(e.info->dtype));
            std::memcpy(staged.data_ptr(), e.data(), e.info->nbytes());
            param.copy_(staged);
        }
    }
    const std::string optPath = (dir / "optimizer.pt").string();
    loadOptimizer(optimizer, readTextFile(optPath, size_t(1) << 36),
                  model->parameters().empty() ? torch::Device(torch::kCPU) : model->parameters().front().device(), optPath);
    const std::string rngPath = (dir / "rng_cpu.bin").string();
    std::string rng = readTextFile(rngPath, 1 << 20);
    torch::Tensor state = torch::empty({int64_t(rng.size())}, torch::kUInt8);
    std::memcpy(state.data_ptr(), rng.data(), rng.size());
    try {
        at::Generator generator = at::detail::getDefaultCPUGenerator();   // shares the global state
        std::lock_guard<std::mutex> lock(generator.mutex());
        generator.set_state(state);
    } catch (const c10::Error& e) {
        throw Error(rngPath + ": invalid random generator state");
    }
}

int CheckpointStore::removeIncomplete() const {
    int removed = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_, ec)) {
        const std::string name = e.path().filename().string();
        int64_t step = 0;
        bool temp = name.rfind(run_folder::kTemporaryPrefix, 0) == 0;
        bool unfinished = run_folder::parseCheckpointDirName(name, step) && !fs::exists(e.path() / run_folder::kCheckpointStateFile);
        if (temp || unfinished) {
            fs::remove_all(e.path(), ec);
            ++removed;
        }
    }
    return removed;
}

} // namespace swarm
