// `swarm eval` and `swarm compare` (issue 6): evaluate models on a project dataset split with the
// CPU engine, store the results in the project, compare models and write reports. `swarm eval
// --perplexity FILE | --corpus NAME` (issue 20): perplexity on raw text, stored beside them.
#include "app/cli_args.h"
#include "app/commands.h"
#include "app/progress_line.h"

#include "eval/compare.h"
#include "eval/harness.h"
#include "eval/perplexity.h"

#include "core/error.h"
#include "core/format.h"
#include "datasets/dataset_store.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

namespace swarm::cli {

namespace {

const char* kEvalHelp =
    "usage: swarm eval MODEL --project P --dataset D [options]\n"
    "       swarm eval MODEL --perplexity FILE | --corpus NAME [--project P] [--context N] [--stride N]\n"
    "\n"
    "Evaluates MODEL (a Hugging Face folder, a training run folder -> its final/ or newest checkpoint,\n"
    "a checkpoint folder, or a .gguf file) on a dataset split with the CPU engine, using the prompt\n"
    "format the dataset was imported with. Prompts, references, outputs, per-example scores, latency\n"
    "and token counts are stored in the project; a rerun with the same model files, split and settings\n"
    "reuses them, and an interrupted run (Ctrl-C) resumes where it stopped.\n"
    "\n"
    "options:\n"
    "  --split S              train, validation or test (default test)\n"
    "  --limit N              the first N examples of the split (default: all)\n"
    "  --metrics M            auto (from the dataset preset) or a list of: exact, sql, json,\n"
    "                         classification, pii, rouge, chrf, commit, loss\n"
    "  --max-tokens N         new tokens per example (default 128)\n"
    "  --temperature X        0 = greedy (default); > 0 samples (with --top-k, --top-p, --seed)\n"
    "  --top-k N, --top-p X, --seed N\n"
    "  --batch N              sequences decoded together (default 8)\n"
    "  --threads N            engine threads (default: all cores)\n"
    "  --dtype T              engine weight type: f32, bf16, f16, q8_0 (default: as stored)\n"
    "  --sql-time-limit MS    per-query limit of the SQL execution metric (default 2000)\n"
    "  --show N               print N examples (prompt, reference, output, scores)\n"
    "  --json                 print the run as JSON\n"
    "\n"
    "perplexity on raw text (WikiText-2 style; stored in the project with --project, and shown by\n"
    "swarm compare as a column):\n"
    "  --perplexity FILE      a UTF-8 text file, tokenised whole\n"
    "  --corpus NAME          the held-out validation documents of a project corpus (swarm corpus)\n"
    "  --context N            tokens a window sees (default: the model's block_size)\n"
    "  --stride N             tokens between windows (default: context / 2); every token is scored\n"
    "                         once, with at least context - stride tokens before it after the first\n"
    "                         window. Prints perplexity, mean NLL, bits per byte and the token count.\n";

const char* kCompareHelp =
    "usage: swarm compare MODEL... --project P --dataset D [options]\n"
    "\n"
    "Evaluates every MODEL on the same split (reusing stored runs) and prints one table of metrics\n"
    "with deltas against the baseline, the measured speed, peak memory and cost per million tokens.\n"
    "\n"
    "options (and those of swarm eval: --split --limit --metrics --max-tokens --batch --threads --dtype ...):\n"
    "  --baseline MODEL       the model the deltas are against (default: the first)\n"
    "  --report FILE          write a report: .html (self-contained, with charts), .md or .csv\n"
    "  --watts W              power draw while generating (default 65)\n"
    "  --price-kwh X          electricity price per kWh (default 0.30)\n"
    "  --regression           the quantisation regression of every other model against the baseline\n"
    "  --json                 print the comparison as JSON\n"
    "Perplexities stored for a model (swarm eval MODEL --perplexity FILE | --corpus NAME) are shown as\n"
    "rows ppl:FILE and ppl:corpus:NAME (lower is better).\n";

std::atomic<bool> gCancel{false};
void onSigint(int) { gCancel.store(true); }

const std::set<std::string> kValueOptions = {"project", "dataset", "split", "limit", "metrics", "max-tokens",
                                             "temperature", "top-k", "top-p", "seed", "batch", "threads", "dtype",
                                             "sql-time-limit", "show", "baseline", "report", "watts", "price-kwh",
                                             "perplexity", "corpus", "context", "stride"};


eval::EvalSettings settingsFrom(const Args& args) {
    eval::EvalSettings s;
    s.split = args.value("split", "test");
    s.limit = args.integer("limit", 0, 0, 1000000000);
    s.metrics = args.value("metrics", "auto");
    s.maxNewTokens = int(args.integer("max-tokens", 128, 1, 100000));
    s.temperature = float(args.number("temperature", 0, 0, 100));
    s.topK = int(args.integer("top-k", 0, 0, 1000000));
    s.topP = float(args.number("top-p", 1, 1e-6, 1));
    s.seed = uint64_t(args.integer("seed", 0, 0, (1LL << 62)));
    s.batchSize = int(args.integer("batch", 8, 1, 64));
    s.threads = int(args.integer("threads", 0, 0, 4096));
    s.dtype = args.value("dtype");
    s.sqlTimeLimitMs = int(args.integer("sql-time-limit", 2000, 1, 600000));
    return s;
}

eval::EvalCallbacks callbacks(bool quiet) {
    eval::EvalCallbacks cb;
    cb.cancel = &gCancel;
    cb.log = [](const std::string& s) { std::cerr << s << "\n"; };
    cb.progress = [quiet, line = std::make_shared<ProgressLine>()](const eval::EvalProgress& p) {
        if (quiet || p.phase == "loading") return;
        const bool done = p.phase == "done";
        if (!line->due(p.total ? int(100 * p.done / p.total) : 100, done)) return;
        if (p.etaSeconds >= 0)
            line->print(formatText("[eval] %lld/%lld examples  %.0fs elapsed  ETA %.0fs", (long long)p.done, (long long)p.total,
                                   p.elapsedSeconds, p.etaSeconds));
        else
            line->print(formatText("[eval] %lld/%lld examples (%s)", (long long)p.done, (long long)p.total, p.phase.c_str()));
        if (done) line->finish();
    };
    return cb;
}

void printSummary(const eval::EvalRunInfo& r) {
    std::cout << "run " << r.id << ": " << r.modelName << " (" << r.modelKind << ") on " << r.datasetName << "/"
              << r.split << ", " << r.done << "/" << r.total << " examples, " << r.status
              << (r.reused ? " (reused)" : "") << "\n";
    if (r.summary.contains("values"))
        for (auto it = r.summary["values"].begin(); it != r.summary["values"].end(); ++it) {
            char buf[128];
            std::snprintf(buf, sizeof buf, "  %-16s %.4f", it.key().c_str(), it->get<double>());
            std::cout << buf << "\n";
        }
    if (r.summary.contains("notes"))
        for (const auto& n : r.summary["notes"]) std::cout << "  note: " << n.get<std::string>() << "\n";
    if (!r.perf.empty()) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "  speed: prefill %.1f tok/s, decode %.1f tok/s, peak RSS %.1f MiB",
                      r.perf.value("prefill_tok_s", 0.0), r.perf.value("decode_tok_s", 0.0),
                      double(r.perf.value("peak_rss_bytes", int64_t(0))) / 1048576.0);
        std::cout << buf << "\n";
    }
}

// `swarm eval MODEL --perplexity FILE | --corpus NAME`.
int runPerplexity(const Args& args) {
    if (args.has("perplexity") && args.has("corpus")) throw Error("give --perplexity FILE or --corpus NAME, not both");
    if (args.has("dataset"))
        throw Error("--perplexity and --corpus score raw text: leave out --dataset (a second swarm eval gives the task metrics)");
    std::optional<ProjectStore> project;
    if (args.has("project")) project.emplace(ProjectStore::open(args.value("project")));
    if (args.has("corpus") && !project) throw Error("--corpus needs --project (the project that holds the corpus)");
    const eval::PerplexitySource source = args.has("corpus") ? eval::perplexityCorpus(*project, args.value("corpus"))
                                                             : eval::perplexityFile(args.value("perplexity"));
    eval::PerplexitySettings s;
    s.context = int(args.integer("context", 0, 1, 1 << 20));
    s.stride = int(args.integer("stride", 0, 1, 1 << 20));
    s.threads = int(args.integer("threads", 0, 0, 4096));
    s.dtype = args.value("dtype");
    const bool json = args.flag("json");
    eval::PerplexityCallbacks cb;
    cb.cancel = &gCancel;
    cb.log = [](const std::string& line) { std::cerr << line << "\n"; };
    ProgressLine line;
    cb.progress = [&](const eval::PerplexityProgress& p) {
        if (json) return;
        const bool done = p.windows == p.totalWindows;
        if (!line.due(p.totalTokens ? int(100 * p.tokens / p.totalTokens) : 100, done)) return;
        line.print(formatText("[perplexity] %lld/%lld windows, %lld/%lld tokens, %.0fs", (long long)p.windows,
                              (long long)p.totalWindows, (long long)p.tokens, (long long)p.totalTokens, p.elapsedSeconds));
        if (done) line.finish();
    };
    std::signal(SIGINT, onSigint);
    eval::PerplexityResult r;
    try {
        r = eval::evaluatePerplexity(project ? &*project : nullptr, args.positionals()[0], source, s, cb);
    } catch (const eval::PerplexityCancelled& e) {
        std::signal(SIGINT, SIG_DFL);
        std::cerr << "\nswarm: " << e.what() << "\n";
        return 130;
    }
    std::signal(SIGINT, SIG_DFL);
    if (json) {
        std::cout << r.toJson().dump(2) << "\n";
        return 0;
    }
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "perplexity of %s on %s%s: %.4f\n  mean NLL %.4f nats/token, %.4f bits/byte, %lld tokens (%lld bytes)\n"
                  "  context %d, stride %d, %lld windows, %.1f s%s%s\n",
                  r.modelName.c_str(), r.source.kind == "corpus" ? "the validation documents of corpus " : "",
                  r.source.name.c_str(), r.perplexity, r.meanNll, r.bitsPerByte, (long long)r.tokens, (long long)r.bytes,
                  r.context, r.stride, (long long)r.windows, r.seconds, r.reused ? " (reused)" : "",
                  r.id ? (", stored as result " + std::to_string(r.id)).c_str() : "");
    std::cout << buf;
    return 0;
}

} // namespace

int runEval(const Argv& argv) {
    Args args(argv, kValueOptions, {"json"});
    if (args.help()) {
        std::cout << kEvalHelp;
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("swarm eval takes one MODEL (see swarm eval --help)");
    if (args.has("perplexity") || args.has("corpus")) return runPerplexity(args);
    for (const char* o : {"context", "stride"})
        if (args.has(o)) throw Error(std::string("--") + o + " applies to --perplexity and --corpus");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const eval::EvalSettings s = settingsFrom(args);
    std::signal(SIGINT, onSigint);
    eval::EvalRunInfo r = eval::evaluate(project, args.positionals()[0], args.required("dataset"), s,
                                         callbacks(args.flag("json")));
    std::signal(SIGINT, SIG_DFL);
    if (args.flag("json")) {
        std::cout << nlohmann::json{{"id", r.id},         {"model", r.modelName}, {"path", r.modelPath},
                                    {"status", r.status}, {"reused", r.reused},   {"done", r.done},
                                    {"total", r.total},   {"summary", r.summary}, {"perf", r.perf}}
                         .dump(2)
                  << "\n";
    } else {
        printSummary(r);
        const long long show = args.integer("show", 0, 0, 1000000);
        if (show > 0) {
            eval::EvalStore store(project);
            long long k = 0;
            for (const eval::EvalExampleRow& e : store.examples(r.id)) {
                if (k++ >= show) break;
                std::cout << "--- example " << e.position << " (" << e.finish << ", " << e.latencyMs << " ms)\n"
                          << "reference: " << e.reference << "\noutput:    " << e.output << "\nscores:   ";
                for (auto& [name, v] : e.scores)
                    if (name[0] != '#') std::cout << " " << name << "=" << v;
                std::cout << "\n";
            }
        }
    }
    return r.status == "done" ? 0 : 130;
}

int runCompare(const Argv& argv) {
    Args args(argv, kValueOptions, {"json", "regression"});
    if (args.help()) {
        std::cout << kCompareHelp;
        return 0;
    }
    const auto& models = args.positionals();
    if (models.empty()) throw Error("swarm compare needs at least one MODEL (see swarm compare --help)");
    for (const char* o : {"perplexity", "corpus", "context", "stride"})
        if (args.has(o))
            throw Error(std::string("--") + o + " is an option of swarm eval; stored perplexities appear here as columns");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const eval::EvalSettings s = settingsFrom(args);
    eval::CostSettings cost;
    cost.watts = args.number("watts", 65, 0, 1e6);
    cost.pricePerKwh = args.number("price-kwh", 0.30, 0, 1e6);

    size_t baseline = 0;
    if (args.has("baseline")) {
        const std::string b = args.value("baseline");
        const std::string bp = eval::resolveModel(b).path;
        bool found = false;
        for (size_t i = 0; i < models.size() && !found; ++i)
            if (models[i] == b || eval::resolveModel(models[i]).path == bp) {
                baseline = i;
                found = true;
            }
        if (!found) throw Error("--baseline " + b + " is not one of the compared models");
    }
    std::signal(SIGINT, onSigint);
    std::vector<int64_t> ids;
    for (const std::string& m : models) {
        std::cerr << "== " << m << "\n";
        eval::EvalRunInfo r = eval::evaluate(project, m, args.required("dataset"), s, callbacks(args.flag("json")));
        if (r.status != "done") {
            std::cerr << "swarm: cancelled; finished examples are kept (run the same command to resume)\n";
            return 130;
        }
        ids.push_back(r.id);
    }
    std::signal(SIGINT, SIG_DFL);
    eval::Comparison c = eval::compareRuns(project, ids, baseline, cost);
    if (args.has("report")) {
        eval::writeReport(c, args.value("report"));
        std::cerr << "report written to " << args.value("report") << "\n";
    }
    nlohmann::json regressions = nlohmann::json::array();
    if (args.flag("regression"))
        for (size_t i = 0; i < c.models.size(); ++i)
            if (i != baseline) {
                nlohmann::json q = eval::quantisationRegression(c, baseline, i).toJson();
                q["model"] = c.models[i].run.modelName;
                regressions.push_back(q);
            }
    if (args.flag("json")) {
        nlohmann::json j = c.toJson();
        if (args.flag("regression")) j["regression"] = regressions;
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << eval::renderMarkdown(c, 10);
    if (args.flag("regression")) {
        std::cout << "\n## Quantisation regression against " << c.models[baseline].run.modelName << "\n\n";
        for (const auto& q : regressions) std::cout << "- " << q["model"].get<std::string>() << ": " << q.dump() << "\n";
    }
    return 0;
}

} // namespace swarm::cli
