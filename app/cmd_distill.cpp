// `swarm distill` (issue 16): a dataset for a specialist from a teacher model's answers through any
// OpenAI-compatible /v1/chat/completions endpoint; the job's status, its rejected answers, the
// dataset built, and the specialist compared with its teacher (quality and cost side by side).
#include "app/cli_args.h"
#include "app/commands.h"

#include "distill/api_key.h"
#include "distill/dataset_builder.h"
#include "distill/distiller.h"
#include "distill/job_setup.h"
#include "distill/teacher_column.h"

#include "core/error.h"
#include "core/format.h"
#include "datasets/dataset_store.h"
#include "eval/compare.h"
#include "eval/harness.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <csignal>
#include <cstdio>
#include <iostream>

namespace swarm::cli {

namespace {

const char* kDistillHelp =
    "usage: swarm distill --project P --prompts FILE|DATASET --name NEW --teacher-url URL --teacher-model M [options]\n"
    "       swarm distill resume NAME --project P [run options]\n"
    "       swarm distill status NAME --project P [--json]\n"
    "       swarm distill list --project P\n"
    "       swarm distill rejected NAME --project P [--state rejected|failed|all] [--limit N] [--json]\n"
    "       swarm distill build NAME --project P\n"
    "       swarm distill compare NAME MODEL... --project P --dataset D [compare options]\n"
    "\n"
    "Sends every prompt to the teacher (any OpenAI-compatible /v1/chat/completions endpoint: a hosted\n"
    "generalist, llama-server, vLLM, swarm serve), stores each answer in the project the moment it\n"
    "arrives (raw response, usage, latency, the teacher's model name), validates it, and when every\n"
    "prompt is accounted for (accepted, rejected with a reason, or failed with the error) builds the\n"
    "dataset NEW: an ordinary project dataset that trains like any other. Ctrl-C stops sending and\n"
    "stores the answers still coming (a second Ctrl-C cuts them); running the same command again\n"
    "resumes, and never sends a prompt whose answer is stored.\n"
    "\n"
    "prompts:\n"
    "  --prompts FILE|DATASET  a JSONL/JSON/CSV/TSV/Parquet file, or a dataset of the project\n"
    "                          (dataset:NAME to be explicit); a dataset's prompts keep their split and\n"
    "                          their responses are the references swarm distill compare scores against\n"
    "  --template T            the prompt from each record (default {prompt}, or the prompt template of\n"
    "                          the dataset preset detected from the columns); datasets: {prompt}, {reference}\n"
    "  --split S               a prompt dataset's split only (default: every split)\n"
    "  --limit N               the first N records only (default: all)\n"
    "  --split-ratios R        a file's accepted pairs: train,validation,test (default 0.9,0.05,0.05)\n"
    "  --seed N                the split's shuffle (default 42)\n"
    "teacher:\n"
    "  --teacher-url URL       http(s)://host:port, .../v1 or the full .../chat/completions URL\n"
    "  --teacher-model M       the model name sent with each request\n"
    "  --system TEXT           a system message before each prompt\n"
    "  --max-tokens N          max_tokens per answer (default 1024)\n"
    "  --temperature X         (default 0)\n"
    "  --stream                ask for server-sent events (a stream cut before [DONE] is retried)\n"
    "  --api-key-env NAME      the API key's environment variable (default: SWARM_TEACHER_API_KEY, then\n"
    "                          OPENAI_API_KEY, when set; none: no Authorization header)\n"
    "  --api-key-file FILE     or a file holding the key alone. The key is never taken on the command\n"
    "                          line, never printed and never stored (the job keeps env:NAME or file:PATH)\n"
    "  --ca-cert FILE          HTTPS: verify the teacher against this CA bundle instead of the system's\n"
    "validation:\n"
    "  --task T                auto (from the dataset preset: sql, router -> label, pii, function/extract\n"
    "                          -> json; else text), text, sql, json, label, pii\n"
    "  --labels a,b,c          task label: the label set (default for a prompt dataset: its responses)\n"
    "  --json-schema FILE      task json: the answer must conform (a JSON Schema subset)\n"
    "  --min-chars N, --max-chars N   the answer's length (default 1, no maximum)\n"
    "  --max-len N             tokens of prompt + answer in the chat format (default 1024)\n"
    "  --max-pii-span N        task pii: the longest text one placeholder may replace (default 60)\n"
    "  --keep-refusals         do not reject answers that start like a refusal (\"I can't ...\")\n"
    "  --chat-format F         the dataset's chat format (default \"User: {prompt}\\nAssistant: {response}<|endoftext|>\")\n"
    "run options (may change between runs):\n"
    "  --concurrency N         requests in flight (default 4)\n"
    "  --max-requests N        HTTP requests in this run, retries included (default: no limit)\n"
    "  --price-in X, --price-out Y   price per million prompt / completion tokens (fixed per job)\n"
    "  --max-spend X           the job's spend cap, from the reported usage at those prices\n"
    "  --timeout S             per request (default 120)\n"
    "  --retries N             requests per prompt before it fails (default 6)\n"
    "  --backoff-base S        the first retry's wait, doubled each time with jitter (default 1)\n"
    "  --backoff-max S         the longest backoff (default 60); Retry-After is honoured up to 600 s\n"
    "  --retry-failed          send the failed prompts again\n"
    "  --no-build              do not build the dataset at the end (swarm distill build NAME later)\n"
    "  --json                  print the result as JSON          --quiet   no progress line\n"
    "\n"
    "Exit status: 0 every prompt accounted for (dataset built), 3 stopped by --max-spend or\n"
    "--max-requests (run again to go on), 130 interrupted, 1 an error or a teacher refusing every request.\n";

const char* kCompareHelp =
    "usage: swarm distill compare NAME MODEL... --project P --dataset D [options]\n"
    "\n"
    "swarm compare with the teacher of job NAME as the baseline column: its stored answers scored on\n"
    "the same examples with the same metrics (matched by source example when the job's prompts came\n"
    "from dataset D, else by prompt text), its cost its API price per million tokens, so that the\n"
    "report shows each specialist against its teacher in quality and in cost.\n"
    "\n"
    "options: --split S (default test), --limit N, --metrics M, --max-tokens N, --batch N, --threads N,\n"
    "         --dtype T, --report FILE (.html, .md, .csv), --watts W, --price-kwh X, --json\n";

std::atomic<int> gInterrupts{0};
std::atomic<bool> gCancel{false}, gAbort{false};

void onSigint(int) {
    const int n = ++gInterrupts;
    if (n == 1) gCancel.store(true);
    else if (n == 2) gAbort.store(true);
    else _exit(130);
}

const std::set<std::string> kJobOptions = {"prompts", "name", "limit", "teacher-url", "teacher-model", "system", "template", "split",
                                           "split-ratios", "seed", "max-tokens", "temperature", "task", "labels", "json-schema",
                                           "min-chars", "max-chars", "max-len", "max-pii-span", "chat-format", "price-in",
                                           "price-out"};
const std::set<std::string> kRunOptions = {"project", "concurrency", "max-requests", "max-spend", "timeout", "retries",
                                           "backoff-base", "backoff-max", "api-key-env", "api-key-file", "ca-cert"};
const std::set<std::string> kFlags = {"stream", "keep-refusals", "retry-failed", "no-build", "json", "quiet"};

std::set<std::string> unionOf(std::set<std::string> a, const std::set<std::string>& b) {
    a.insert(b.begin(), b.end());
    return a;
}

// The key never comes from the command line: refused before parsing, naming the alternatives.
void refuseKeyOnCommandLine(const Argv& argv) {
    for (const std::string& a : argv)
        if (a == "--api-key" || a.rfind("--api-key=", 0) == 0 || a == "--key" || a.rfind("--key=", 0) == 0)
            throw Error("the API key is never taken on the command line (it would show in ps and the shell history): "
                        "put it in an environment variable (--api-key-env NAME) or a file (--api-key-file FILE)");
}

distill::ApiKeySource keySourceFrom(const Args& args, const std::string& stored) {
    if (args.has("api-key-env") && args.has("api-key-file")) throw Error("give --api-key-env or --api-key-file, not both");
    if (args.has("api-key-env")) return distill::ApiKeySource{args.value("api-key-env"), ""};
    if (args.has("api-key-file")) return distill::ApiKeySource{"", args.value("api-key-file")};
    if (!stored.empty()) return distill::ApiKeySource::parse(stored);
    return distill::defaultKeySource();
}

distill::JobSpec specFrom(const Args& args) {
    distill::JobSpec s;
    s.name = args.required("name");
    s.teacherUrl = args.required("teacher-url");
    s.teacher.model = args.required("teacher-model");
    s.teacher.system = args.value("system");
    s.teacher.maxTokens = int(args.integer("max-tokens", 1024, 1, 1000000));
    s.teacher.temperature = args.number("temperature", 0, 0, 100);
    s.teacher.stream = args.flag("stream");
    s.prompts = args.required("prompts");
    s.sourceSplit = args.value("split");
    s.limit = args.integer("limit", 0, 0, 1LL << 50);
    s.promptTemplate = args.value("template");
    s.chatFormat = args.value("chat-format");
    const std::string task = args.value("task", "auto");
    s.taskAuto = task == "auto";
    if (!s.taskAuto) s.validation.task = distill::parseTask(task);
    if (args.has("labels")) s.validation.labels = distill::parseLabelList(args.value("labels"));
    if (args.has("json-schema")) s.validation.jsonSchema = distill::JsonSchema::load(args.value("json-schema")).schema();
    s.validation.minChars = size_t(args.integer("min-chars", 1, 0, 1 << 30));
    s.validation.maxChars = size_t(args.integer("max-chars", 0, 0, 1 << 30));
    s.validation.maxLen = int(args.integer("max-len", 1024, 8, 1 << 20));
    s.validation.maxPiiSpanChars = size_t(args.integer("max-pii-span", 60, 1, 1 << 20));
    s.validation.rejectRefusals = !args.flag("keep-refusals");
    if (args.has("split-ratios")) s.split = SplitSpec::parse(args.value("split-ratios"));
    s.seed = uint64_t(args.integer("seed", 42, 0, (1LL << 62)));
    s.priceIn = args.number("price-in", 0, 0, 1e9);
    s.priceOut = args.number("price-out", 0, 0, 1e9);
    s.keySource = keySourceFrom(args, "");
    return s;
}

// `sends`: this run has prompts to send. A job with none (every answer stored) needs no key, so
// that it can be built or inspected again without the teacher's credentials.
distill::RunOptions runOptionsFrom(const Args& args, const distill::DistillJob& job, bool sends) {
    distill::RunOptions o;
    o.concurrency = int(args.integer("concurrency", 4, 1, 256));
    o.maxRequests = args.integer("max-requests", 0, 0, 1LL << 50);
    o.maxSpend = args.number("max-spend", 0, 0, 1e12);
    if (o.maxSpend > 0 && job.priceIn == 0 && job.priceOut == 0)
        throw Error("--max-spend needs the job's prices (--price-in and --price-out per million tokens)");
    o.timeoutSeconds = args.number("timeout", 120, 0.001, 86400);
    o.retry.maxAttempts = int(args.integer("retries", 6, 1, 100));
    o.retry.baseDelaySeconds = args.number("backoff-base", 1, 0, 3600);
    o.retry.maxDelaySeconds = args.number("backoff-max", std::max(60.0, o.retry.baseDelaySeconds), o.retry.baseDelaySeconds, 86400);
    o.retryFailed = args.flag("retry-failed");
    o.build = !args.flag("no-build");
    o.caCertPath = args.value("ca-cert");
    const distill::ApiKeySource key = keySourceFrom(args, job.keySource);
    if (sends) o.apiKey = distill::loadApiKey(key);
    return o;
}

std::string money(double v) { return formatNumber("%.4f", v); }

void printCounts(const distill::ItemCounts& c) {
    std::cout << "prompts: " << withThousands(c.total) << "  accepted " << withThousands(c.accepted) << ", rejected "
              << withThousands(c.rejected) << ", failed " << withThousands(c.failed) << ", pending "
              << withThousands(c.pending + c.sending) << "\n"
              << "requests: " << withThousands(c.requests) << " sent in all; tokens " << withThousands(c.promptTokens) << " in, "
              << withThousands(c.completionTokens) << " out; spent " << money(c.spent);
    if (c.answered) std::cout << "; mean latency " << formatNumber("%.0f", c.latencyMs / double(c.answered)) << " ms";
    std::cout << "\n";
}

void printReasons(const distill::DistillStore& store, int64_t jobId) {
    const auto reasons = store.reasons(jobId);
    if (reasons.empty()) return;
    std::cout << "by reason:\n";
    for (const auto& [key, n] : reasons)
        std::printf("  %-9s %-20s %lld\n", key.first.c_str(), key.second.c_str(), (long long)n);
    std::fflush(stdout);
}

nlohmann::json jobJson(const distill::DistillJob& j, const distill::ItemCounts& c) {
    return nlohmann::json{{"name", j.name},          {"status", j.status},         {"message", j.message},
                          {"teacher_url", j.teacherUrl}, {"teacher", j.teacher.toJson()}, {"task", distill::taskName(j.validation.task)},
                          {"source", j.source},      {"source_kind", j.sourceKind}, {"prompt_template", j.promptTemplate},
                          {"price_in", j.priceIn},   {"price_out", j.priceOut},     {"key_source", j.keySource},
                          {"dataset_id", j.datasetId}, {"counts", c.toJson()},     {"created_at", j.createdAt}};
}

// The progress line: on a terminal redrawn in place, else one line every 5 seconds.
std::function<void(const distill::DistillProgress&)> progressPrinter(bool quiet) {
    const bool tty = isatty(2);
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    return [tty, quiet, last](const distill::DistillProgress& p) {
        if (quiet) return;
        const auto now = std::chrono::steady_clock::now();
        if (!tty && p.phase != "done" && now - *last < std::chrono::seconds(5)) return;
        *last = now;
        const distill::ItemCounts& c = p.counts;
        char line[320];
        std::snprintf(line, sizeof line,
                      "[distill] %lld/%lld done (accepted %lld, rejected %lld, failed %lld), %d out, %.2f answers/s, "
                      "%.0f tok/s, spent %s%s, retries %lld%s",
                      (long long)(c.accepted + c.rejected + c.failed), (long long)c.total, (long long)c.accepted,
                      (long long)c.rejected, (long long)c.failed, p.inFlight, p.answersPerSecond, p.completionTokensPerSecond,
                      money(p.spent).c_str(), p.spendCap > 0 ? (" of " + money(p.spendCap)).c_str() : "", (long long)p.retries,
                      p.pausedSeconds > 0 ? formatNumber(", paused %.1fs (Retry-After)", p.pausedSeconds).c_str() : "");
        if (tty) std::fprintf(stderr, "\r%s\033[K%s", line, p.phase == "done" ? "\n" : "");
        else std::fprintf(stderr, "%s\n", line);
    };
}

int exitCodeFor(const std::string& stopReason) {
    if (stopReason == "done" || stopReason == "built") return 0;
    if (stopReason == "cancelled" || stopReason == "aborted") return 130;
    if (stopReason == "spend_cap" || stopReason == "request_cap") return 3;
    return 1;
}

int runJob(ProjectStore& project, const distill::DistillJob& job, const Args& args, bool created) {
    const distill::ItemCounts before = distill::DistillStore(project).counts(job.id);
    const bool sends = before.pending + before.sending > 0 || (args.flag("retry-failed") && before.failed > 0);
    const distill::RunOptions o = runOptionsFrom(args, job, sends);
    if (sends && o.apiKey.empty()) std::cerr << "swarm: no API key (none in SWARM_TEACHER_API_KEY or OPENAI_API_KEY): requests go without Authorization\n";
    const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
    distill::DistillCallbacks cb;
    cb.cancel = &gCancel;
    cb.abort = &gAbort;
    cb.progress = progressPrinter(args.flag("quiet") || args.flag("json"));
    if (!args.flag("quiet")) cb.log = [](const std::string& line) { std::fprintf(stderr, "\n[distill] %s\n", line.c_str()); };
    std::signal(SIGINT, onSigint);
    std::signal(SIGTERM, onSigint);
    const distill::DistillResult r = distill::runDistillation(project, tok, job.name, o, cb);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    const distill::DistillStore store(project);
    const distill::DistillJob after = *store.find(job.id);
    if (args.flag("json")) {
        nlohmann::json j = jobJson(after, r.counts);
        j["created"] = created;
        j["run"] = {{"stop_reason", r.stopReason}, {"message", r.message}, {"requests", r.requests}, {"retries", r.retries},
                    {"answers", r.answers}, {"interrupted", r.interrupted}, {"requeued", r.requeued}, {"seconds", r.seconds}};
        std::cout << j.dump(2) << "\n";
        return exitCodeFor(r.stopReason);
    }
    std::cout << "job " << after.name << ": " << after.status << (r.message.empty() ? "" : " (" + r.message + ")") << "\n";
    std::cout << "this run: " << withThousands(r.requests) << " requests, " << withThousands(r.retries) << " retries, "
              << withThousands(r.answers) << " answers in " << formatDuration(r.seconds);
    if (r.interrupted) std::cout << "; " << r.interrupted << " prompts a stopped run had out were sent again";
    std::cout << "\n";
    printCounts(r.counts);
    printReasons(store, job.id);
    if (r.datasetId) {
        const DatasetInfo d = *DatasetStore(project).findDataset(r.datasetId);
        std::cout << "dataset " << d.name << ": " << withThousands(d.rowsImported) << " examples (train "
                  << withThousands(d.nTrain) << ", validation " << withThousands(d.nValidation) << ", test "
                  << withThousands(d.nTest) << "), " << withThousands(d.rowsRejected) << " rejected rows; swarm dataset stats "
                  << d.name << " --project " << project.path() << "\n";
    } else if (r.counts.pending) {
        std::cout << "run the same command again to go on (answered prompts are never sent again)\n";
    }
    return exitCodeFor(r.stopReason);
}

int runCreate(const Argv& argv) {
    Args args(argv, unionOf(kJobOptions, kRunOptions), kFlags);
    if (!args.positionals().empty()) throw Error("swarm distill: unexpected '" + args.positionals()[0] + "' (see swarm distill --help)");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const distill::PreparedJob p = distill::prepareJob(project, specFrom(args));
    if (!args.flag("quiet") && !args.flag("json"))
        for (const std::string& n : p.notes) std::cerr << "swarm: " << n << "\n";
    return runJob(project, p.job, args, p.created);
}

int runResume(const Args& args) {
    if (args.positionals().size() != 2) throw Error("swarm distill resume takes one job NAME");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const distill::DistillJob job = distill::DistillStore(project).job(args.positionals()[1]);
    if (args.has("api-key-env") || args.has("api-key-file")) {
        const std::string described = keySourceFrom(args, "").describe();
        distill::DistillStore(project).setKeySource(job.id, described);
    }
    return runJob(project, *distill::DistillStore(project).find(job.id), args, false);
}

int runStatus(const Args& args) {
    if (args.positionals().size() != 2) throw Error("swarm distill status takes one job NAME");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const distill::DistillStore store(project);
    const distill::DistillJob j = store.job(args.positionals()[1]);
    const distill::ItemCounts c = store.counts(j.id);
    if (args.flag("json")) {
        nlohmann::json out = jobJson(j, c);
        out["runs"] = nlohmann::json::array();
        for (const distill::DistillRunRow& r : store.runs(j.id))
            out["runs"].push_back({{"started_at", r.startedAt}, {"ended_at", r.endedAt}, {"requests", r.requests},
                                   {"retries", r.retries}, {"answers", r.answers}, {"interrupted", r.interrupted},
                                   {"stop_reason", r.stopReason}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::cout << "job " << j.name << ": " << j.status << (j.message.empty() ? "" : " (" + j.message + ")") << "\n"
              << "teacher: " << j.teacher.model << " at " << j.teacherUrl << (j.keySource.empty() ? "" : " (key: " + j.keySource + ")")
              << "\nprompts: " << j.sourceKind << " " << j.source << ", template " << j.promptTemplate << "\n"
              << "task: " << distill::taskName(j.validation.task) << "; prices " << money(j.priceIn) << " in, " << money(j.priceOut)
              << " out per million tokens\n";
    printCounts(c);
    printReasons(store, j.id);
    for (const distill::DistillRunRow& r : store.runs(j.id))
        std::cout << "run " << r.startedAt << " .. " << (r.endedAt.empty() ? "(did not end)" : r.endedAt) << ": " << r.requests
                  << " requests, " << r.retries << " retries, " << r.answers << " answers, "
                  << (r.stopReason.empty() ? "killed" : r.stopReason) << "\n";
    return 0;
}

int runList(const Args& args) {
    ProjectStore project = ProjectStore::open(args.required("project"));
    const distill::DistillStore store(project);
    const auto jobs = store.jobs();
    if (jobs.empty()) std::cout << "no distillation jobs in " << project.path() << "\n";
    for (const distill::DistillJob& j : jobs) {
        const distill::ItemCounts c = store.counts(j.id);
        std::cout << j.name << "  " << j.status << "  teacher " << j.teacher.model << "  " << c.accepted << "/" << c.total
                  << " accepted, spent " << money(c.spent) << "\n";
    }
    return 0;
}

std::string oneLine(const std::string& s, size_t max) {
    std::string out;
    for (char c : s.substr(0, std::min(s.size(), max))) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    if (s.size() > max) out += "...";
    return out;
}

int runRejected(const Args& args) {
    if (args.positionals().size() != 2) throw Error("swarm distill rejected takes one job NAME");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const distill::DistillStore store(project);
    const distill::DistillJob j = store.job(args.positionals()[1]);
    const std::string which = args.value("state", "all");
    if (which != "all" && which != "rejected" && which != "failed") throw Error("--state must be rejected, failed or all");
    const int64_t limit = args.integer("limit", 50, 1, 1LL << 40);
    std::vector<distill::DistillItem> rows;
    for (distill::ItemState s : {distill::ItemState::Rejected, distill::ItemState::Failed})
        if (which == "all" || which == distill::itemStateName(s))
            for (distill::DistillItem& it : store.items(j.id, s)) rows.push_back(std::move(it));
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.position < b.position; });
    if (args.flag("json")) {
        nlohmann::json out = nlohmann::json::array();
        for (size_t i = 0; i < rows.size() && int64_t(i) < limit; ++i) {
            const distill::DistillItem& it = rows[i];
            out.push_back({{"position", it.position}, {"record", it.recordNumber}, {"state", distill::itemStateName(it.state)},
                           {"reason", it.reason}, {"detail", it.detail}, {"prompt", it.prompt}, {"answer", it.answer},
                           {"http_status", it.httpStatus}, {"attempts", it.attempts}});
        }
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    std::cout << rows.size() << " " << (which == "all" ? "rejected or failed" : which) << " prompts"
              << (int64_t(rows.size()) > limit ? " (first " + std::to_string(limit) + " shown)" : "") << "\n";
    for (size_t i = 0; i < rows.size() && int64_t(i) < limit; ++i) {
        const distill::DistillItem& it = rows[i];
        std::cout << "#" << it.position << " record " << it.recordNumber << "  " << distill::itemStateName(it.state) << "  "
                  << it.reason << ": " << oneLine(it.detail, 160) << "\n  prompt: " << oneLine(it.prompt, 120) << "\n";
        if (!it.answer.empty()) std::cout << "  answer: " << oneLine(it.answer, 120) << "\n";
    }
    return 0;
}

int runBuild(const Args& args) {
    if (args.positionals().size() != 2) throw Error("swarm distill build takes one job NAME");
    ProjectStore project = ProjectStore::open(args.required("project"));
    distill::DistillStore store(project);
    const distill::DistillJob j = store.job(args.positionals()[1]);
    if (j.datasetId) throw Error("job " + j.name + " has built its dataset already");
    const distill::BuildResult b = distill::buildDistilledDataset(project, Gpt2Tokenizer::bundled(), j);
    store.setDataset(j.id, b.datasetId);
    store.setStatus(j.id, "built", "dataset '" + j.name + "' built: " + std::to_string(b.counts.rowsImported) + " examples");
    std::cout << "dataset " << j.name << ": " << withThousands(b.counts.rowsImported) << " examples (train " << b.counts.nTrain
              << ", validation " << b.counts.nValidation << ", test " << b.counts.nTest << "), " << b.counts.rowsRejected
              << " rejected rows\n";
    return 0;
}

int runCompareWithTeacher(const Argv& argv) {
    Args args(argv, {"project", "dataset", "split", "limit", "metrics", "max-tokens", "batch", "threads", "dtype", "report", "watts", "price-kwh"},
              {"json"});
    if (args.help()) {
        std::cout << kCompareHelp;
        return 0;
    }
    const auto& pos = args.positionals();
    if (pos.size() < 3) throw Error("swarm distill compare takes a job NAME and at least one MODEL (see --help)");
    ProjectStore project = ProjectStore::open(args.required("project"));
    const eval::AnswerColumn teacher = distill::teacherColumn(project, pos[1]);
    eval::EvalSettings s;
    s.split = args.value("split", "test");
    s.limit = args.integer("limit", 0, 0, 1000000000);
    s.metrics = args.value("metrics", "auto");
    s.maxNewTokens = int(args.integer("max-tokens", 128, 1, 100000));
    s.batchSize = int(args.integer("batch", 8, 1, 64));
    s.threads = int(args.integer("threads", 0, 0, 4096));
    s.dtype = args.value("dtype");
    eval::CostSettings cost;
    cost.watts = args.number("watts", 65, 0, 1e6);
    cost.pricePerKwh = args.number("price-kwh", 0.30, 0, 1e6);
    std::signal(SIGINT, onSigint);
    eval::EvalCallbacks cb;
    cb.cancel = &gCancel;
    std::vector<int64_t> ids;
    for (size_t i = 2; i < pos.size(); ++i) {
        std::cerr << "== " << pos[i] << "\n";
        const eval::EvalRunInfo r = eval::evaluate(project, pos[i], args.required("dataset"), s, cb);
        if (r.status != "done") {
            std::cerr << "swarm: cancelled; finished examples are kept (run the same command to resume)\n";
            return 130;
        }
        ids.push_back(r.id);
    }
    std::signal(SIGINT, SIG_DFL);
    eval::Comparison c = eval::compareRuns(project, ids, 0, cost);
    eval::addAnswerColumn(c, teacher, true);
    if (args.has("report")) {
        eval::writeReport(c, args.value("report"));
        std::cerr << "report written to " << args.value("report") << "\n";
    }
    if (args.flag("json")) std::cout << c.toJson().dump(2) << "\n";
    else std::cout << eval::renderMarkdown(c, 10);
    return 0;
}

} // namespace

int runDistill(const Argv& argv) {
    refuseKeyOnCommandLine(argv);
    const std::string sub = argv.empty() || argv[0].rfind("--", 0) == 0 || argv[0] == "-h" ? "" : argv[0];
    if (sub == "compare") return runCompareWithTeacher(argv);
    if (sub.empty()) {
        for (const std::string& a : argv)
            if (a == "--help" || a == "-h") {
                std::cout << kDistillHelp;
                return 0;
            }
        return runCreate(argv);
    }
    Args args(argv, unionOf(kRunOptions, {"state", "limit"}), kFlags);
    if (args.help()) {
        std::cout << kDistillHelp;
        return 0;
    }
    if (sub == "resume") return runResume(args);
    if (sub == "status") return runStatus(args);
    if (sub == "list") return runList(args);
    if (sub == "rejected") return runRejected(args);
    if (sub == "build") return runBuild(args);
    throw Error("swarm distill: unknown sub-command '" + sub + "' (resume, status, list, rejected, build, compare; see --help)");
}

} // namespace swarm::cli
