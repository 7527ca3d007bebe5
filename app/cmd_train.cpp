#include "app/cli_args.h"
#include "app/commands.h"

#include "core/error.h"
#include "core/hf_folder.h"
#include "core/project_store.h"
#include "training/distributed.h"
#include "training/batch_source.h"
#include "training/local_launcher.h"
#include "training/memory_estimate.h"
#include "training/run_store.h"
#include "training/trainer.h"
#include "training/run_folder.h"
#include "core/format.h"
#include "datasets/dataset_store.h"

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm::cli {

namespace {

std::atomic<int> g_control{kRun};
std::atomic<int> g_forward{0};          // the local launcher: a signal to pass on to its ranks

void onInterrupt(int) {
    if (g_control.load() != kRun) _exit(130);      // a second Ctrl-C: stop now
    g_control.store(kCancel);
}

void onLauncherSignal(int signal) { g_forward.store(signal); }

const char* kTrainHelp =
    "usage: swarm train --project P --dataset D --base MODEL_DIR --out RUN_DIR [options]\n"
    "       swarm train --objective pretrain --project P --corpus C --base MODEL_DIR --out RUN_DIR [options]\n"
    "       swarm train --resume RUN_DIR [--project P]\n"
    "       swarm train ... --nproc N        (data parallel: N ranks on this machine)\n"
    "\n"
    "Full fine-tuning of every parameter with AdamW, a cosine schedule with warm-up, gradient\n"
    "accumulation to the global batch, clipping and the load-balancing loss. Checkpoints go to\n"
    "RUN_DIR/checkpoints, metrics to RUN_DIR/metrics.csv and the project; the final model to\n"
    "RUN_DIR/final. Ctrl-C stops cleanly with a checkpoint; --resume continues exactly.\n"
    "\n"
    "  --objective O          finetune (default: a dataset's examples, the prompt masked) or\n"
    "                         pretrain (raw text: windows of the context packed from a corpus,\n"
    "                         see swarm corpus import; every token is a target, documents end\n"
    "                         with <|endoftext|>; validation perplexity on its held-out documents)\n"
    "  --corpus NAME          pretrain: the project corpus to train on\n"
    "  --context N            pretrain: the window length (default: the preset's, 0 = the model's)\n"
    "  --preset NAME          specialist (the published recipe: 2 epochs, batch 128, peak 5e-5;\n"
    "                         the default for finetune), quick-test, pretrain (the seed's base\n"
    "                         pre-training: batch 128 x 2048, AdamW 0.9/0.95, wd 0.1, 200 warm-up\n"
    "                         steps, cosine 5e-4 -> 5e-5, clip 1.0; the default for pretrain), or\n"
    "                         a saved preset (see --save-preset)\n"
    "  --epochs N             passes over the training split\n"
    "  --lr X                 peak learning rate\n"
    "  --global-batch N       sequences per optimiser step\n"
    "  --micro-batch N        sequences per forward/backward (memory); accumulation makes up the rest\n"
    "  --max-steps N          stop after N optimiser steps (the schedule is fitted to N)\n"
    "  --warmup X             share of steps in linear warm-up (default 0.03)\n"
    "  --warmup-steps N       N steps of linear warm-up instead of a share\n"
    "  --seed N               data order seed\n"
    "  --device D             cpu, cuda, cuda:N or auto\n"
    "  --threads N            CPU threads (default: all cores)\n"
    "  --precision P          f32, or bf16 (autocast; master weights stay f32)\n"
    "  --checkpoint-every N   optimiser steps between checkpoints (default 50)\n"
    "  --eval-every N         optimiser steps between validation losses (default 25)\n"
    "  --name NAME            the run's name in the project (default: the folder name)\n"
    "  --save-preset NAME     also save these settings as a user preset\n"
    "  --force                start even when the memory pre-flight says it will not fit\n"
    "\n"
    "Data parallelism: each rank computes its share of every global batch, the gradients are\n"
    "summed over the ranks, rank 0 alone writes the run. Under torchrun (or anything that sets\n"
    "RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) each process is one rank, on\n"
    "cuda:LOCAL_RANK when the device is CUDA. A resume may use another number of ranks.\n"
    "  --nproc N              start N ranks on this machine (the built-in launcher); Ctrl-C stops\n"
    "                         them all with a checkpoint; a rank that dies stops the job\n"
    "  --master-port P        with --nproc: the rendezvous port on 127.0.0.1 (default: a free one)\n"
    "  --dist-backend B       auto (nccl on CUDA, gloo on CPU), gloo or nccl\n"
    "  --dist-timeout S       seconds a rank waits for the others before failing (default 300)\n"
    "  --join                 take the job from rank 0 (ranks started by the workbench's Train page)\n";

std::string userPresetFolder() { return defaultUserPresetFolder(); }

TrainConfig resolvePreset(const std::string& name) {
    for (const std::string& builtin : TrainConfig::builtinPresetNames())
        if (name == builtin) return TrainConfig::preset(name);
    for (const std::string& mine : listUserPresets(userPresetFolder()))
        if (name == mine) return loadUserPreset(userPresetFolder(), name);
    return TrainConfig::preset(name);   // throws with the list of built-ins
}



// The terminal face of a run: a progress bar on a TTY, a line every few steps otherwise.
class ProgressPrinter : public TrainingObserver {
public:
    explicit ProgressPrinter(TrainingObserver* next) : next_(next), tty_(isatty(2)) {}
    void onStart(const nlohmann::json& m, int64_t startStep) override {
        const char* key = m.value("objective", "") == "pretrain" ? "corpus" : "dataset";
        const std::string name = m.contains(key) ? m[key].value("name", "") : std::string();
        std::fprintf(stderr, "%s %s: %lld steps%s\n", key[0] == 'c' ? "pre-training on corpus" : "training", name.c_str(),
                     (long long)m.value("total_steps", int64_t(0)),
                     startStep > 0 ? (", resuming after step " + std::to_string(startStep)).c_str() : "");
        next_->onStart(m, startStep);
    }
    void onStep(const StepMetrics& s) override {
        next_->onStep(s);
        if (s.ranks > 1 || s.allReduceBytes > 0) {
            ranks_ = s.ranks;
            allReduceSeconds_ += s.allReduceSeconds;
            allReduceBytes_ = s.allReduceBytes;
            stepSeconds_ += s.tokensPerSecond > 0 ? double(s.tokens) / s.tokensPerSecond : 0;
        }
        char line[256];
        const int width = 24;
        int filled = int(double(width) * double(s.step) / double(std::max<int64_t>(1, s.totalSteps)));
        std::string bar(size_t(filled), '#');
        bar.resize(size_t(width), '.');
        std::snprintf(line, sizeof line, "[%s] %lld/%lld  loss %.4f  val %s  lr %.2e  %.0f tok/s  ETA %s", bar.c_str(),
                      (long long)s.step, (long long)s.totalSteps, s.loss,
                      lastVal_ < 0 ? "-" : std::to_string(lastVal_).substr(0, 6).c_str(), s.lr, s.tokensPerSecond,
                      formatDuration(s.etaSeconds).c_str());
        if (tty_) std::fprintf(stderr, "\r%s\033[K", line);
        else if (s.step == 1 || s.step % 10 == 0 || s.step == s.totalSteps) std::fprintf(stderr, "%s\n", line);
    }
    void onValidation(const ValidationMetrics& v) override {
        next_->onValidation(v);
        lastVal_ = v.loss;
        if (!tty_ || v.epochEnd)
            std::fprintf(stderr, "%svalidation loss %.4f (perplexity %.2f) at step %lld%s\n", tty_ ? "\n" : "", v.loss,
                         v.perplexity, (long long)v.step, v.epochEnd ? " (epoch end)" : "");
    }
    void onWarning(int64_t step, const std::string& message) override {
        next_->onWarning(step, message);
        std::fprintf(stderr, "%swarning: %s\n", tty_ ? "\n" : "", message.c_str());
    }
    void onCheckpoint(int64_t step, const std::string& path) override { next_->onCheckpoint(step, path); }
    void onFinish(const RunResult& r) override {
        next_->onFinish(r);
        if (tty_) std::fprintf(stderr, "\n");
        if (stepSeconds_ > 0)
            std::fprintf(stderr, "data parallel: %d rank(s); all-reduce %.1f%% of step time, %s per step and rank\n", ranks_,
                         100.0 * allReduceSeconds_ / stepSeconds_, formatBytes(uint64_t(allReduceBytes_)).c_str());
    }

private:
    TrainingObserver* next_;
    bool tty_;
    double lastVal_ = -1;
    int ranks_ = 1;
    double allReduceSeconds_ = 0, stepSeconds_ = 0;
    int64_t allReduceBytes_ = 0;
};

// The run's config from the preset and the command line.
TrainConfig configFromArgs(const Args& args) {
    const bool pretrain = args.value("objective", "finetune") == "pretrain";
    TrainConfig config = resolvePreset(args.value("preset", pretrain ? "pretrain" : "specialist"));
    config.epochs = int(args.integer("epochs", config.epochs, 1, 1000));
    config.peakLr = args.number("lr", config.peakLr, 0, 10);
    config.globalBatch = int(args.integer("global-batch", config.globalBatch, 1, 65536));
    config.microBatch = int(args.integer("micro-batch", std::min(config.microBatch, config.globalBatch), 1, 65536));
    config.maxSteps = int(args.integer("max-steps", config.maxSteps, 0, 1LL << 30));
    config.warmupFraction = args.number("warmup", config.warmupFraction, 0, 1);
    if (args.has("warmup") && !args.has("warmup-steps")) config.warmupSteps = -1;   // a share given: it counts
    config.warmupSteps = int(args.integer("warmup-steps", config.warmupSteps, 0, 1LL << 30));
    config.context = int(args.integer("context", config.context, 0, 1 << 20));
    config.seed = uint64_t(args.integer("seed", (long long)config.seed, 0, 1LL << 62));
    config.device = args.value("device", config.device);
    config.threads = int(args.integer("threads", config.threads, 0, 4096));
    config.precision = args.value("precision", config.precision);
    config.checkpointEvery = int(args.integer("checkpoint-every", config.checkpointEvery, 0, 1LL << 30));
    config.evalEvery = int(args.integer("eval-every", config.evalEvery, 0, 1LL << 30));
    config.validate("command line");
    return config;
}

int exitCodeOf(const RunResult& r) {
    switch (r.status) {
    case RunResult::Finished: return 0;
    case RunResult::Diverged: return 1;
    default: return 130;
    }
}

int report(const RunResult& r, const std::string& runDir, RunRecorder& recorder) {
    recorder.flush();
    std::cout << "run " << statusName(r.status) << " after " << r.steps << "/" << r.totalSteps << " steps in "
              << formatDuration(r.seconds) << ": train loss " << r.trainLoss;
    if (r.validationLoss >= 0)
        std::cout << ", validation loss " << r.validationLoss << " (perplexity " << std::exp(r.validationLoss) << ")";
    std::cout << "\n";
    if (!r.finalModelDir.empty()) std::cout << "final model: " << r.finalModelDir << "\n";
    if (!r.lastCheckpoint.empty()) std::cout << "last checkpoint: " << r.lastCheckpoint << "\n";
    if (r.status == RunResult::Cancelled) std::cout << "resume with: swarm train --resume " << runDir << "\n";
    if (r.status == RunResult::Diverged) std::cerr << "swarm: " << r.message << "\n";
    if (!recorder.lastError().empty()) std::cerr << "warning: the project store was not fully updated: " << recorder.lastError() << "\n";
    return exitCodeOf(r);
}

} // namespace

namespace {

// A rank with no job of its own (--join: started by the Train page; --resume on a rank other
// than 0, whose run folder is rank 0's) takes rank 0's job: run folder, base model, project,
// dataset and config.
std::unique_ptr<Trainer> joinRank0sJob(const Args& args, Distributed& dist, std::string& projectPath) {
    const json job = dist.jobOfRank0();
    const std::string mode = job.value("mode", "");
    if (args.has("resume") && mode != "resume")
        throw Error("this rank was started with --resume, but rank 0 is starting a new run");
    projectPath = args.value("project", job.value("project", ""));
    if (projectPath.empty()) throw Error("rank 0's run names no project; pass --project");
    TrainingData data = loadRunData(projectPath, mode == "resume" ? job.at("manifest") : job);
    if (mode == "resume") return Trainer::resume(job.at("run_dir").get<std::string>(), std::move(data), &dist);
    return Trainer::create(job.at("run_dir").get<std::string>(), job.at("base_model").get<std::string>(),
                           TrainConfig::fromJson(job.at("config"), "rank 0's training config"), std::move(data), &dist);
}

// True for --objective pretrain; refuses options that belong to the other objective.
bool checkObjective(const Args& args) {
    const std::string objective = args.value("objective", "finetune");
    if (objective != "finetune" && objective != "pretrain")
        throw Error("--objective must be finetune or pretrain, not '" + objective + "'");
    const bool pretrain = objective == "pretrain";
    if (pretrain && args.has("dataset"))
        throw Error("--objective pretrain trains on raw text: give --corpus NAME (swarm corpus list), not --dataset");
    if (!pretrain && args.has("corpus")) throw Error("--corpus is for pre-training: add --objective pretrain");
    if (!pretrain && args.has("context")) throw Error("--context applies to --objective pretrain (fine-tuning uses each example's length)");
    return pretrain;
}

int train(const Args& args, Distributed* dist) {
    const bool rank0 = !dist || dist->isRank0();
    std::unique_ptr<Trainer> trainer;
    std::string projectPath, runDir, runName;
    if (args.flag("join") || (args.has("resume") && !rank0)) {
        trainer = joinRank0sJob(args, *dist, projectPath);
    } else if (args.has("resume")) {
        runDir = args.required("resume");
        nlohmann::json manifest = run_folder::readManifest(runDir);
        projectPath = args.value("project", projectOfRun(manifest));
        if (projectPath.empty()) throw Error(run_folder::manifestPath(runDir) + ": names no project; pass --project");
        TrainingData data = loadRunData(projectPath, manifest);
        trainer = Trainer::resume(runDir, std::move(data), dist);
        runName = fs::path(runDir).filename().string();
    } else {
        const bool pretrain = checkObjective(args);
        projectPath = args.required("project");
        runDir = args.required("out");
        const std::string base = args.required("base");
        TrainConfig config = configFromArgs(args);
        if (dist) chooseBackend(args.value("dist-backend", "auto"), config.device);
        if (args.has("save-preset") && rank0) saveUserPreset(userPresetFolder(), args.value("save-preset"), config);

        TrainingData data = pretrain ? loadCorpusData(projectPath, args.required("corpus"))
                                     : loadTrainingData(projectPath, args.required("dataset"));
        // Pre-flight with the longest training sequence: refuse with numbers rather than swap or OOM.
        ModelConfig modelConfig = ModelConfig::load(locateHfModel(base).configPath);
        int longest = 0;
        for (const TrainingExample& e : data.train) longest = std::max(longest, int(e.ids.size()));
        if (pretrain) longest = int(pretrainContext(config, modelConfig.block_size));
        const std::string device = dist ? rankDeviceSpec(config.device, dist->env()) : config.device;
        PreflightVerdict verdict = preflight(modelConfig, config.microBatch, longest, config.precision == "bf16",
                                             availableMemory(device));
        if (verdict.kind == PreflightVerdict::DoesNotFit && !args.flag("force"))
            throw Error("memory pre-flight: this run " + verdict.message + " (use --micro-batch, or --force to try anyway)");
        if (rank0) std::cerr << "memory: " << verdict.message << (verdict.kind == PreflightVerdict::Tight ? " (warning)" : "") << "\n";
        trainer = Trainer::create(runDir, base, config, std::move(data), dist);
        runName = args.value("name", fs::path(runDir).filename().string());
    }
    if (!rank0) return exitCodeOf(trainer->run(nullptr, &g_control));   // rank 0 reports for the job
    RunRecorder recorder(projectPath, runDir, runName);
    ProgressPrinter printer(&recorder);
    return report(trainer->run(&printer, &g_control), runDir, recorder);
}

// `swarm train ... --nproc N`: N ranks of this command on this machine, watched until they end.
int launchLocally(const Args& args, const Argv& argv) {
    if (launchEnvFromEnvironment())
        throw Error("--nproc starts its own ranks, but this process already is one (RANK and WORLD_SIZE are set, "
                    "e.g. by torchrun): drop --nproc");
    if (args.flag("join")) throw Error("--join and --nproc do not go together");
    const int processes = int(args.integer("nproc", 1, 1, 4096));
    // Refuse a backend that cannot work before starting anything.
    const std::string device = args.has("resume")
                                   ? run_folder::readManifest(args.required("resume"))["config"].value("device", "cpu")
                                   : configFromArgs(args).device;
    chooseBackend(args.value("dist-backend", "auto"), device);

    LocalRanks::Spec spec;
    spec.executable = fs::read_symlink("/proc/self/exe").string();
    spec.args = {"train"};
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a == "--nproc" || a == "--master-port") { ++i; continue; }
        if (a.rfind("--nproc=", 0) == 0 || a.rfind("--master-port=", 0) == 0) continue;
        spec.args.push_back(a);
    }
    spec.worldSize = processes;
    spec.masterPort = args.has("master-port") ? int(args.integer("master-port", 0, 1, 65535)) : LocalRanks::freePort();
    std::signal(SIGINT, onLauncherSignal);
    std::signal(SIGTERM, onLauncherSignal);
    LocalRanks ranks(spec);
    const int code = ranks.wait(&g_forward);
    if (!ranks.failure().empty()) {
        const std::string runDir = args.has("resume") ? args.value("resume") : args.value("out");
        std::cerr << "swarm: " << ranks.failure() << "; the job is stopped (resume with: swarm train --resume " << runDir
                  << " --nproc " << processes << ")\n";
    }
    return code;
}

std::string messageOf(const std::exception& e) {
    if (auto* c10error = dynamic_cast<const c10::Error*>(&e)) return c10error->what_without_backtrace();
    return e.what();
}

} // namespace

int runTrain(const Argv& argv) {
    Args args(argv,
              {"project", "dataset", "corpus", "objective", "context", "warmup-steps", "base", "out", "preset", "epochs", "lr", "global-batch", "micro-batch", "max-steps",
               "warmup", "seed", "device", "threads", "precision", "checkpoint-every", "eval-every", "name",
               "save-preset", "resume", "nproc", "master-port", "dist-backend", "dist-timeout"},
              {"force", "join"});
    if (args.help()) { std::cout << kTrainHelp; return 0; }
    if (!args.positionals().empty()) throw Error("train: unexpected argument '" + args.positionals()[0] + "'");
    if (args.has("nproc")) return launchLocally(args, argv);
    if (args.has("master-port")) throw Error("--master-port goes with --nproc (a launched rank reads MASTER_PORT)");

    const std::optional<LaunchEnv> env = launchEnvFromEnvironment();
    if (args.flag("join") && (!env || env->rank == 0))
        throw Error("--join is for ranks 1..N-1 of a launched job (RANK > 0, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set)");
    const auto timeout = std::chrono::seconds(args.integer("dist-timeout", 300, 1, 24 * 3600));
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    std::unique_ptr<Distributed> dist;
    if (env) dist = Distributed::connect(*env, args.value("dist-backend", "auto"), timeout);
    try {
        return train(args, dist.get());
    } catch (const std::exception& e) {
        if (!dist) throw;
        // Tell the other ranks why, so that nobody waits for this one; name the rank in the line.
        const std::string message = messageOf(e);
        dist->failSetup(message);
        if (dist->worldSize() > 1 && message.rfind("rank ", 0) != 0) throw Error("rank " + std::to_string(dist->rank()) + ": " + message);
        throw;
    }
}

} // namespace swarm::cli
