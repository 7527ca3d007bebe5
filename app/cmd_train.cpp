#include "app/cli_args.h"
#include "app/commands.h"

#include "core/error.h"
#include "core/hf_folder.h"
#include "core/project_store.h"
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
#include <unistd.h>

namespace fs = std::filesystem;

namespace swarm::cli {

namespace {

std::atomic<int> g_control{kRun};

void onInterrupt(int) {
    if (g_control.load() != kRun) _exit(130);      // a second Ctrl-C: stop now
    g_control.store(kCancel);
}

const char* kTrainHelp =
    "usage: swarm train --project P --dataset D --base MODEL_DIR --out RUN_DIR [options]\n"
    "       swarm train --resume RUN_DIR [--project P]\n"
    "\n"
    "Full fine-tuning of every parameter with AdamW, a cosine schedule with warm-up, gradient\n"
    "accumulation to the global batch, clipping and the load-balancing loss. Checkpoints go to\n"
    "RUN_DIR/checkpoints, metrics to RUN_DIR/metrics.csv and the project; the final model to\n"
    "RUN_DIR/final. Ctrl-C stops cleanly with a checkpoint; --resume continues exactly.\n"
    "\n"
    "  --preset NAME          specialist (the published recipe: 2 epochs, batch 128, peak 5e-5),\n"
    "                         quick-test, or a saved preset (see --save-preset)\n"
    "  --epochs N             passes over the training split\n"
    "  --lr X                 peak learning rate\n"
    "  --global-batch N       sequences per optimiser step\n"
    "  --micro-batch N        sequences per forward/backward (memory); accumulation makes up the rest\n"
    "  --max-steps N          stop after N optimiser steps (the schedule is fitted to N)\n"
    "  --warmup X             share of steps in linear warm-up (default 0.03)\n"
    "  --seed N               data order seed\n"
    "  --device D             cpu, cuda, cuda:N or auto\n"
    "  --threads N            CPU threads (default: all cores)\n"
    "  --precision P          f32, or bf16 (autocast; master weights stay f32)\n"
    "  --checkpoint-every N   optimiser steps between checkpoints (default 50)\n"
    "  --eval-every N         optimiser steps between validation losses (default 25)\n"
    "  --name NAME            the run's name in the project (default: the folder name)\n"
    "  --save-preset NAME     also save these settings as a user preset\n"
    "  --force                start even when the memory pre-flight says it will not fit\n";

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
        std::fprintf(stderr, "training %s: %lld steps%s\n", m["dataset"].value("name", "").c_str(),
                     (long long)m.value("total_steps", int64_t(0)),
                     startStep > 0 ? (", resuming after step " + std::to_string(startStep)).c_str() : "");
        next_->onStart(m, startStep);
    }
    void onStep(const StepMetrics& s) override {
        next_->onStep(s);
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
            std::fprintf(stderr, "%svalidation loss %.4f at step %lld%s\n", tty_ ? "\n" : "", v.loss, (long long)v.step,
                         v.epochEnd ? " (epoch end)" : "");
    }
    void onWarning(int64_t step, const std::string& message) override {
        next_->onWarning(step, message);
        std::fprintf(stderr, "%swarning: %s\n", tty_ ? "\n" : "", message.c_str());
    }
    void onCheckpoint(int64_t step, const std::string& path) override { next_->onCheckpoint(step, path); }
    void onFinish(const RunResult& r) override {
        next_->onFinish(r);
        if (tty_) std::fprintf(stderr, "\n");
    }

private:
    TrainingObserver* next_;
    bool tty_;
    double lastVal_ = -1;
};

int report(const RunResult& r, const std::string& runDir, RunRecorder& recorder) {
    recorder.flush();
    std::cout << "run " << statusName(r.status) << " after " << r.steps << "/" << r.totalSteps << " steps in "
              << formatDuration(r.seconds) << ": train loss " << r.trainLoss;
    if (r.validationLoss >= 0) std::cout << ", validation loss " << r.validationLoss;
    std::cout << "\n";
    if (!r.finalModelDir.empty()) std::cout << "final model: " << r.finalModelDir << "\n";
    if (!r.lastCheckpoint.empty()) std::cout << "last checkpoint: " << r.lastCheckpoint << "\n";
    if (r.status == RunResult::Cancelled) std::cout << "resume with: swarm train --resume " << runDir << "\n";
    if (r.status == RunResult::Diverged) std::cerr << "swarm: " << r.message << "\n";
    if (!recorder.lastError().empty()) std::cerr << "warning: the project store was not fully updated: " << recorder.lastError() << "\n";
    switch (r.status) {
    case RunResult::Finished: return 0;
    case RunResult::Diverged: return 1;
    default: return 130;
    }
}

} // namespace

int runTrain(const Argv& argv) {
    Args args(argv,
              {"project", "dataset", "base", "out", "preset", "epochs", "lr", "global-batch", "micro-batch", "max-steps",
               "warmup", "seed", "device", "threads", "precision", "checkpoint-every", "eval-every", "name",
               "save-preset", "resume"},
              {"force"});
    if (args.help()) { std::cout << kTrainHelp; return 0; }
    if (!args.positionals().empty()) throw Error("train: unexpected argument '" + args.positionals()[0] + "'");
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);

    if (args.has("resume")) {
        const std::string runDir = args.required("resume");
        nlohmann::json manifest = run_folder::readManifest(runDir);
        const std::string projectPath = args.value("project", manifest["dataset"].value("project", ""));
        if (projectPath.empty()) throw Error(run_folder::manifestPath(runDir) + ": names no project; pass --project");
        TrainingData data = loadTrainingData(projectPath, std::to_string(manifest["dataset"].value("id", int64_t(0))));
        auto trainer = Trainer::resume(runDir, std::move(data));
        RunRecorder recorder(projectPath, runDir, fs::path(runDir).filename().string());
        ProgressPrinter printer(&recorder);
        return report(trainer->run(&printer, &g_control), runDir, recorder);
    }

    const std::string projectPath = args.required("project");
    const std::string runDir = args.required("out");
    const std::string base = args.required("base");
    TrainConfig config = resolvePreset(args.value("preset", "specialist"));
    config.epochs = int(args.integer("epochs", config.epochs, 1, 1000));
    config.peakLr = args.number("lr", config.peakLr, 0, 10);
    config.globalBatch = int(args.integer("global-batch", config.globalBatch, 1, 65536));
    config.microBatch = int(args.integer("micro-batch", std::min(config.microBatch, config.globalBatch), 1, 65536));
    config.maxSteps = int(args.integer("max-steps", config.maxSteps, 0, 1LL << 30));
    config.warmupFraction = args.number("warmup", config.warmupFraction, 0, 1);
    config.seed = uint64_t(args.integer("seed", (long long)config.seed, 0, 1LL << 62));
    config.device = args.value("device", config.device);
    config.threads = int(args.integer("threads", config.threads, 0, 4096));
    config.precision = args.value("precision", config.precision);
    config.checkpointEvery = int(args.integer("checkpoint-every", config.checkpointEvery, 0, 1LL << 30));
    config.evalEvery = int(args.integer("eval-every", config.evalEvery, 0, 1LL << 30));
    config.validate("command line");
    if (args.has("save-preset")) saveUserPreset(userPresetFolder(), args.value("save-preset"), config);

    TrainingData data = loadTrainingData(projectPath, args.required("dataset"));
    // Pre-flight with the longest training sequence: refuse with numbers rather than swap or OOM.
    ModelConfig modelConfig = ModelConfig::load(locateHfModel(base).configPath);
    int longest = 0;
    for (const TrainingExample& e : data.train) longest = std::max(longest, int(e.ids.size()));
    PreflightVerdict verdict = preflight(modelConfig, config.microBatch, longest, config.precision == "bf16",
                                         availableMemory(config.device));
    if (verdict.kind == PreflightVerdict::DoesNotFit && !args.flag("force"))
        throw Error("memory pre-flight: this run " + verdict.message + " (use --micro-batch, or --force to try anyway)");
    std::cerr << "memory: " << verdict.message << (verdict.kind == PreflightVerdict::Tight ? " (warning)" : "") << "\n";

    auto trainer = Trainer::create(runDir, base, config, std::move(data));
    RunRecorder recorder(projectPath, runDir, args.value("name", fs::path(runDir).filename().string()));
    ProgressPrinter printer(&recorder);
    return report(trainer->run(&printer, &g_control), runDir, recorder);
}

} // namespace swarm::cli
