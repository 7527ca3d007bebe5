// The evaluation harness: reads the split, runs the model over the examples that are not stored
// yet and stores each one scored. Generation goes through engine::Generation (one example at a
// time) or engine::BatchDecoder (several in flight), the paths the Playground and the server use,
// so that an evaluation measures exactly what they produce. The tables: eval_store.cpp.
#include "eval/harness.h"

#include "training/run_folder.h"
#include "eval/eval_store_rows.h"

#include "engine/batch_decoder.h"
#include "engine/engine.h"

#include "core/error.h"
#include "core/system.h"
#include "datasets/dataset_store.h"
#include "datasets/prompt_template.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

namespace swarm::eval {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Models

namespace {

std::string fileStamp(const fs::path& p) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    const auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
    return p.filename().string() + ":" + std::to_string(size) + ":" + std::to_string(mtime);
}

// "Bad UTF-8 never reaches the store": invalid bytes become U+FFFD.
std::string sanitizeUtf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + size_t(len) <= s.size() && c != 0;
        for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + size_t(k)]) >> 6) == 2;
        if (ok && len == 2 && c < 0xC2) ok = false;
        if (ok) {
            out.append(s.substr(i, size_t(len)));
            i += size_t(len);
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

} // namespace

ModelRef resolveModel(const std::string& input) {
    const run_folder::ModelLocation where = run_folder::locateModel(input, run_folder::WithoutFinal::UseLatestCheckpoint);
    ModelRef m;
    m.input = input;
    m.path = where.modelPath;
    m.kind = run_folder::kindName(where.kind);
    m.name = where.name;
    std::error_code ec;
    if (where.kind == run_folder::ModelLocation::Kind::Gguf) {
        m.bytes = int64_t(fs::file_size(m.path, ec));
        m.fingerprint = "gguf:" + m.path + "|" + fileStamp(m.path);
        return m;
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(m.path, ec))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    m.fingerprint = "hf:" + m.path;
    for (const fs::path& f : files) {
        m.fingerprint += "|" + fileStamp(f);
        if (f.extension() == ".safetensors") m.bytes += int64_t(fs::file_size(f, ec));
    }
    return m;
}

// ---------------------------------------------------------------------------------------------
// One evaluate() call

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// What the steps of one evaluate() call share.
struct EvalRun {
    EvalRun(ProjectStore& p, const EvalSettings& s, const EvalCallbacks& c) : project(p), settings(s), callbacks(c) {}
    ProjectStore& project;
    const EvalSettings& settings;
    const EvalCallbacks& callbacks;
    Clock::time_point started = Clock::now();
    DatasetInfo dataset;
    std::vector<std::string> families;
    ModelRef model;
    EvalSettings effective;                  // settings with the split's canonical name
    std::vector<StoredExample> examples;     // the evaluated split, by position
    int64_t runId = 0;
    std::set<int64_t> done;                  // examples stored by earlier calls
    std::vector<size_t> pending;             // positions of the others
    int64_t storedHere = 0;                  // stored by this call
    json perf = json::object();              // of earlier calls

    int64_t total() const { return int64_t(examples.size()); }
    int64_t reused() const { return int64_t(done.size()); }
    void progress(EvalProgress p) const {
        p.elapsedSeconds = secondsSince(started);
        if (callbacks.progress) callbacks.progress(p);
    }
    void log(const std::string& s) const {
        if (callbacks.log) callbacks.log(s);
    }
    bool cancelled() const { return callbacks.cancel && callbacks.cancel->load(); }
};

// The dataset, the split's examples, the metrics and the model; throws for any of them missing.
void readInputs(EvalRun& r, const std::string& modelPath, const std::string& datasetName) {
    r.dataset = DatasetStore(r.project).dataset(datasetName);
    Split split;
    if (!parseSplit(r.settings.split, split))
        throw Error("unknown split '" + r.settings.split + "' (train, validation, test)");
    r.families = metrics::parseMetrics(r.settings.metrics, r.dataset.preset);
    if (r.settings.maxNewTokens <= 0) throw Error("max new tokens must be > 0");
    r.model = resolveModel(modelPath);
    r.examples = DatasetStore(r.project).examples(r.dataset.id, split, 0, r.settings.limit > 0 ? r.settings.limit : -1);
    if (r.examples.empty())
        throw Error("dataset '" + r.dataset.name + "' has no " + std::string(splitName(split)) + " examples");
    r.effective = r.settings;
    r.effective.split = splitName(split);
}

// Finds the stored run of the same model files, split and settings: returns it when it is
// complete (reused); otherwise resumes it, or creates a new one, and lists what is left to do.
std::optional<EvalRunInfo> openRun(EvalRun& r, EvalStore& store) {
    sqlite3* db = r.project.handle();
    std::optional<EvalRunInfo> existing = store.find(r.model.fingerprint, r.dataset.id, r.effective.split, r.effective.key());
    if (existing) {
        r.runId = existing->id;
        for (const EvalExampleRow& e : store.examples(r.runId)) r.done.insert(e.exampleId);
        if (existing->status == "done" && r.reused() >= r.total()) {
            r.log("reusing evaluation run " + std::to_string(r.runId) + " (same model files, split and settings)");
            existing->reused = true;
            r.progress({existing->total, existing->total, existing->total, 0, 0, "done"});
            return existing;
        }
        r.log("resuming evaluation run " + std::to_string(r.runId) + ": " + std::to_string(r.done.size()) + " of " +
              std::to_string(r.examples.size()) + " examples already done");
        r.perf = existing->perf;
    } else {
        r.runId = insertRun(db, r.model, r.dataset, r.effective, r.families, r.total());
    }
    setRunRunning(db, r.runId, r.total());
    for (size_t i = 0; i < r.examples.size(); ++i)
        if (!r.done.count(r.examples[i].id)) r.pending.push_back(i);
    return std::nullopt;
}

engine::Model loadModel(const EvalRun& r, double& loadSeconds) {
    engine::LoadOptions lo;
    lo.threads = r.settings.threads;
    if (!r.settings.dtype.empty()) {
        engine::WType w;
        if (!engine::parseWType(r.settings.dtype, w)) throw Error("unknown dtype '" + r.settings.dtype + "'");
        lo.dtype = w;
    }
    const auto t0 = Clock::now();
    engine::Model m = engine::Model::load(r.model.path, lo);
    loadSeconds = secondsSince(t0);
    for (const std::string& w : m.warnings()) r.log("model: " + w);
    return m;
}

// ---------------------------------------------------------------------------------------------
// Generation

// How every example of the run is generated.
struct GenerationPlan {
    engine::SamplingOptions sampling;        // the run's seed; each example adds its id
    engine::SessionOptions session;          // context: the longest example plus the new tokens
    std::string lead;                        // what the format puts before the response (" "): not part of the answer
    bool referenceLoss = false;              // the "loss" family: the reference's loss is measured too
    int batch = 1;                           // the batch size setting
    int inFlight = 1;                        // examples generated at once
};

GenerationPlan planGeneration(const engine::Model& m, const EvalRun& r) {
    GenerationPlan plan;
    const EvalSettings& s = r.settings;
    plan.sampling.temperature = s.temperature;
    plan.sampling.topK = s.topK;
    plan.sampling.topP = s.topP;
    plan.sampling.seed = s.seed;
    plan.sampling.maxTokens = s.maxNewTokens;
    plan.sampling.truncatePrompt = true;
    // The chat format's turn marker ends a generation that runs past its answer.
    ChatFormat format;
    if (r.dataset.mapping.contains("chat_format") && r.dataset.mapping["chat_format"].is_string()) {
        try {
            format = ChatFormat::parse(r.dataset.mapping["chat_format"].get<std::string>());
        } catch (const Error&) {
        }
    }
    std::string head = format.head();
    const std::string rt = format.responseText("");
    plan.lead = rt.substr(0, rt.find_first_not_of(" \t\n"));
    while (!head.empty() && head.back() == ' ') head.pop_back();
    if (!head.empty()) plan.sampling.stop.push_back("\n" + head);
    engine::validateSamplingOptions(plan.sampling);

    int longest = 1;
    for (size_t i : r.pending) longest = std::max(longest, int(r.examples[i].ids.size()));
    plan.session.context = int(std::min<int64_t>(m.config().block_size, int64_t(longest) + s.maxNewTokens + 1));
    plan.referenceLoss = std::find(r.families.begin(), r.families.end(), "loss") != r.families.end();
    plan.batch = std::clamp(s.batchSize, 1, 64);
    plan.inFlight = std::min(plan.batch, int(r.pending.size()));
    return plan;
}

double logSoftmaxAt(const float* logits, int n, int32_t target) {
    float mx = logits[0];
    for (int i = 1; i < n; ++i) mx = std::max(mx, logits[i]);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += std::exp(double(logits[i] - mx));
    return double(logits[target] - mx) - std::log(sum);
}

// The reference answer's loss under the model: -log p of each response token (and the EOS)
// given everything before it, from one prefill of the whole example.
struct ReferenceLoss {
    bool measured = false;
    double nll = 0;
    int tokens = 0;
    int prefillTokens = 0;
    double prefillSeconds = 0;
};

ReferenceLoss referenceLoss(engine::Session& session, const std::vector<int32_t>& ids, int promptLen) {
    ReferenceLoss loss;
    const auto t0 = Clock::now();
    session.reset();
    session.prefill(ids, true);
    const std::vector<float>& all = session.allLogits();
    const int vocab = session.vocabSize();
    for (size_t t = size_t(promptLen) - 1; t + 1 < ids.size(); ++t) {
        loss.nll -= logSoftmaxAt(all.data() + t * size_t(vocab), vocab, ids[t + 1]);
        ++loss.tokens;
    }
    loss.measured = true;
    loss.prefillTokens = int(ids.size());
    loss.prefillSeconds = secondsSince(t0);
    return loss;
}

// A stretch of the generation phase, in seconds since it started.
using Span = std::pair<double, double>;

// One example's generation, as a worker hands it over.
struct Generated {
    size_t position = 0;                     // in the evaluated split
    engine::GenerateResult result;
    ReferenceLoss loss;
    Span lossSpan{0, 0};                     // when the reference loss was computed
    double end = 0;                          // when the generation ended
};

// Where the workers generate: engine::generate() on the worker's own session when one example is
// in flight, the shared BatchDecoder when several are.
struct Generator {
    std::shared_ptr<const engine::Model> model;
    engine::BatchDecoder* decoder = nullptr;
    const GenerationPlan* plan = nullptr;
    const std::vector<StoredExample>* examples = nullptr;
    std::function<bool()> halted;            // a cancel or a failure: stop between tokens
    Clock::time_point phaseStart;
};

Generated generateExample(const Generator& g, engine::Session* own, size_t position) {
    const StoredExample& ex = (*g.examples)[position];
    const GenerationPlan& plan = *g.plan;
    Generated out;
    out.position = position;
    const std::vector<int32_t>& ids = ex.ids;
    const int promptLen = std::clamp<int>(ex.promptLen, 1, int(ids.size()));
    if (plan.referenceLoss && !ex.response.empty() && int(ids.size()) > promptLen &&
        int(ids.size()) <= plan.session.context) {
        out.lossSpan.first = secondsSince(g.phaseStart);
        out.loss = referenceLoss(*own, ids, promptLen);
        out.lossSpan.second = secondsSince(g.phaseStart);
    }
    const std::vector<int32_t> prompt(ids.begin(), ids.begin() + promptLen);
    engine::SamplingOptions sampling = plan.sampling;
    sampling.seed += uint64_t(ex.id);
    const engine::TokenCallback keepGoing = [&g](const engine::TokenEvent&) { return !g.halted(); };
    out.result = g.decoder ? g.decoder->generate(g.model, prompt, sampling, keepGoing, plan.session)
                           : engine::generate(*own, prompt, sampling, keepGoing);
    out.end = secondsSince(g.phaseStart);
    return out;
}

// Finished generations, from the workers to the thread that scores and stores them.
class ResultQueue {
public:
    explicit ResultQueue(int workers) : running_(workers) {}
    void push(Generated g) {
        std::lock_guard<std::mutex> lock(mutex_);
        items_.push_back(std::move(g));
        ready_.notify_one();
    }
    void fail(std::exception_ptr e) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = e;
    }
    void workerDone() {
        std::lock_guard<std::mutex> lock(mutex_);
        --running_;
        ready_.notify_one();
    }
    // Waits for a generation; false once every worker is done and none is left.
    bool pop(Generated& out) {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !items_.empty() || running_ == 0; });
        if (items_.empty()) return false;
        out = std::move(items_.front());
        items_.pop_front();
        return true;
    }
    std::exception_ptr error() {
        std::lock_guard<std::mutex> lock(mutex_);
        return error_;
    }

private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<Generated> items_;
    int running_;
    std::exception_ptr error_;
};

// A worker: takes the next pending example until none is left or the run is halted.
void runWorker(const Generator& g, const std::vector<size_t>& pending, std::atomic<size_t>& next,
               std::atomic<bool>& failed, ResultQueue& queue) {
    try {
        std::optional<engine::Session> own;   // the reference loss, and the generation when alone
        if (!g.decoder || g.plan->referenceLoss) own.emplace(*g.model, g.plan->session);
        for (size_t k; !g.halted() && (k = next++) < pending.size();)
            queue.push(generateExample(g, own ? &*own : nullptr, pending[k]));
    } catch (...) {
        failed = true;
        queue.fail(std::current_exception());
    }
    queue.workerDone();
}

// The disjoint union of spans, in order.
std::vector<Span> unite(std::vector<Span> spans) {
    std::sort(spans.begin(), spans.end());
    std::vector<Span> out;
    for (const Span& sp : spans) {
        if (!out.empty() && sp.first <= out.back().second) out.back().second = std::max(out.back().second, sp.second);
        else out.push_back(sp);
    }
    return out;
}

double length(const std::vector<Span>& disjoint) {
    double total = 0;
    for (const Span& sp : disjoint) total += sp.second - sp.first;
    return total;
}

// Time covered by both (each disjoint and in order).
double overlap(const std::vector<Span>& a, const std::vector<Span>& b) {
    double total = 0;
    for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
        total += std::max(0.0, std::min(a[i].second, b[j].second) - std::max(a[i].first, b[j].first));
        if (a[i].second < b[j].second) ++i;
        else ++j;
    }
    return total;
}

// Throughput of the run, summed over the calls that generated its examples.
//
// Times are wall-clock time: with several examples in flight their prefills and decode steps
// take turns on the model, so summed per-example times would overstate the time spent. Prefill
// time is the time with some prefill under way (a generation's or a reference loss's); decode
// time is the time with some example decoding and no prefill under way. One example at a time,
// both are the plain sums.
struct PerfTotals {
    double prefillTokens = 0, decodeTokens = 0;
    double prefillSecondsBefore = 0, decodeSecondsBefore = 0;   // of earlier calls
    int64_t peakRss = 0;
    std::vector<Span> prefillSpans, decodeSpans;                // this call's

    explicit PerfTotals(const json& stored)
        : prefillTokens(stored.value("prefill_tokens", 0.0)), decodeTokens(stored.value("decode_tokens", 0.0)),
          prefillSecondsBefore(stored.value("prefill_seconds", 0.0)),
          decodeSecondsBefore(stored.value("decode_seconds", 0.0)),
          peakRss(std::max<int64_t>(stored.value("peak_rss_bytes", int64_t(0)), currentRssBytes())) {}

    void add(const Generated& g) {
        const engine::GenerateResult& res = g.result;
        prefillTokens += double(res.promptTokens + g.loss.prefillTokens);
        // The first token comes from the prefill; every later one from one decode step.
        decodeTokens += double(res.tokens.empty() ? 0 : res.tokens.size() - 1);
        const double decodeStart = g.end - res.decodeSeconds;
        prefillSpans.emplace_back(decodeStart - res.prefillSeconds, decodeStart);
        if (g.loss.measured) prefillSpans.push_back(g.lossSpan);
        decodeSpans.emplace_back(decodeStart, g.end);
        peakRss = std::max(peakRss, currentRssBytes());
    }

    json toJson(const engine::Model& m, const EvalRun& r, const GenerationPlan& plan, double loadSeconds) const {
        const std::vector<Span> prefills = unite(prefillSpans), decodes = unite(decodeSpans);
        const double prefill = prefillSecondsBefore + length(prefills);
        const double decode = decodeSecondsBefore + length(decodes) - overlap(decodes, prefills);
        return json{{"prefill_tokens", prefillTokens},
                    {"prefill_seconds", prefill},
                    {"decode_tokens", decodeTokens},
                    {"decode_seconds", decode},
                    {"prefill_tok_s", prefill > 0 ? prefillTokens / prefill : 0.0},
                    {"decode_tok_s", decode > 0 ? decodeTokens / decode : 0.0},
                    {"peak_rss_bytes", peakRss},
                    {"load_seconds", loadSeconds},
                    {"threads", m.threads()},
                    {"weight_type", m.stats().storedTypes},
                    {"model_bytes", r.model.bytes},
                    {"batch_size", plan.batch}};
    }
};

// ---------------------------------------------------------------------------------------------
// Scoring and storing

EvalExampleRow scoredRow(const EvalRun& r, const GenerationPlan& plan, const Generated& g) {
    const StoredExample& ex = r.examples[g.position];
    const engine::GenerateResult& res = g.result;
    std::string_view text = res.text;
    if (!plan.lead.empty() && text.substr(0, plan.lead.size()) == plan.lead) text.remove_prefix(plan.lead.size());
    EvalExampleRow row;
    row.exampleId = ex.id;
    row.position = int64_t(g.position);
    row.prompt = ex.prompt;
    row.reference = ex.response;
    row.hasReference = !ex.response.empty();
    row.output = sanitizeUtf8(text);
    metrics::ExampleInput in{ex.prompt, ex.response, row.output, row.hasReference};
    metrics::SqlOptions sqlOptions;
    sqlOptions.timeLimitMs = r.settings.sqlTimeLimitMs;
    row.detail = json::object();
    row.scores = metrics::scoreExample(r.families, in, sqlOptions, &row.detail);
    if (g.loss.measured && g.loss.tokens > 0) {
        row.scores["#ref_nll"] = g.loss.nll;
        row.scores["#ref_tokens"] = g.loss.tokens;
        row.scores["ref_loss"] = g.loss.nll / g.loss.tokens;
    }
    row.latencyMs = (res.prefillSeconds + res.decodeSeconds) * 1000;
    row.promptTokens = res.promptTokens;
    row.outputTokens = int(res.tokens.size());
    row.finish = engine::finishReasonName(res.finish);
    return row;
}

// Stops the workers (between tokens) and waits for them, also when storing throws.
struct WorkerGuard {
    std::atomic<bool>& stop;
    std::vector<std::thread> threads;
    ~WorkerGuard() {
        stop = true;
        for (std::thread& t : threads) t.join();
    }
};

// Generates the pending examples, `plan.inFlight` at a time, and stores each one scored as it
// ends, in its own transaction. A cancel stops the generations in flight; they, and anything
// that ends after the cancel was seen, are not stored and rerun on resume. False when cancelled.
bool generateAndStore(EvalRun& r, const engine::Model& m, const GenerationPlan& plan, PerfTotals& perf) {
    sqlite3* db = r.project.handle();
    std::atomic<bool> stop{false}, failed{false};
    std::unique_ptr<engine::BatchDecoder> decoder;
    if (plan.inFlight > 1) decoder = std::make_unique<engine::BatchDecoder>(plan.inFlight);
    Generator g;
    g.model = std::make_shared<const engine::Model>(m);
    g.decoder = decoder.get();
    g.plan = &plan;
    g.examples = &r.examples;
    g.halted = [&] { return stop.load() || failed.load() || r.cancelled(); };
    g.phaseStart = Clock::now();
    ResultQueue queue(plan.inFlight);
    std::atomic<size_t> next{0};
    ExampleInserter inserter(db, r.runId);
    {
        WorkerGuard workers{stop, {}};
        for (int w = 0; w < plan.inFlight; ++w)
            workers.threads.emplace_back([&] { runWorker(g, r.pending, next, failed, queue); });
        Generated item;
        while (queue.pop(item)) {
            perf.add(item);
            if (stop || item.result.finish == engine::FinishReason::Callback) continue;
            const EvalExampleRow row = scoredRow(r, plan, item);
            SqlTransaction tx(db);
            inserter.insert(row);
            setRunDoneCount(db, r.runId, r.reused() + r.storedHere + 1);
            tx.commit();
            ++r.storedHere;
            const int64_t left = int64_t(r.pending.size()) - r.storedHere;
            r.progress({r.reused() + r.storedHere, r.total(), r.reused(), 0,
                        secondsSince(g.phaseStart) / double(r.storedHere) * double(left), "generating"});
            if (r.cancelled()) stop = true;
        }
    }
    if (std::exception_ptr e = queue.error()) std::rethrow_exception(e);
    return r.storedHere == int64_t(r.pending.size());
}

// Loads the model and generates what is left; false when a cancel stopped it.
bool generatePending(EvalRun& r) {
    r.progress({r.reused(), r.total(), r.reused(), 0, -1, "loading"});
    double loadSeconds = 0;
    const engine::Model m = loadModel(r, loadSeconds);
    const GenerationPlan plan = planGeneration(m, r);
    PerfTotals perf(r.perf);
    const bool complete = generateAndStore(r, m, plan, perf);
    setRunPerf(r.project.handle(), r.runId, perf.toJson(m, r, plan, loadSeconds));
    return complete;
}

EvalRunInfo cancelRun(const EvalRun& r, EvalStore& store) {
    store.resummarize(r.runId);
    const std::string kept = std::to_string(r.reused() + r.storedHere);
    setRunCancelled(r.project.handle(), r.runId, "cancelled after " + kept + " of " + std::to_string(r.total()) + " examples");
    r.log("cancelled: " + kept + " examples kept");
    return *store.run(r.runId);
}

EvalRunInfo finishRun(const EvalRun& r, EvalStore& store) {
    r.progress({r.total(), r.total(), r.reused(), 0, 0, "scoring"});
    store.resummarize(r.runId);
    setRunDone(r.project.handle(), r.runId, r.total());
    r.progress({r.total(), r.total(), r.reused(), 0, 0, "done"});
    return *store.run(r.runId);
}

} // namespace

EvalRunInfo evaluate(ProjectStore& project, const std::string& modelPath, const std::string& datasetName,
                     const EvalSettings& settings, const EvalCallbacks& callbacks) {
    EvalRun r(project, settings, callbacks);
    readInputs(r, modelPath, datasetName);
    EvalStore store(project);
    if (std::optional<EvalRunInfo> complete = openRun(r, store)) return *complete;
    // From here the run exists as 'running': an error (a model that does not load, a full disk...)
    // marks it 'failed' with the message, keeping the examples already stored for a resume.
    try {
        if (!r.pending.empty() && !generatePending(r)) return cancelRun(r, store);
        return finishRun(r, store);
    } catch (const std::exception& e) {
        setRunFailed(project.handle(), r.runId, e.what());
        throw;
    }
}

} // namespace swarm::eval
