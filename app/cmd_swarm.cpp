// `swarm swarm check|run|eval`: a swarm definition checked, one request dispatched (route taken,
// confidence, both latencies, the answer streaming), and the end-to-end evaluation on a mixed
// dataset (serve/).
#include "app/cli_args.h"
#include "app/commands.h"

#include "serve/swarm_eval.h"
#include "serve/swarm_store.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "datasets/dataset_store.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <unistd.h>

namespace swarm::cli {

namespace {

const char* kSwarmHelp =
    "usage: swarm swarm check SWARM.json\n"
    "       swarm swarm save SWARM.json --project P      (store the definition in the project)\n"
    "       swarm swarm list --project P\n"
    "       swarm swarm run SWARM.json --input TEXT [--label LABEL] [--max-tokens N] [--stream] [--json]\n"
    "       swarm swarm eval SWARM.json --data MIXED.jsonl [--limit N] [--max-tokens N] [--preset TASK=PRESET,...]\n"
    "                        [--concurrency N]\n"
    "                        [--report FILE.md|FILE.json] [--watts W] [--price-kwh X] [--json]\n"
    "       swarm swarm mix --project P --tasks TASK=DATASET,... --out MIXED.jsonl [--split test] [--per-task N]\n"
    "\n"
    "check  validates the definition (router, labels -> specialists, fallback; see serve/swarm.h)\n"
    "       and prints it with resolved model paths.\n"
    "run    routes TEXT with the router (constrained to the labels) and lets the chosen specialist answer;\n"
    "       --label skips the router. Prints the label, the router's confidence and both latencies.\n"
    "eval   runs every example of a mixed dataset (JSONL {\"task\", \"input\", \"reference\"}) through the\n"
    "       swarm: routing accuracy, confusion matrix, each task's metrics routed versus given the right\n"
    "       specialist directly, latency and cost per million generated tokens. --preset intent=router\n"
    "       picks a task's metrics (default: the task label as the preset). --concurrency N keeps N\n"
    "       examples in flight (decoded in batches: faster; latencies then include the waiting).\n"
    "mix    writes a mixed dataset from the project's datasets: each TASK label with the examples of\n"
    "       DATASET's --split (default test: unseen by specialists trained on the train split), the\n"
    "       first --per-task N of each (default: all), the tasks in turn. --split train gives a router's\n"
    "       training data (import it with --prompt-template '{input}' --response-field task).\n"
    "With --project P, SWARM is the name of a swarm saved in the project instead of a file.\n";

// "a=b,c=d" -> {{"a","b"}, {"c","d"}}, naming the option on a malformed pair.
std::vector<std::pair<std::string, std::string>> pairList(const std::string& text, const std::string& option,
                                                          const std::string& shape) {
    std::vector<std::pair<std::string, std::string>> out;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, end - start);
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
            throw Error("--" + option + ": expected " + shape + ", got '" + item + "'");
        out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
        start = end + 1;
    }
    return out;
}

std::string fmt(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

// mix: a mixed dataset from the project's datasets, one split, the tasks in turn.
int swarmMix(const Args& args) {
    if (!args.positionals().empty()) throw Error("swarm mix: unexpected argument '" + args.positionals()[0] + "'");
    const auto tasks = pairList(args.required("tasks"), "tasks", "TASK=DATASET");
    Split split = Split::Test;
    if (args.has("split") && !parseSplit(args.value("split"), split))
        throw Error("--split: expected train, validation or test, got '" + args.value("split") + "'");
    const long long perTask = args.integer("per-task", 0, 0, 1LL << 40);
    const std::string out = args.required("out");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const std::vector<SwarmEvalExample> rows = mixFromProject(project, tasks, split, size_t(perTask));
    saveMixedDataset(out, rows);
    std::map<std::string, size_t> counts;
    for (const SwarmEvalExample& e : rows) ++counts[e.task];
    std::cout << "wrote " << rows.size() << " " << splitName(split) << " examples to " << out << ":";
    for (const auto& [task, dataset] : tasks) std::cout << " " << task << " " << counts[task] << " (" << dataset << ")";
    std::cout << "\n";
    return 0;
}

int swarmList(const Args& args) {
    ProjectStore project = ProjectStore::open(args.required("project"));
    for (const std::string& name : listSwarms(project)) std::cout << name << "\n";
    return 0;
}

int swarmSave(const Args& args) {
    const SwarmDefinition def = SwarmDefinition::load(args.positionals()[0]);
    ProjectStore project = ProjectStore::open(args.required("project"));
    saveSwarm(project, def);
    std::cout << "saved swarm '" << def.name << "' in " << project.path() << "\n";
    return 0;
}

void printRunJson(const DispatchResult& r) {
    nlohmann::json j{{"specialist", r.specialist}, {"routed", r.routed}, {"answer", r.answer},
                     {"finish_reason", engine::finishReasonName(r.finish)}, {"router_ms", r.routerMs},
                     {"specialist_ms", r.specialistMs}, {"prompt_tokens", r.promptTokens},
                     {"completion_tokens", r.completionTokens}};
    if (r.routed) {
        j["label"] = r.route.label;
        j["confidence"] = r.route.confidence;
        nlohmann::json probs = nlohmann::json::object();
        for (const auto& [l, p] : r.route.probabilities) probs[l] = p;
        j["probabilities"] = probs;
    }
    std::cout << j.dump(2) << "\n";
}

// run: one request through the router (or --label), streamed or not, as text or JSON.
int swarmRun(const Args& args, const SwarmDefinition& def) {
    Swarm swarm(def);
    DispatchRequest req;
    req.input = args.required("input");
    req.label = args.value("label");
    if (!req.label.empty() && !def.specialist(req.label))
        throw Error("--label: '" + req.label + "' is not a specialist of swarm '" + def.name + "'");
    req.maxTokens = int(args.integer("max-tokens", 0, 1, 1 << 20));
    const bool stream = args.flag("stream") && !args.flag("json");
    if (stream) {
        // The route is known before the answer: print it first.
        req.onRouted = [](const RouteResult& r) {
            std::cerr << "route: " << r.label << " (confidence " << fmt(r.confidence, 3) << ", router " << fmt(r.ms, 1)
                      << " ms)\n";
        };
        req.onToken = [](const engine::TokenEvent& e) {
            std::cout << e.text << std::flush;
            return true;
        };
    }
    const DispatchResult r = swarm.dispatch(req);
    if (args.flag("json")) {
        printRunJson(r);
        return 0;
    }
    if (stream) {
        std::cout << "\n";
    } else {
        if (r.routed) std::cout << "route: " << r.route.label << " (confidence " << fmt(r.route.confidence, 3) << ")\n";
        std::cout << r.answer << "\n";
    }
    std::cout << "specialist: " << r.specialist << ", router " << fmt(r.routerMs, 1) << " ms, specialist "
              << fmt(r.specialistMs, 1) << " ms, " << r.completionTokens << " tokens ("
              << engine::finishReasonName(r.finish) << ")\n";
    return 0;
}

// eval: every example of a mixed dataset through the swarm; the report on stdout (and --report).
int swarmEval(const Args& args, const SwarmDefinition& def) {
    Swarm swarm(def);
    std::vector<SwarmEvalExample> examples = loadMixedDataset(args.required("data"));
    const long long limit = args.integer("limit", 0, 1, 1LL << 40);
    if (limit > 0 && size_t(limit) < examples.size()) examples.resize(size_t(limit));
    SwarmEvalOptions o;
    o.maxTokens = int(args.integer("max-tokens", 0, 1, 1 << 20));
    o.concurrency = int(args.integer("concurrency", 1, 1, 256));
    o.watts = args.number("watts", o.watts, 0, 1e6);
    o.pricePerKwh = args.number("price-kwh", o.pricePerKwh, 0, 1e6);
    if (args.has("preset"))
        for (const auto& [task, preset] : pairList(args.value("preset"), "preset", "TASK=PRESET")) o.presets[task] = preset;
    // A counter in place on a terminal; in a log, a line per tenth.
    const bool tty = ::isatty(2);
    o.progress = [tty](size_t done, size_t total) {
        if (tty) {
            std::cerr << "\r" << done << "/" << total << std::flush;
            if (done == total) std::cerr << "\n";
        } else if (done == total || done % std::max<size_t>(1, total / 10) == 0) {
            std::cerr << done << "/" << total << " examples\n";
        }
        return true;
    };
    const SwarmEvalReport r = evaluateSwarm(swarm, examples, o);
    const std::string report = args.value("report");
    if (!report.empty()) {
        const bool json = report.size() >= 5 && report.compare(report.size() - 5, 5, ".json") == 0;
        writeFileAtomically(report, json ? r.toJson().dump(2) + "\n" : r.toMarkdown());
        std::cerr << "report: " << report << "\n";
    }
    std::cout << (args.flag("json") ? r.toJson().dump(2) + "\n" : r.toMarkdown());
    return 0;
}

} // namespace

int runSwarm(const Argv& argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
        std::cout << kSwarmHelp;
        return argv.empty() ? 2 : 0;
    }
    const std::string sub = argv[0];
    const Argv rest(argv.begin() + 1, argv.end());
    if (sub != "check" && sub != "run" && sub != "eval" && sub != "save" && sub != "list" && sub != "mix")
        throw Error("swarm: unknown subcommand '" + sub + "' (expected check, save, list, run, eval or mix)");
    Args args(rest, {"input", "label", "max-tokens", "data", "limit", "report", "watts", "price-kwh", "preset", "project",
                     "tasks", "out", "split", "per-task", "concurrency"},
              {"stream", "json"});
    if (args.help()) {
        std::cout << kSwarmHelp;
        return 0;
    }
    if (sub == "mix") return swarmMix(args);
    if (sub == "list") return swarmList(args);
    if (args.positionals().size() != 1)
        throw Error(args.positionals().empty() ? "swarm " + sub + ": expected a SWARM.json (see --help)"
                                               : "swarm " + sub + ": unexpected argument '" + args.positionals()[1] + "'");
    if (sub == "save") return swarmSave(args);
    const SwarmDefinition def = loadSwarmFrom(args.positionals()[0], args.value("project"));
    if (sub == "check") {
        std::cout << def.toJson().dump(2) << "\n";
        return 0;
    }
    return sub == "run" ? swarmRun(args, def) : swarmEval(args, def);
}

} // namespace swarm::cli
