#include "serve/swarm_eval.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "datasets/dataset_store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

namespace swarm {

using nlohmann::json;

std::vector<SwarmEvalExample> loadMixedDataset(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the mixed dataset");
    std::vector<SwarmEvalExample> out;
    std::string line;
    for (int lineNo = 1; std::getline(in, line); ++lineNo) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        const json j = json::parse(line, nullptr, false);
        const std::string where = path + ":" + std::to_string(lineNo);
        if (j.is_discarded() || !j.is_object()) throw Error(where + ": not a JSON object");
        SwarmEvalExample e;
        for (const auto& [field, target] : {std::pair<const char*, std::string*>{"task", &e.task},
                                            {"input", &e.input}, {"reference", &e.reference}}) {
            auto it = j.find(field);
            if (it == j.end() || !it->is_string()) throw Error(where + ": field '" + field + "' must be a string");
            *target = it->get<std::string>();
        }
        if (e.task.empty()) throw Error(where + ": field 'task' is empty");
        out.push_back(std::move(e));
    }
    if (out.empty()) throw Error(path + ": no examples");
    return out;
}

void saveMixedDataset(const std::string& path, const std::vector<SwarmEvalExample>& examples) {
    std::string text;
    for (const SwarmEvalExample& e : examples)
        text += json{{"task", e.task}, {"input", e.input}, {"reference", e.reference}}.dump() + "\n";
    writeFileAtomically(path, text);
}

std::vector<SwarmEvalExample> mixFromProject(const ProjectStore& project,
                                             const std::vector<std::pair<std::string, std::string>>& taskDatasets,
                                             Split split, size_t perTask) {
    if (taskDatasets.empty()) throw Error("mix: no task=dataset pairs given");
    std::vector<std::vector<SwarmEvalExample>> perTaskRows;
    for (const auto& [task, name] : taskDatasets) {
        if (task.empty()) throw Error("mix: a task label is empty (for dataset '" + name + "')");
        const DatasetInfo d = DatasetStore(project).dataset(name);
        std::vector<SwarmEvalExample> rows;
        DatasetStore(project).forEachExample(d.id, split, [&](const StoredExample& e) {
            rows.push_back({task, e.prompt, e.response});
            return perTask == 0 || rows.size() < perTask;
        });
        if (rows.empty())
            throw Error("mix: dataset '" + d.name + "' has no " + splitName(split) + " examples (task '" + task + "')");
        perTaskRows.push_back(std::move(rows));
    }
    std::vector<SwarmEvalExample> out;
    for (size_t i = 0;; ++i) {
        bool any = false;
        for (auto& rows : perTaskRows)
            if (i < rows.size()) {
                out.push_back(std::move(rows[i]));
                any = true;
            }
        if (!any) break;
    }
    return out;
}

namespace {

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, size_t(p / 100.0 * double(v.size() - 1) + 0.5))];
}

std::string fmt(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

} // namespace

SwarmEvalReport evaluateSwarm(Swarm& swarm, const std::vector<SwarmEvalExample>& examples,
                              const SwarmEvalOptions& options) {
    const SwarmDefinition& def = swarm.definition();
    for (size_t i = 0; i < examples.size(); ++i)
        if (!def.specialist(examples[i].task))
            throw Error("example " + std::to_string(i + 1) + ": task '" + examples[i].task +
                        "' is not a specialist of swarm '" + def.name + "'");

    SwarmEvalReport r;
    r.labels = def.routeLabels();
    if (def.fallback) r.labels.push_back("fallback");
    auto index = [&](const std::string& l) {
        return size_t(std::find(r.labels.begin(), r.labels.end(), l) - r.labels.begin());
    };
    r.confusion.assign(r.labels.size(), std::vector<int64_t>(r.labels.size(), 0));

    struct TaskData {
        std::vector<metrics::ScoredExample> routed, direct;
        int64_t correct = 0;
        std::vector<std::string> families;
    };
    std::map<std::string, TaskData> tasks;
    std::vector<double> latencies;
    double routerMs = 0, specialistMs = 0;
    int64_t correct = 0;

    // Answers first: `concurrency` examples in flight at once (their specialists' decoding batches
    // in the swarm), each routed, and given its right specialist directly when misrouted.
    struct Answered {
        DispatchResult routed;
        std::optional<std::string> direct;   // when misrouted
        bool done = false;
    };
    std::vector<Answered> answers(examples.size());
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false};
    std::mutex progressMutex;
    size_t finished = 0;
    std::exception_ptr error;
    const auto wallStart = std::chrono::steady_clock::now();
    auto work = [&] {
        for (size_t i; !stop.load() && (i = next++) < examples.size();) {
            try {
                Answered& a = answers[i];
                DispatchRequest req;
                req.input = examples[i].input;
                req.maxTokens = options.maxTokens;
                a.routed = swarm.dispatch(req);
                if (a.routed.specialist != examples[i].task) {
                    req.label = examples[i].task;
                    a.direct = swarm.dispatch(req).answer;
                }
                std::lock_guard<std::mutex> lock(progressMutex);
                a.done = true;
                ++finished;
                if (options.progress && !options.progress(finished, examples.size())) stop.store(true);
            } catch (...) {
                std::lock_guard<std::mutex> lock(progressMutex);
                if (!error) error = std::current_exception();
                stop.store(true);
            }
        }
    };
    const int workers = std::max(1, std::min<int>(options.concurrency, int(examples.size())));
    std::vector<std::thread> threads;
    for (int w = 1; w < workers; ++w) threads.emplace_back(work);
    work();
    for (std::thread& t : threads) t.join();
    if (error) std::rethrow_exception(error);
    const double wallSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wallStart).count();

    for (size_t i = 0; i < examples.size(); ++i) {
        if (!answers[i].done) continue;   // stopped early
        const SwarmEvalExample& e = examples[i];
        const DispatchResult& routed = answers[i].routed;
        TaskData& t = tasks[e.task];
        if (t.families.empty()) {
            auto it = options.presets.find(e.task);
            for (const std::string& f : metrics::autoMetrics(it != options.presets.end() ? it->second : e.task))
                if (f != "loss") t.families.push_back(f);
        }
        routerMs += routed.routerMs;
        specialistMs += routed.specialistMs;
        latencies.push_back(routed.routerMs + routed.specialistMs);
        r.promptTokens += routed.promptTokens;
        r.completionTokens += routed.completionTokens;
        r.seconds += (routed.routerMs + routed.specialistMs) / 1000.0;
        ++r.confusion[index(e.task)][index(routed.specialist)];
        const bool right = !answers[i].direct;
        if (right) {
            ++correct;
            ++t.correct;
        }

        metrics::ExampleInput in{e.input, e.reference, routed.answer, true};
        t.routed.push_back({routed.answer, e.reference, true, metrics::scoreExample(t.families, in)});
        if (right) {
            t.direct.push_back(t.routed.back());   // the same specialist, greedy: the same answer
        } else {
            in.output = *answers[i].direct;
            t.direct.push_back({*answers[i].direct, e.reference, true, metrics::scoreExample(t.families, in)});
        }
        ++r.n;
    }
    // In flight together, requests overlap: their summed latencies would overstate the time spent.
    if (workers > 1) r.seconds = wallSeconds;

    if (r.n > 0) {
        r.routingAccuracy = double(correct) / double(r.n);
        r.routerMsMean = routerMs / double(r.n);
        r.specialistMsMean = specialistMs / double(r.n);
    }
    r.latencyP50Ms = percentile(latencies, 50);
    r.latencyP99Ms = percentile(latencies, 99);
    if (r.completionTokens > 0 && r.seconds > 0) {
        const double tokensPerSecond = double(r.completionTokens) / r.seconds;
        r.costPerMillionTokens = 1e6 / tokensPerSecond / 3600.0 * options.watts / 1000.0 * options.pricePerKwh;
    }
    for (const std::string& label : r.labels) {
        auto it = tasks.find(label);
        if (it == tasks.end() || it->second.routed.empty()) continue;
        SwarmTaskReport tr;
        tr.task = label;
        tr.n = int64_t(it->second.routed.size());
        tr.routedCorrectly = it->second.correct;
        tr.families = it->second.families;
        tr.primary = metrics::primaryMetric(tr.families);
        tr.routed = metrics::aggregate(tr.families, it->second.routed);
        tr.direct = metrics::aggregate(tr.families, it->second.direct);
        r.tasks.push_back(std::move(tr));
    }
    return r;
}

json SwarmEvalReport::toJson() const {
    json t = json::array();
    for (const SwarmTaskReport& x : tasks)
        t.push_back(json{{"task", x.task}, {"n", x.n}, {"routed_correctly", x.routedCorrectly}, {"metrics", x.families},
                         {"primary", x.primary}, {"routed", x.routed.toJson()}, {"direct", x.direct.toJson()}});
    return json{{"n", n}, {"routing_accuracy", routingAccuracy}, {"labels", labels}, {"confusion", confusion},
                {"tasks", t}, {"router_ms_mean", routerMsMean}, {"specialist_ms_mean", specialistMsMean},
                {"latency_p50_ms", latencyP50Ms}, {"latency_p99_ms", latencyP99Ms}, {"prompt_tokens", promptTokens},
                {"completion_tokens", completionTokens}, {"seconds", seconds},
                {"cost_per_million_tokens", costPerMillionTokens}};
}

std::string SwarmEvalReport::toMarkdown() const {
    std::ostringstream o;
    o << "# Swarm evaluation\n\n" << n << " examples, routing accuracy " << fmt(100 * routingAccuracy, 1) << "%\n\n";
    o << "## Routing confusion (rows: task, columns: routed to)\n\n| task |";
    for (const std::string& l : labels) o << " " << l << " |";
    o << "\n|---|";
    for (size_t i = 0; i < labels.size(); ++i) o << "---|";
    o << "\n";
    for (size_t i = 0; i < labels.size(); ++i) {
        o << "| " << labels[i] << " |";
        for (int64_t c : confusion[i]) o << " " << c << " |";
        o << "\n";
    }
    o << "\n## Tasks: routed versus the right specialist directly\n\n"
         "| task | n | routed correctly | metric | routed | direct | cost of routing |\n|---|---|---|---|---|---|---|\n";
    for (const SwarmTaskReport& t : tasks) {
        auto a = t.routed.values.find(t.primary), b = t.direct.values.find(t.primary);
        const bool both = a != t.routed.values.end() && b != t.direct.values.end();
        o << "| " << t.task << " | " << t.n << " | " << t.routedCorrectly << " | " << t.primary << " | "
          << (a != t.routed.values.end() ? fmt(a->second, 4) : "n/a") << " | "
          << (b != t.direct.values.end() ? fmt(b->second, 4) : "n/a") << " | "
          << (both ? fmt(b->second - a->second, 4) : "n/a") << " |\n";
    }
    o << "\nLatency per example: router " << fmt(routerMsMean, 1) << " ms, specialist " << fmt(specialistMsMean, 1)
      << " ms (mean); total p50 " << fmt(latencyP50Ms, 1) << " ms, p99 " << fmt(latencyP99Ms, 1) << " ms.\n"
      << "Tokens: " << promptTokens << " prompt, " << completionTokens << " generated in " << fmt(seconds, 2)
      << " s; cost " << fmt(costPerMillionTokens, 4) << " per million generated tokens.\n";
    return o.str();
}

} // namespace swarm
