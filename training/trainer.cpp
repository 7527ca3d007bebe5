#include "training/trainer.h"

#include "training/batch_source.h"
#include "training/checkpoint_store.h"
#include "training/distributed.h"
#include "training/expert_health.h"
#include "training/run_folder.h"
#include "training/memory_estimate.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "model/model_io.h"
#include "model/runtime.h"
#include "core/tokenizer.h"
#include "core/format.h"
#include "core/system.h"

#include <ATen/autocast_mode.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace swarm {

const char* statusName(RunResult::Status s) {
    switch (s) {
    case RunResult::Finished: return "finished";
    case RunResult::Paused: return "paused";
    case RunResult::Cancelled: return "cancelled";
    case RunResult::Diverged: return "diverged";
    }
    return "?";
}

namespace {

// c10::Error::what() carries a backtrace; the message is what another rank should print.
std::string messageOf(const std::exception& e) {
    if (auto* c10error = dynamic_cast<const c10::Error*>(&e)) return c10error->what_without_backtrace();
    return e.what();
}

// Turns autocast on for the scope when the run asks for BF16.
class AutocastScope {
public:
    AutocastScope(bool enable, const torch::Device& device) : enabled_(enable), cuda_(device.is_cuda()) {
        if (!enabled_) return;
        if (cuda_) {
            at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
            at::autocast::set_enabled(true);
        } else {
            at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
            at::autocast::set_cpu_enabled(true);
        }
    }
    ~AutocastScope() {
        if (!enabled_) return;
        if (cuda_) at::autocast::set_enabled(false);
        else at::autocast::set_cpu_enabled(false);
        at::autocast::clear_cache();
    }

private:
    bool enabled_, cuda_;
};

// RUN_DIR/metrics.csv: one row per optimiser step and per validation.
class MetricsCsv {
public:
    explicit MetricsCsv(const std::string& path, int64_t keepUpToStep) : path_(path) {
        // On resume, rows past the checkpoint belong to steps that will run again: drop them.
        std::string kept = "kind,step,epoch,loss,aux_loss,lr,grad_norm,tokens,tokens_per_s,elapsed_s,perplexity\n";
        std::ifstream in(path);
        std::string line;
        bool header = true;
        while (std::getline(in, line)) {
            if (header) { header = false; continue; }
            std::istringstream s(line);
            std::string kind, step;
            if (std::getline(s, kind, ',') && std::getline(s, step, ',')) {
                try {
                    if (std::stoll(step) <= keepUpToStep) kept += line + "\n";
                } catch (const std::exception&) {
                }
            }
        }
        writeFileAtomically(path, kept);
        file_ = std::fopen(path.c_str(), "a");
        if (!file_) throw Error(path + ": cannot open for appending");
    }
    ~MetricsCsv() {
        if (file_) std::fclose(file_);
    }
    void step(const StepMetrics& m) {
        std::fprintf(file_, "train,%lld,%d,%.8g,%.8g,%.8g,%.8g,%lld,%.2f,%.3f\n", (long long)m.step, m.epoch, m.loss,
                     m.auxLoss, m.lr, m.gradNorm, (long long)m.tokens, m.tokensPerSecond, m.elapsedSeconds);
        std::fflush(file_);
    }
    void validation(const ValidationMetrics& v, double elapsed) {
        std::fprintf(file_, "%s,%lld,%d,%.8g,,,,%lld,,%.3f,%.8g\n", v.epochEnd ? "val_epoch" : "val", (long long)v.step,
                     v.epoch, v.loss, (long long)v.tokens, elapsed, v.perplexity);
        std::fflush(file_);
    }

private:
    std::string path_;
    std::FILE* file_ = nullptr;
};

} // namespace

Trainer::~Trainer() = default;

std::unique_ptr<Trainer> Trainer::create(const std::string& runDir, const std::string& baseModelDir,
                                         const TrainConfig& config, TrainingData data, Distributed* dist) {
    bool madeFolder = false;                 // removed again (when still empty) if the set-up fails
    try {
        config.validate();
        if (!data.pretraining() && data.train.empty()) throw Error("the dataset has no training examples");
        const bool writer = !dist || dist->isRank0();
        std::error_code ec;
        if (writer && run_folder::isRunFolder(runDir))
            throw Error(runDir + ": already holds a run (use resume, or choose another folder)");
        if (writer) madeFolder = fs::create_directories(runDir, ec);
        if (ec) throw Error(runDir + ": cannot create the run folder: " + ec.message());

        std::unique_ptr<Trainer> t(new Trainer());
        t->config_ = config;
        t->data_ = std::move(data);
        t->dist_ = dist;
        t->runDir_ = fs::absolute(runDir).lexically_normal().string();   // recorded paths must not depend on the cwd
        t->baseModelDir_ = baseModelDir;
        const std::string projectPath =
            t->data_.projectPath.empty() ? std::string() : fs::absolute(t->data_.projectPath).string();
        if (dist && dist->isRank0())
            dist->publishJob(json{{"mode", "create"},
                                  {"run_dir", t->runDir_},
                                  {"base_model", fs::absolute(baseModelDir).string()},
                                  {"project", projectPath},
                                  {"dataset_id", t->data_.datasetId},
                                  {"objective", t->data_.objective()},
                                  {"corpus", {{"name", t->data_.corpusName}}},
                                  {"dataset", {{"id", t->data_.datasetId}}},
                                  {"config", config.toJson()}});
        t->setUp(baseModelDir);
        t->manifest_ = json{{"format", run_folder::kManifestFormat},
                            {"version", 1},
                            {"created", utcTimestamp()},
                            {"base_model", fs::absolute(baseModelDir).string()},
                            {"config", config.toJson()},
                            {"model_config", t->model_->config().toJson()},
                            {"objective", t->data_.objective()},
                            {t->batches_->manifestKey(), t->batches_->describe()},
                            {"total_steps", t->totalSteps_},
                            {"device", config.device}};
        t->writeManifest("created", nullptr);
        if (dist) t->joinRanks("create", false);
        return t;
    } catch (const std::exception& e) {
        if (madeFolder && !run_folder::isRunFolder(runDir)) {
            std::error_code ignored;
            fs::remove(runDir, ignored);     // only an empty folder goes
        }
        if (dist) dist->failSetup(messageOf(e));
        throw;
    }
}

std::unique_ptr<Trainer> Trainer::resume(const std::string& runDir, TrainingData data, Distributed* dist) {
    try {
        // Under data parallelism only rank 0 reads the run folder; the others get what they need
        // from it, so that they need not see the folder (another node, no shared disk).
        const bool reader = !dist || dist->isRank0();
        json manifest = reader ? run_folder::readManifest(runDir) : dist->jobOfRank0().at("manifest");
        std::unique_ptr<Trainer> t(new Trainer());
        t->manifest_ = manifest;
        t->dist_ = dist;
        t->runDir_ = fs::absolute(runDir).lexically_normal().string();
        t->config_ = TrainConfig::fromJson(manifest.at("config"), run_folder::manifestPath(runDir));
        t->baseModelDir_ = manifest.value("base_model", "");
        const std::string objective = manifest.value("objective", "finetune");
        if (objective != data.objective())
            throw Error(runDir + ": this run " + (objective == "pretrain" ? "pre-trains on a corpus" : "fine-tunes on a dataset") +
                        ", but it was given " + (data.pretraining() ? "a corpus" : "a dataset"));
        t->data_ = std::move(data);
        if (manifest.value("status", "") == "finished") throw Error(runDir + ": this run has already finished");

        std::optional<CheckpointStore::Info> latest;
        if (reader) {
            CheckpointStore store(runDir, t->config_.keepCheckpoints);
            store.removeIncomplete();
            latest = store.latest();
        }
        t->setUp(t->baseModelDir_);
        const char* key = t->batches_->manifestKey();
        if (!manifest.contains(key) || manifest[key].value("fingerprint", "") != std::to_string(t->batches_->fingerprint()))
            throw Error(runDir + ": the " + key + " differs from the one this run started with (" +
                        (t->data_.pretraining() ? "other tokens, split or context" : "different examples or split") +
                        "); resume needs the same data");
        json state;                            // null: no checkpoint, the run starts from the beginning
        if (latest) {
            CheckpointStore store(runDir, t->config_.keepCheckpoints);
            store.restore(*latest, t->model_, *t->optimizer_);
            state = store.loadState(*latest);
            t->lastCheckpoint_ = latest->path;
        }
        if (dist && dist->isRank0())
            dist->publishJob(json{{"mode", "resume"},
                                  {"run_dir", t->runDir_},
                                  {"manifest", manifest},
                                  {"project", projectOfRun(manifest)},
                                  {"dataset_id", manifest["dataset"].value("id", int64_t(0))},
                                  {"state", state}});
        if (dist && !dist->isRank0()) state = dist->jobOfRank0().at("state");
        if (!state.is_null()) {
            t->step_ = state.at("step").get<int64_t>();
            t->elapsedBefore_ = state.value("elapsed_seconds", 0.0);
            t->lastTrainLoss_ = state.value("train_loss", 0.0);
            t->lastValLoss_ = state.value("validation_loss", -1.0);
        }
        if (dist) t->joinRanks("resume", !state.is_null());
        return t;
    } catch (const std::exception& e) {
        if (dist) dist->failSetup(messageOf(e));
        throw;
    }
}

// Every rank checks that it brings what rank 0 brings, then takes rank 0's weights (and, when
// resuming, its AdamW moments), so that all ranks start from the same bits and, doing the same
// arithmetic on the same summed gradients, stay identical.
void Trainer::joinRanks(const char* mode, bool hasCheckpoint) {
    json recipe = config_.toJson();
    recipe.erase("device");              // machine settings: each rank's own
    recipe.erase("threads");
    json data = batches_->describe();
    for (const char* local : {"id", "project", "folder"}) data.erase(local);   // where each rank finds it
    dist_->agree(json{{"run", {{"mode", mode}, {"step", step_}}},
                      {"training config", recipe},
                      {"model config", model_->config().toJson()},
                      {batches_->manifestKey(), data}},
                 config_.device);
    std::vector<torch::Tensor> weights = model_->parameters();
    dist_->broadcastFromRank0(weights, "broadcast of rank 0's weights");
    if (hasCheckpoint) {
        std::string bytes = isRank0() ? serializeOptimizer(*optimizer_) : std::string();
        dist_->broadcastBytesFromRank0(bytes, "broadcast of rank 0's AdamW state");
        if (!isRank0()) loadOptimizer(*optimizer_, bytes, device_, "rank 0's AdamW state");
    }
    gradients_ = std::make_unique<GradientAllReduce>(model_->parameters(), *dist_);
}

bool Trainer::isRank0() const { return !dist_ || dist_->isRank0(); }

void Trainer::setUp(const std::string& modelDir) {
    // Ranks on one machine share its cores (LOCAL_WORLD_SIZE of them); rank r computes on cuda:LOCAL_RANK.
    const bool shareCores = dist_ && config_.threads == 0;
    applyThreadCount(shareCores ? std::max(1, availableCores() / dist_->env().localWorldSize) : config_.threads);
    device_ = selectDevice(dist_ ? rankDeviceSpec(config_.device, dist_->env()) : config_.device).device;
    LoadedModel loaded = loadEveModel(modelDir, device_, torch::kFloat32);
    model_ = loaded.model;
    model_->train();
    const ModelConfig& mc = model_->config();
    auxCoef_ = config_.auxLossCoef >= 0 ? config_.auxLossCoef : mc.router_aux_loss_coef;

    batches_ = makeBatchSource(data_, config_, mc.block_size);
    stepsPerEpoch_ = stepsPerEpoch(batches_->trainSequences(), config_.globalBatch);
    totalSteps_ = stepsPerEpoch_ * config_.epochs;
    if (config_.maxSteps > 0) totalSteps_ = std::min<int64_t>(totalSteps_, config_.maxSteps);

    // AdamW with weight decay on matrices and the embedding, none on the RMSNorm weights.
    std::vector<torch::Tensor> decay, noDecay;
    for (auto& [name, p] : model_->namedWeights()) (p.dim() >= 2 ? decay : noDecay).push_back(p);
    auto options = torch::optim::AdamWOptions(config_.peakLr)
                       .betas({config_.beta1, config_.beta2})
                       .eps(config_.adamEps)
                       .weight_decay(config_.weightDecay);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(options));
    auto noDecayOptions = options;
    noDecayOptions.weight_decay(0.0);
    groups.emplace_back(noDecay, std::make_unique<torch::optim::AdamWOptions>(noDecayOptions));
    optimizer_ = std::make_unique<torch::optim::AdamW>(std::move(groups), options);
}

void Trainer::writeManifest(const std::string& status, const RunResult* result) {
    if (!isRank0()) return;                 // rank 0 alone writes the run folder
    manifest_["status"] = status;
    manifest_["steps_done"] = step_;
    manifest_["updated"] = utcTimestamp();
    manifest_["elapsed_seconds"] = elapsedNow();
    manifest_["ranks"] = dist_ ? dist_->worldSize() : 1;
    if (!lastCheckpoint_.empty()) manifest_["last_checkpoint"] = lastCheckpoint_;
    if (result) {
        manifest_["train_loss"] = result->trainLoss;
        if (result->validationLoss >= 0) {
            manifest_["validation_loss"] = result->validationLoss;
            manifest_["validation_perplexity"] = std::exp(result->validationLoss);
        }
        if (!result->finalModelDir.empty()) manifest_["final_model"] = result->finalModelDir;
        if (!result->message.empty()) manifest_["message"] = result->message;
    }
    run_folder::writeManifest(runDir_, manifest_);
}

json Trainer::trainerState() const {
    return json{{"step", step_},
                {"epoch", stepsPerEpoch_ > 0 ? step_ / stepsPerEpoch_ : 0},
                {"step_in_epoch", stepsPerEpoch_ > 0 ? step_ % stepsPerEpoch_ : 0},
                {"total_steps", totalSteps_},
                {"elapsed_seconds", elapsedNow()},
                {"train_loss", lastTrainLoss_},
                {"validation_loss", lastValLoss_},
                {"data_fingerprint", std::to_string(batches_->fingerprint())},
                {"written", utcTimestamp()}};
}

std::string Trainer::writeCheckpoint(TrainingObserver* observer) {
    if (!isRank0()) return lastCheckpoint_;
    CheckpointStore store(runDir_, config_.keepCheckpoints);
    lastCheckpoint_ = store.save(step_, model_, *optimizer_, trainerState());
    if (observer) observer->onCheckpoint(step_, lastCheckpoint_);
    return lastCheckpoint_;
}

Trainer::Validation Trainer::validate() {
    const std::vector<MicroBatch> plan = batches_->validationPlan(config_.microBatch, config_.maxValidationExamples);
    if (plan.empty()) return {};
    torch::NoGradGuard noGrad;
    AutocastScope autocast(config_.precision == "bf16", device_);
    model_->eval();
    double ceSum = 0;
    int64_t labelled = 0;
    const int rank = dist_ ? dist_->rank() : 0, ranks = dist_ ? dist_->worldSize() : 1;
    for (size_t k = 0; k < plan.size(); ++k) {
        if (int(k % size_t(ranks)) != rank) continue;     // micro-batch k is rank k mod W's
        MicroTensors m = batches_->validationBatch(plan[k], device_);
        EveOutput out = model_->forwardForLoss(m.ids, m.labels);
        ceSum += out.ceLoss.item<double>() * double(out.labelledTokens);
        labelled += out.labelledTokens;
    }
    if (dist_) {
        torch::Tensor sums = torch::tensor({ceSum, double(labelled)}, torch::kFloat64);
        dist_->allReduceSum(sums, "all-reduce of the validation loss at step " + std::to_string(step_));
        ceSum = sums[0].item<double>();
        labelled = int64_t(std::llround(sums[1].item<double>()));
    }
    model_->train();
    if (labelled == 0) return {};
    return Validation{ceSum / double(labelled), labelled};
}

// One call of Trainer::run: where its metrics go and what it has reported.
struct Trainer::Session {
    Session(const std::string& metricsPath, bool writer, int64_t startStep, TrainingObserver* observer,
            const std::atomic<int>* control, int64_t expertWarmup, int64_t totalSteps)
        : observer(observer), control(control), startStep(startStep), experts(expertWarmup, totalSteps) {
        if (writer) csv.emplace(metricsPath, startStep);
    }
    std::optional<MetricsCsv> csv;           // rank 0's alone under data parallelism
    TrainingObserver* observer;
    const std::atomic<int>* control;
    int64_t startStep;
    Clock::time_point start = Clock::now();
    ExpertHealthMonitor experts;
};

// What one global batch's micro-batches added up to before the optimiser step.
struct Trainer::Accumulated {
    double ceSum = 0, auxWeighted = 0;
    int64_t labelled = 0, tokens = 0;        // labelled: the whole global batch's, on every rank
    double allReduceSeconds = 0;
    torch::Tensor expertTokens;              // [layer, expert]
    std::vector<double> entropy;             // [layer]
};

RunResult Trainer::run(TrainingObserver* observer, const std::atomic<int>* control) {
    Session session(run_folder::metricsPath(runDir_), isRank0(), step_, observer, control, config_.expertWarmupSteps, totalSteps_);
    sessionStart_ = session.start;
    writeManifest("running", nullptr);
    if (observer) observer->onStart(manifest_, step_);
    if (step_ == 0) emitValidation(session, false);   // the starting point of the validation curve

    int planEpochIndex = -1;
    std::vector<GlobalBatch> plan;
    while (step_ < totalSteps_) {
        const int epoch = int(step_ / stepsPerEpoch_);
        if (epoch != planEpochIndex) {
            plan = batches_->planEpoch(config_.globalBatch, config_.microBatch, config_.seed, epoch);
            planEpochIndex = epoch;
        }
        const auto stepStart = Clock::now();
        Accumulated acc;
        const bool complete = accumulate(plan[size_t(step_ % stepsPerEpoch_)], session, acc);
        int stop = complete ? kRun : control->load();
        if (dist_) {
            // Ranks stop together: a stop asked of any rank (between its micro-batches, or now)
            // stops every rank before this step's update.
            if (complete && control) stop = control->load();
            stop = combineAcrossRanks(acc, stop);
        }
        if (stop != kRun) {
            // The partial accumulation is discarded: the step re-runs whole on resume.
            clearGradients();
            const bool pause = stop == kPause;
            return finish(session, pause ? RunResult::Paused : RunResult::Cancelled,
                          (pause ? "paused at step " : "cancelled at step ") + std::to_string(step_));
        }
        if (dist_) {
            const auto reduceStart = Clock::now();
            gradients_->run("gradient all-reduce at step " + std::to_string(step_ + 1));
            acc.allReduceSeconds += std::chrono::duration<double>(Clock::now() - reduceStart).count();
        }
        const double lr = learningRateAt(config_, step_, totalSteps_);
        const double trainLoss = acc.ceSum / double(std::max<int64_t>(acc.labelled, 1));
        const double gradNorm = torch::nn::utils::clip_grad_norm_(model_->parameters(), config_.gradClip > 0 ? config_.gradClip : 1e30);
        if (!std::isfinite(trainLoss) || !std::isfinite(gradNorm)) {
            clearGradients();
            const std::string msg = divergenceMessage(trainLoss, gradNorm, lr);
            if (observer) observer->onWarning(step_ + 1, msg);
            return finish(session, RunResult::Diverged, msg);
        }
        for (auto& group : optimizer_->param_groups())
            static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
        optimizer_->step();
        clearGradients();
        ++step_;
        lastTrainLoss_ = trainLoss;
        reportStep(session, acc, epoch, lr, gradNorm, std::chrono::duration<double>(Clock::now() - stepStart).count());

        const bool epochEnd = step_ % stepsPerEpoch_ == 0 || step_ == totalSteps_;
        if (epochEnd || (config_.evalEvery > 0 && step_ % config_.evalEvery == 0)) emitValidation(session, epochEnd);
        if (config_.checkpointEvery > 0 && step_ % config_.checkpointEvery == 0 && step_ < totalSteps_) {
            writeCheckpoint(observer);       // both: rank 0 only
            writeManifest("running", nullptr);
        }
    }
    return finish(session, RunResult::Finished, "finished " + std::to_string(step_) + " steps");
}

// Gradients are dropped, not zeroed, between steps (PyTorch's zero_grad(set_to_none=True)): an
// expert that no token reached in a step then has no gradient and AdamW leaves it and its moments
// alone. LibTorch 1.13's zero_grad() keeps zero tensors instead, so such an expert was updated
// from its momentum in a long-running process but skipped after a resume (its gradient never
// existed there): resumed runs drifted from uninterrupted ones at the second step after a
// checkpoint. Dropping them makes both follow one rule.
void Trainer::clearGradients() {
    for (torch::Tensor& p : model_->parameters())
        if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

bool Trainer::accumulate(const GlobalBatch& batch, Session& session, Accumulated& acc) {
    const ModelConfig& mc = model_->config();
    const int64_t L = mc.n_layer, E = mc.num_experts;
    const bool bf16 = config_.precision == "bf16";
    int64_t globalSeqs = 0;
    for (const MicroBatch& m : batch)
        for (int32_t i : m) {
            acc.labelled += batches_->labelledTokens(i);
            ++globalSeqs;
        }
    acc.expertTokens = torch::zeros({L, E}, torch::kInt64);
    acc.entropy.assign(size_t(L), 0.0);
    // Under data parallelism this rank computes its share of the micro-batches; the loss stays
    // normalised over the whole global batch, so the ranks' gradients sum to one process's.
    GlobalBatch share;
    if (dist_) share = rankShare(batch, dist_->rank(), dist_->worldSize());
    for (const MicroBatch& members : dist_ ? share : batch) {
        if (session.control && session.control->load() != kRun) return false;
        MicroTensors m = batches_->trainBatch(members, device_);
        EveOutput out;
        {
            AutocastScope autocast(bf16, device_);
            out = model_->forwardForLoss(m.ids, m.labels);
        }
        const double seqShare = double(members.size()) / double(globalSeqs);
        // Normalised over the whole global batch, so accumulation equals one big batch.
        torch::Tensor loss = out.ceLoss * (double(out.labelledTokens) / double(std::max<int64_t>(acc.labelled, 1))) +
                             auxCoef_ * seqShare * out.auxLoss;
        loss.backward();
        acc.ceSum += out.ceLoss.item<double>() * double(out.labelledTokens);
        acc.auxWeighted += out.auxLoss.item<double>() * seqShare;
        acc.tokens += m.realTokens;
        for (int64_t l = 0; l < L; ++l) {
            acc.expertTokens[l] += out.routing[size_t(l)].expertTokens;
            acc.entropy[size_t(l)] += out.routing[size_t(l)].entropy.item<double>() * seqShare;
        }
    }
    return true;
}

int Trainer::combineAcrossRanks(Accumulated& acc, int control) {
    const auto start = Clock::now();
    const int64_t L = acc.expertTokens.size(0), E = acc.expertTokens.size(1);
    std::vector<double> v = {control == kPause ? 1.0 : 0.0, control == kCancel ? 1.0 : 0.0, acc.ceSum, acc.auxWeighted,
                             double(acc.tokens)};
    v.insert(v.end(), acc.entropy.begin(), acc.entropy.end());
    auto counts = acc.expertTokens.accessor<int64_t, 2>();
    for (int64_t l = 0; l < L; ++l)
        for (int64_t e = 0; e < E; ++e) v.push_back(double(counts[l][e]));    // exact below 2^53
    torch::Tensor sums = torch::from_blob(v.data(), {int64_t(v.size())}, torch::kFloat64).clone();
    dist_->allReduceSum(sums, "all-reduce of the step statistics at step " + std::to_string(step_ + 1));
    const double* s = sums.data_ptr<double>();
    acc.ceSum = s[2];
    acc.auxWeighted = s[3];
    acc.tokens = int64_t(std::llround(s[4]));
    for (int64_t l = 0; l < L; ++l) acc.entropy[size_t(l)] = s[5 + l];
    for (int64_t l = 0; l < L; ++l)
        for (int64_t e = 0; e < E; ++e) counts[l][e] = int64_t(std::llround(s[5 + L + l * E + e]));
    acc.allReduceSeconds += std::chrono::duration<double>(Clock::now() - start).count();
    return s[1] > 0 ? kCancel : s[0] > 0 ? kPause : kRun;
}

void Trainer::reportStep(Session& session, const Accumulated& acc, int epoch, double lr, double gradNorm,
                         double stepSeconds) {
    StepMetrics sm;
    sm.step = step_;
    sm.totalSteps = totalSteps_;
    sm.epoch = epoch;
    sm.loss = lastTrainLoss_;
    sm.auxLoss = acc.auxWeighted;
    sm.lr = lr;
    sm.gradNorm = gradNorm;
    sm.tokens = acc.tokens;
    sm.tokensPerSecond = stepSeconds > 0 ? double(acc.tokens) / stepSeconds : 0;
    sm.elapsedSeconds = elapsedNow();
    const double sessionSeconds = std::chrono::duration<double>(Clock::now() - session.start).count();
    sm.etaSeconds = sessionSeconds / double(step_ - session.startStep) * double(totalSteps_ - step_);
    const int64_t L = acc.expertTokens.size(0), E = acc.expertTokens.size(1);
    sm.expertShare.assign(size_t(L), std::vector<double>(size_t(E), 0.0));
    auto counts = acc.expertTokens.accessor<int64_t, 2>();
    for (int64_t l = 0; l < L; ++l) {
        int64_t total = 0;
        for (int64_t e = 0; e < E; ++e) total += counts[l][e];
        for (int64_t e = 0; e < E; ++e) sm.expertShare[size_t(l)][size_t(e)] = total > 0 ? double(counts[l][e]) / double(total) : 0.0;
    }
    sm.routerEntropy = acc.entropy;
    if (dist_) {
        sm.ranks = dist_->worldSize();
        sm.allReduceSeconds = acc.allReduceSeconds;
        sm.allReduceBytes = gradients_->bytesPerStep() + int64_t(sizeof(double)) * (5 + L + L * E);
    }
    if (session.csv) session.csv->step(sm);
    if (!session.observer) return;
    for (const std::string& warning : session.experts.observe(step_, sm.expertShare)) session.observer->onWarning(step_, warning);
    session.observer->onStep(sm);
}

std::string Trainer::divergenceMessage(double trainLoss, double gradNorm, double lr) const {
    const bool bf16 = config_.precision == "bf16";
    const std::string where = lastCheckpoint_.empty() ? "no checkpoint was written yet" : "the last good checkpoint is " + lastCheckpoint_;
    const std::string cause = bf16 ? "BF16 overflow or a learning rate too high"
                                   : "a learning rate too high (peak " + std::to_string(config_.peakLr) + ")";
    const bool lossBad = !std::isfinite(trainLoss);
    return std::string(lossBad ? "loss" : "gradient norm") + " became " + (std::isnan(lossBad ? trainLoss : gradNorm) ? "NaN" : "infinite") +
           " at step " + std::to_string(step_ + 1) + " (learning rate " + std::to_string(lr) + "); likely cause: " + cause + "; " + where;
}

void Trainer::emitValidation(Session& session, bool epochEnd) {
    const Validation v = validate();
    if (v.tokens == 0) return;
    lastValLoss_ = v.loss;
    ValidationMetrics vm;
    vm.step = step_;
    vm.epoch = int(stepsPerEpoch_ > 0 ? std::max<int64_t>(0, step_ - 1) / stepsPerEpoch_ : 0);
    vm.loss = v.loss;
    vm.perplexity = std::exp(v.loss);
    vm.tokens = v.tokens;
    vm.epochEnd = epochEnd;
    if (session.csv) session.csv->validation(vm, elapsedNow());
    if (session.observer) session.observer->onValidation(vm);
}

RunResult Trainer::finish(Session& session, RunResult::Status status, const std::string& message) {
    RunResult r;
    r.status = status;
    r.steps = step_;
    r.totalSteps = totalSteps_;
    r.trainLoss = lastTrainLoss_;
    r.validationLoss = lastValLoss_;
    r.message = message;
    r.seconds = elapsedNow();
    if (status == RunResult::Finished && isRank0()) {
        r.finalModelDir = run_folder::finalModelDir(runDir_);
        Gpt2Tokenizer tokenizer = Gpt2Tokenizer::bundled();
        saveEveModel(r.finalModelDir, model_, DType::F32, &tokenizer);
    }
    if (status != RunResult::Diverged && step_ > session.startStep) writeCheckpoint(session.observer);
    r.lastCheckpoint = lastCheckpoint_;
    elapsedBefore_ = elapsedNow();
    sessionStart_ = Clock::now();
    writeManifest(statusName(status), &r);
    if (session.observer) {
        if (step_ > session.startStep) session.observer->onWarning(step_, session.experts.summary(step_));
        session.observer->onFinish(r);
    }
    return r;
}

} // namespace swarm
