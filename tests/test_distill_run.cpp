// Distillation runs end to end (issue 16), torch-free, every teacher on 127.0.0.1:
//  - `swarm serve` (the swarm's HTTP server, in process, small random specialists) as the
//    teacher: every prompt answered and stored with its usage, latency and the teacher's model
//    name, the stored answers equal to the swarm's own, the dataset built and trainable;
//  - a fault-injecting teacher (tests/distill_fault_server.h): retries with backoff on 500,
//    malformed JSON, a body cut short, a stream without [DONE] and a hung connection (cut by the
//    timeout), Retry-After honoured on 429; prompts given up on or refused kept as failed with
//    their error, refusals and truncated answers kept as rejected with their reason; a refused
//    key and a teacher that fails everything stop the run; the spend cap and the request cap;
//    Ctrl-C (cancel) and abort, then resume, with no prompt requested twice once answered; a
//    killed run's prompts recovered; one runner per job; concurrency bounded;
//  - the teacher's stored answers as the baseline column of a comparison (eval/compare.h).
// Backoff is scaled down (base 10 ms); the only real waits are a 1 s Retry-After and 1 s timeouts.
#include "distill_fault_server.h"
#include "swarm_test_util.h"
#include "test_util.h"

#include "distill/dataset_builder.h"
#include "distill/distiller.h"
#include "distill/job_setup.h"
#include "distill/teacher_column.h"

#include "datasets/dataset_import.h"
#include "datasets/dataset_store.h"
#include "datasets/sample_generators.h"
#include "eval/compare.h"
#include "eval/harness.h"
#include "serve/server.h"

#include <QTemporaryDir>
#include <QtTest>

#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

using namespace swarm;
using namespace swarm::distill;
using distilltest::Answer;
using distilltest::Fault;
using distilltest::FaultServer;
using nlohmann::json;

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

std::string trimmed(const std::string& s) {
    const size_t a = s.find_first_not_of(" \t\r\n\f\v");
    if (a == std::string::npos) return "";
    return s.substr(a, s.find_last_not_of(" \t\r\n\f\v") - a + 1);
}

void writePrompts(const std::string& path, const std::vector<std::string>& prompts) {
    std::ofstream out(path);
    for (const std::string& p : prompts) out << json{{"prompt", p}}.dump() << "\n";
}

RunOptions fastOptions(int concurrency = 2) {
    RunOptions o;
    o.concurrency = concurrency;
    o.timeoutSeconds = 5;
    o.connectTimeoutSeconds = 2;
    o.retry.baseDelaySeconds = 0.01;
    o.retry.maxDelaySeconds = 0.05;
    o.retry.maxAttempts = 4;
    o.jitterSeed = 7;
    return o;
}

std::vector<std::string> numbered(const std::string& stem, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(stem + (i < 10 ? "0" : "") + std::to_string(i));
    return out;
}

} // namespace

class TestDistillRun : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir_;
    int projects_ = 0;
    Gpt2Tokenizer tok_ = Gpt2Tokenizer::bundled();

    // A fresh project and a prompt file for each test.
    std::string newProject() {
        const std::string path = dir_ + "/p" + std::to_string(++projects_) + ".swarm";
        ProjectStore::create(path);
        return path;
    }
    JobSpec spec(const std::string& url, const std::string& name, const std::vector<std::string>& prompts) {
        const std::string file = dir_ + "/" + name + "-" + std::to_string(projects_) + ".jsonl";
        writePrompts(file, prompts);
        JobSpec s;
        s.name = name;
        s.teacherUrl = url;
        s.teacher.model = "fake-teacher";
        s.teacher.maxTokens = 64;
        s.prompts = file;
        s.taskAuto = false;
        return s;
    }
    // The counts always add up: every prompt accepted, rejected, failed or pending.
    static void checkAccounted(const ItemCounts& c) {
        QCOMPARE(c.accepted + c.rejected + c.failed + c.pending + c.sending, c.total);
        QCOMPARE(c.sending, int64_t(0));
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        registerDistillationSchema();
        eval::registerEvaluationSchema();
    }

    void swarmServeAsTeacher() {
        // Specialists that stop at a space or a full stop, so that their answers end ("stop").
        const std::string sdir = dir_ + "/swarm";
        swarmtest::writeSwarm(sdir);
        // Weights far from zero, so that the random specialist says varied things (not one token again and again).
        enginetest::saveModel(sdir + "/sql", swarmtest::config(), enginetest::randomWeights(swarmtest::config(), 21, 0.3), DType::F32, true);
        json def = json::parse(std::ifstream(sdir + "/swarm.json"));
        def["specialists"]["sql"]["max_tokens"] = 12;
        def["specialists"]["sql"]["stop"] = {" ", ".", "\n"};
        std::ofstream(sdir + "/swarm.json") << def.dump(2);
        Swarm swarm(SwarmDefinition::load(sdir + "/swarm.json"));
        SwarmServer server(swarm, {});
        server.start();

        const std::string path = newProject();
        ProjectStore project = ProjectStore::open(path);
        std::vector<std::string> prompts;
        for (const char* p : {"How many orders shipped?", "List the customers", "Total revenue", "Which products are out of stock?",
                              "Average rating", "Count the users", "Top sellers", "Orders by city"})
            prompts.push_back(p);
        JobSpec s = spec("http://127.0.0.1:" + std::to_string(server.port()), "from-serve", prompts);
        s.teacher.model = "sql";
        {
            std::ofstream out(s.prompts, std::ios::app);
            out << json{{"prompt", "Total revenue"}}.dump() << "\n";   // a duplicate: never sent
            out << json{{"question", "no prompt field"}}.dump() << "\n";
        }
        const PreparedJob job = prepareJob(project, s);
        QVERIFY(job.created);
        std::vector<DistillItem> seen;
        DistillCallbacks cb;
        cb.item = [&](const DistillItem& it) { seen.push_back(it); };
        const DistillResult r = runDistillation(project, tok_, "from-serve", fastOptions(3), cb);
        QCOMPARE(q(r.stopReason), QString("done"));
        QCOMPARE(r.counts.total, int64_t(10));
        checkAccounted(r.counts);
        QCOMPARE(r.counts.pending, int64_t(0));
        QCOMPARE(r.counts.failed, int64_t(0));
        QCOMPARE(r.requests, int64_t(8));
        QCOMPARE(int64_t(seen.size()), int64_t(8));
        DistillStore store(project);
        int accepted = 0;
        for (const DistillItem& it : store.items(job.job.id)) {
            if (it.reason == "duplicate_prompt" || it.reason == "missing_field") {
                QCOMPARE(it.attempts, 0);
                continue;
            }
            // The stored answer is the swarm's own answer for that prompt (greedy decoding).
            DispatchRequest d;
            d.input = it.prompt;
            d.label = "sql";
            const DispatchResult direct = swarm.dispatch(d);
            // The server's JSON replaces invalid UTF-8 (a random model's cut characters) by U+FFFD.
            const std::string sent = json::parse(json(direct.answer).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
            QCOMPARE(q(it.answer), q(sent));
            QCOMPARE(q(it.teacherModel), QString("sql"));
            QVERIFY(it.usageReported);
            QCOMPARE(it.completionTokens, int64_t(direct.completionTokens));
            QVERIFY(it.promptTokens > 0);
            QVERIFY(it.latencyMs > 0);
            QCOMPARE(it.attempts, 1);
            QVERIFY(!it.rawResponse.empty());
            QVERIFY(json::parse(it.rawResponse)["swarm"]["specialist"] == "sql");
            if (it.state == ItemState::Accepted) {
                ++accepted;
                QCOMPARE(q(it.response), q(trimmed(sent)));
            } else {
                QVERIFY2(it.reason == "empty_answer" || it.reason == "truncated" || it.reason == "refusal", it.reason.c_str());
            }
        }
        QCOMPARE(int64_t(accepted), r.counts.accepted);
        std::string why;
        for (const auto& [key, n] : store.reasons(job.job.id)) why += key.second + "=" + std::to_string(n) + " ";
        QVERIFY2(accepted > 0, ("the random specialists answered nothing usable: " + why).c_str());
        QVERIFY(r.datasetId > 0);
        QCOMPARE(q(store.find("from-serve")->status), QString("built"));

        // An ordinary dataset: its examples tokenised as an import would, trainable.
        DatasetStore ds(project);
        const DatasetInfo d = ds.dataset("from-serve");
        QCOMPARE(d.rowsImported, r.counts.accepted);
        QCOMPARE(d.rowsRejected, r.counts.rejected);
        QCOMPARE(q(d.sourceFormat), QString("distillation"));
        const ExampleEncoder enc(tok_, ChatFormat(), 1024, OverlongPolicy::Drop);
        int64_t checked = 0;
        ds.forEachExample(d.id, std::nullopt, [&](const StoredExample& e) {
            const EncodedExample x = enc.encode(e.prompt, e.response);
            if (x.ids != e.ids || x.promptLen != e.promptLen) return false;
            ++checked;
            return true;
        });
        QCOMPARE(checked, d.rowsImported);
        QCOMPARE(int64_t(ds.trainingExamples(d.id, Split::Train).size()), d.nTrain);
        std::set<std::string> reasons;
        for (const RejectedRow& row : ds.rejectedRows(d.id)) reasons.insert(row.reason);
        QVERIFY(reasons.count("duplicate_prompt") && reasons.count("missing_field"));
        const json report = ds.validationReport(d.id);
        QCOMPARE(q(report["distillation"]["teacher_model"].get<std::string>()), QString("sql"));
        QCOMPARE(report["distillation"]["teacher_models_reported"]["sql"].get<int64_t>(), int64_t(8));
        QCOMPARE(report["distillation"]["counts"]["prompts"].get<int64_t>(), int64_t(10));
        QCOMPARE(q(report["distillation"]["prompt_template"].get<std::string>()), QString("{prompt}"));
        QVERIFY(!report["distillation"]["built_at"].get<std::string>().empty());
        QCOMPARE(q(d.mapping["chat_format"].get<std::string>()), QString(ChatFormat::kDefault));

        // Running it again does nothing: the dataset is built.
        const DistillResult again = runDistillation(project, tok_, "from-serve", fastOptions(), {});
        QCOMPARE(q(again.stopReason), QString("built"));
        QCOMPARE(again.requests, int64_t(0));
        server.stop();
    }

    void retriesBackoffAndRetryAfter() {
        FaultServer teacher;
        teacher.script = [](const std::string& p, int attempt) {
            if (p == "p500") return attempt <= 2 ? Fault::http(500) : Fault::answer();
            if (p == "p429") return attempt == 1 ? Fault::http(429, "1") : Fault::answer();
            if (p == "pbad") return attempt == 1 ? Fault::of(Fault::Kind::Malformed) : Fault::answer();
            if (p == "pcut") return attempt == 1 ? Fault::of(Fault::Kind::TruncatedBody) : Fault::answer();
            if (p == "phang") return attempt == 1 ? Fault::of(Fault::Kind::Hang) : Fault::answer();
            if (p == "pslow") return Fault::of(Fault::Kind::Slow, 300);
            return Fault::answer();
        };
        teacher.start();
        ProjectStore project = ProjectStore::open(newProject());
        const JobSpec s = spec(teacher.url(), "retries", {"p500", "p429", "pbad", "pcut", "phang", "pslow", "pok"});
        prepareJob(project, s);
        RunOptions o = fastOptions(3);
        o.timeoutSeconds = 1;
        std::vector<std::string> events;
        DistillCallbacks cb;
        cb.log = [&](const std::string& e) { events.push_back(e); };
        const auto t0 = std::chrono::steady_clock::now();
        const DistillResult r = runDistillation(project, tok_, "retries", o, cb);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        QCOMPARE(q(r.stopReason), QString("done"));
        QCOMPARE(r.counts.accepted, int64_t(7));
        checkAccounted(r.counts);
        QCOMPARE(teacher.requestsFor("p500"), 3);
        QCOMPARE(teacher.requestsFor("p429"), 2);
        QCOMPARE(teacher.requestsFor("pbad"), 2);
        QCOMPARE(teacher.requestsFor("pcut"), 2);
        QCOMPARE(teacher.requestsFor("phang"), 2);
        QCOMPARE(teacher.requestsFor("pslow"), 1);
        QCOMPARE(teacher.requestsFor("pok"), 1);
        QCOMPARE(r.retries, int64_t(6));
        QCOMPARE(r.requests, int64_t(13));
        QCOMPARE(r.counts.requests, int64_t(13));
        QVERIFY2(seconds < 30, std::to_string(seconds).c_str());
        // Retry-After: 1 is honoured; the hung request is cut by the 1 s timeout, then retried.
        double first429 = -1, retry429 = -1, firstHang = -1, retryHang = -1;
        for (const auto& req : teacher.requests()) {
            if (req.prompt == "p429") (req.attempt == 1 ? first429 : retry429) = req.atSeconds;
            if (req.prompt == "phang") (req.attempt == 1 ? firstHang : retryHang) = req.atSeconds;
        }
        QVERIFY2(retry429 - first429 >= 0.95, std::to_string(retry429 - first429).c_str());
        QVERIFY2(retryHang - firstHang >= 0.9 && retryHang - firstHang < 10, std::to_string(retryHang - firstHang).c_str());
        bool sawTimeout = false, saw429 = false;
        for (const std::string& e : events) {
            sawTimeout = sawTimeout || e.find("within 1 s") != std::string::npos || e.find("timeout") != std::string::npos;
            saw429 = saw429 || e.find("HTTP 429") != std::string::npos;
        }
        QVERIFY(sawTimeout && saw429);
        QVERIFY(teacher.maxInFlight() <= 3);
        teacher.releaseHung();

        // A stream that ends without data: [DONE] is retried; the streamed answer's usage counts.
        FaultServer streamer;
        streamer.script = [](const std::string&, int attempt) { return attempt == 1 ? Fault::of(Fault::Kind::TruncatedStream) : Fault::answer(); };
        streamer.start();
        JobSpec ss = spec(streamer.url(), "streamed", {"s1", "s2"});
        ss.teacher.stream = true;
        prepareJob(project, ss);
        const DistillResult sr = runDistillation(project, tok_, "streamed", fastOptions(1), {});
        QCOMPARE(sr.counts.accepted, int64_t(2));
        QCOMPARE(streamer.requestsFor("s1"), 2);
        QVERIFY(streamer.requests()[0].body["stream"].get<bool>());
        const DistillItem it = *DistillStore(project).item(DistillStore(project).job("streamed").id, 0);
        QCOMPARE(q(it.answer), QString("answer to: s1"));
        QVERIFY(it.usageReported);
        QCOMPARE(it.completionTokens, int64_t(5));
    }

    void everyPromptAccountedFor() {
        FaultServer teacher;
        teacher.script = [](const std::string& p, int) {
            if (p == "always500") return Fault::http(503);
            if (p == "bad400") return Fault::http(400, "", R"({"error":{"message":"prompt too long for the context"}})");
            return Fault::answer();
        };
        teacher.answer = [](const std::string& p) {
            Answer a;
            a.content = p == "refuse" ? "I can't help with that." : "answer to: " + p;
            if (p == "cut") a.finish = "length";
            if (p == "nousage") a.usage = false;
            return a;
        };
        teacher.start();
        ProjectStore project = ProjectStore::open(newProject());
        const JobSpec s = spec(teacher.url(), "mixed", {"always500", "bad400", "refuse", "cut", "good1", "nousage", "good1"});
        prepareJob(project, s);
        RunOptions o = fastOptions(2);
        o.retry.maxAttempts = 3;
        int callbacks = 0;
        DistillCallbacks cb;
        cb.item = [&](const DistillItem&) { ++callbacks; };
        const DistillResult r = runDistillation(project, tok_, "mixed", o, cb);
        QCOMPARE(q(r.stopReason), QString("done"));
        checkAccounted(r.counts);
        QCOMPARE(r.counts.accepted, int64_t(2));
        QCOMPARE(r.counts.rejected, int64_t(3));
        QCOMPARE(r.counts.failed, int64_t(2));
        QCOMPARE(callbacks, 6);
        QCOMPARE(teacher.requestsFor("always500"), 3);
        QCOMPARE(teacher.requestsFor("bad400"), 1);
        QCOMPARE(teacher.requestsFor("good1"), 1);
        DistillStore store(project);
        const int64_t id = store.job("mixed").id;
        auto at = [&](int64_t pos) { return *store.item(id, pos); };
        QCOMPARE(q(at(0).reason), QString("http_503"));
        QVERIFY(at(0).detail.find("gave up after 3 requests") != std::string::npos);
        QCOMPARE(at(0).httpStatus, 503);
        QCOMPARE(q(at(1).reason), QString("http_400"));
        QVERIFY(at(1).detail.find("prompt too long") != std::string::npos);
        QCOMPARE(q(at(2).reason), QString("refusal"));
        QCOMPARE(q(at(3).reason), QString("truncated"));
        QCOMPARE(int(at(4).state), int(ItemState::Accepted));
        // No usage in the answer: counted with the GPT-2 tokenizer, and marked so.
        QVERIFY(!at(5).usageReported);
        QCOMPARE(at(5).completionTokens, int64_t(tok_.encode("answer to: nousage", false).size()));
        QCOMPARE(q(at(6).reason), QString("duplicate_prompt"));
        QCOMPARE(at(6).attempts, 0);
        const auto reasons = store.reasons(id);
        QCOMPARE(reasons.at({"failed", "http_503"}), int64_t(1));
        QCOMPARE(reasons.at({"rejected", "refusal"}), int64_t(1));

        const DatasetInfo d = DatasetStore(project).dataset("mixed");
        QCOMPARE(d.rowsImported, int64_t(2));
        QCOMPARE(d.rowsRejected, int64_t(5));
        const json report = DatasetStore(project).validationReport(d.id);
        QCOMPARE(report["rejected_by_reason"]["teacher_failed"].get<int64_t>(), int64_t(2));
        QCOMPARE(report["rejected_by_reason"]["refusal"].get<int64_t>(), int64_t(1));
        QCOMPARE(report["distillation"]["failed_by_reason"]["http_503"].get<int64_t>(), int64_t(1));
        QCOMPARE(report["warnings"].size(), size_t(1));
        // --retry-failed after the build needs the dataset gone first.
        RunOptions again = fastOptions();
        again.retryFailed = true;
        QVERIFY(swarm::test::errorOf([&] { runDistillation(project, tok_, "mixed", again, {}); }).find("delete dataset") != std::string::npos);
    }

    void refusedKeyAndFailingTeacherStopTheRun() {
        FaultServer denied;
        denied.script = [](const std::string&, int) { return Fault::http(401, "", R"({"error":{"message":"invalid api key"}})"); };
        denied.start();
        ProjectStore project = ProjectStore::open(newProject());
        prepareJob(project, spec(denied.url(), "denied", numbered("d", 6)));
        RunOptions o = fastOptions(1);
        o.apiKey = "sk-secret-777";
        const DistillResult r = runDistillation(project, tok_, "denied", o, {});
        QCOMPARE(q(r.stopReason), QString("teacher_error"));
        QVERIFY(r.message.find("invalid api key") != std::string::npos);
        QVERIFY(r.message.find("sk-secret-777") == std::string::npos);
        QCOMPARE(r.requests, int64_t(1));
        QCOMPARE(r.counts.pending, int64_t(6));
        QCOMPARE(q(r.status), QString("teacher_error"));
        QCOMPARE(q(denied.requests()[0].authorization), QString("Bearer sk-secret-777"));
        // The key is nowhere in the project file.
        std::ifstream file(project.path(), std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
        QVERIFY(bytes.find("sk-secret-777") == std::string::npos);

        FaultServer failing;
        failing.script = [](const std::string&, int) { return Fault::http(422); };
        failing.start();
        prepareJob(project, spec(failing.url(), "failing", numbered("f", 8)));
        RunOptions f = fastOptions(1);
        f.maxConsecutiveFailures = 3;
        const DistillResult fr = runDistillation(project, tok_, "failing", f, {});
        QCOMPARE(q(fr.stopReason), QString("failing"));
        QCOMPARE(fr.counts.failed, int64_t(3));
        QCOMPARE(fr.counts.pending, int64_t(5));
        checkAccounted(fr.counts);
    }

    void spendCapThenResume() {
        FaultServer teacher;
        teacher.answer = [](const std::string& p) {
            Answer a;
            a.content = "answer to: " + p;
            a.promptTokens = 10;
            a.completionTokens = 50;
            return a;
        };
        teacher.start();
        ProjectStore project = ProjectStore::open(newProject());
        JobSpec s = spec(teacher.url(), "capped", numbered("q", 10));
        s.teacher.maxTokens = 50;
        s.priceIn = 1000;    // per million tokens: 0.01 for 10 prompt tokens
        s.priceOut = 2000;   // 0.10 for 50 completion tokens
        prepareJob(project, s);
        RunOptions o = fastOptions(2);
        o.maxSpend = 0.5;
        std::vector<DistillProgress> progress;
        DistillCallbacks cb;
        cb.progress = [&](const DistillProgress& p) { progress.push_back(p); };
        const DistillResult r = runDistillation(project, tok_, "capped", o, cb);
        // Each answer costs 0.11; a request's worst case is (3 + 64) * 0.001 + 50 * 0.002 = 0.167:
        // after four answers (0.44) no fifth fits under 0.5.
        QCOMPARE(q(r.stopReason), QString("spend_cap"));
        QCOMPARE(q(r.status), QString("spend_cap"));
        QCOMPARE(r.counts.accepted, int64_t(4));
        QCOMPARE(r.counts.pending, int64_t(6));
        QVERIFY(r.counts.spent <= 0.5);
        QVERIFY(std::fabs(r.counts.spent - 0.44) < 1e-9);
        QCOMPARE(int(teacher.requests().size()), 4);
        QVERIFY(!progress.empty());
        QCOMPARE(progress.back().spendCap, 0.5);
        QVERIFY(std::fabs(progress.back().spent - 0.44) < 1e-9);
        QCOMPARE(q(progress.back().phase), QString("done"));

        // Resume with a higher cap: only the pending prompts are sent, each once.
        o.maxSpend = 10;
        const DistillResult more = runDistillation(project, tok_, "capped", o, {});
        QCOMPARE(q(more.stopReason), QString("done"));
        QCOMPARE(more.requests, int64_t(6));
        QCOMPARE(more.counts.accepted, int64_t(10));
        QCOMPARE(int(teacher.requests().size()), 10);
        for (const std::string& p : numbered("q", 10)) QCOMPARE(teacher.requestsFor(p), 1);
        QVERIFY(std::fabs(more.counts.spent - 1.1) < 1e-9);
        const std::vector<DistillRunRow> runs = DistillStore(project).runs(DistillStore(project).job("capped").id);
        QCOMPARE(runs.size(), size_t(2));
        QCOMPARE(q(runs[0].stopReason), QString("spend_cap"));
        QCOMPARE(runs[0].requests, int64_t(4));
        QCOMPARE(q(runs[1].stopReason), QString("done"));
        QVERIFY(!runs[1].settings["authenticated"].get<bool>());

        // The request cap counts HTTP requests in a run.
        prepareJob(project, spec(teacher.url(), "few", numbered("r", 5)));
        RunOptions few = fastOptions(1);
        few.maxRequests = 3;
        const DistillResult fr = runDistillation(project, tok_, "few", few, {});
        QCOMPARE(q(fr.stopReason), QString("request_cap"));
        QCOMPARE(fr.requests, int64_t(3));
        QCOMPARE(fr.counts.pending, int64_t(2));
    }

    void cancelAndResumeNeverResendAnAnsweredPrompt() {
        FaultServer teacher;
        teacher.script = [](const std::string&, int) { return Fault::of(Fault::Kind::Slow, 150); };
        teacher.start();
        ProjectStore project = ProjectStore::open(newProject());
        const std::vector<std::string> prompts = numbered("c", 12);
        prepareJob(project, spec(teacher.url(), "cancelled", prompts));
        std::atomic<bool> cancel{false};
        int stored = 0;
        DistillCallbacks cb;
        cb.cancel = &cancel;
        cb.item = [&](const DistillItem&) {
            if (++stored >= 4) cancel = true;   // Ctrl-C after the fourth answer
        };
        const DistillResult r = runDistillation(project, tok_, "cancelled", fastOptions(3), cb);
        QCOMPARE(q(r.stopReason), QString("cancelled"));
        QCOMPARE(q(r.status), QString("stopped"));
        checkAccounted(r.counts);
        // The answers already on their way were stored: every request sent has its answer.
        QCOMPARE(int64_t(teacher.requests().size()), r.counts.accepted);
        QVERIFY(r.counts.accepted >= 4 && r.counts.accepted <= 4 + 3);
        QCOMPARE(r.counts.pending, 12 - r.counts.accepted);
        QVERIFY(teacher.maxInFlight() <= 3);

        const DistillResult resumed = runDistillation(project, tok_, "cancelled", fastOptions(3), {});
        QCOMPARE(q(resumed.stopReason), QString("done"));
        QCOMPARE(resumed.counts.accepted, int64_t(12));
        QCOMPARE(resumed.requests, 12 - r.counts.accepted);
        for (const std::string& p : prompts) QCOMPARE(teacher.requestsFor(p), 1);
        QVERIFY(resumed.datasetId > 0);

        // Abort cuts the requests out at once; their prompts stay pending and are sent again.
        FaultServer hanging;
        std::atomic<bool> hang{true};
        hanging.script = [&hang](const std::string&, int) { return hang ? Fault::of(Fault::Kind::Hang) : Fault::answer(); };
        hanging.start();
        prepareJob(project, spec(hanging.url(), "aborted", numbered("h", 4)));
        std::atomic<bool> abort{false};
        DistillCallbacks acb;
        acb.abort = &abort;
        RunOptions ao = fastOptions(2);
        ao.timeoutSeconds = 60;
        std::thread trigger([&] {
            for (int i = 0; i < 400 && hanging.requests().size() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
            abort = true;
        });
        const auto t0 = std::chrono::steady_clock::now();
        const DistillResult ar = runDistillation(project, tok_, "aborted", ao, acb);
        trigger.join();
        QVERIFY(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
        QCOMPARE(q(ar.stopReason), QString("aborted"));
        QCOMPARE(ar.counts.pending, int64_t(4));
        checkAccounted(ar.counts);
        hang = false;
        hanging.releaseHung();
        const DistillResult ar2 = runDistillation(project, tok_, "aborted", fastOptions(2), {});
        QCOMPARE(ar2.counts.accepted, int64_t(4));
    }

    void killedRunIsRecoveredAndOneRunnerAtATime() {
        FaultServer teacher;
        teacher.start();
        ProjectStore project = ProjectStore::open(newProject());
        const PreparedJob job = prepareJob(project, spec(teacher.url(), "killed", numbered("k", 5)));
        DistillStore store(project);
        // What a run killed with SIGKILL leaves: two prompts "sending", its pid as the runner.
        store.markSending(job.job.id, 1);
        store.markSending(job.job.id, 3);
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        std::string holder;
        QVERIFY(store.claimRunner(job.job.id, "2147483600@" + std::string(host), "", holder));
        const DistillResult r = runDistillation(project, tok_, "killed", fastOptions(2), {});
        QCOMPARE(r.interrupted, int64_t(2));
        QCOMPARE(r.counts.accepted, int64_t(5));
        QCOMPARE(store.item(job.job.id, 1)->attempts, 2);   // the lost request and its resend
        QCOMPARE(int(teacher.requests().size()), 5);

        // A live process holding the job refuses a second runner.
        const PreparedJob other = prepareJob(project, spec(teacher.url(), "held", numbered("o", 2)));
        QVERIFY(store.claimRunner(other.job.id, std::to_string(getppid()) + "@" + host, "", holder));
        const std::string err = swarm::test::errorOf([&] { runDistillation(project, tok_, "held", fastOptions(), {}); });
        QVERIFY2(err.find("is being run by process") != std::string::npos, err.c_str());
    }

    void jobDefinitionsAndResumeChecks() {
        FaultServer teacher;
        teacher.start();
        ProjectStore project = ProjectStore::open(newProject());
        JobSpec s = spec(teacher.url(), "defined", {"a", "b"});
        const PreparedJob first = prepareJob(project, s);
        QVERIFY(first.created);
        const PreparedJob again = prepareJob(project, s);
        QVERIFY(!again.created);
        QCOMPARE(again.job.id, first.job.id);
        JobSpec other = s;
        other.teacher.model = "another-model";
        std::string err = swarm::test::errorOf([&] { prepareJob(project, other); });
        QVERIFY2(err.find("teacher model 'another-model'") != std::string::npos, err.c_str());
        other = s;
        other.teacher.system = "be terse";
        QVERIFY(swarm::test::errorOf([&] { prepareJob(project, other); }).find("system message") != std::string::npos);
        other = s;
        other.prompts = dir_ + "/missing.jsonl";
        QVERIFY(swarm::test::errorOf([&] { prepareJob(project, other); }).find("no such file") != std::string::npos);
        other = s;
        other.name = "notemplate";
        {
            std::ofstream(dir_ + "/odd.jsonl") << R"({"text": "x"})" << "\n";
        }
        other.prompts = dir_ + "/odd.jsonl";
        QVERIFY(swarm::test::errorOf([&] { prepareJob(project, other); }).find("--template is needed") != std::string::npos);
        other.promptTemplate = "Summarise: {text}";
        const PreparedJob templated = prepareJob(project, other);
        QCOMPARE(q(DistillStore(project).item(templated.job.id, 0)->prompt), QString("Summarise: x"));
    }

    void teacherIsABaselineColumnOfTheComparison() {
        const std::string path = newProject();
        ProjectStore project = ProjectStore::open(path);
        samples::writeJsonl(dir_ + "/nl2sql.jsonl", samples::sqlSamples(24, 5));
        ImportOptions io;
        io.name = "sql";
        io.sourcePath = dir_ + "/nl2sql.jsonl";
        io.presetName = "sql";
        io.split.train = 0.5;
        io.split.validation = 0;
        io.split.test = 0.5;
        io.threads = 1;
        importDataset(project, tok_, io);
        // The teacher answers the reference SQL for half of the prompts and a wrong query else.
        std::map<std::string, std::string> reference;
        DatasetStore(project).forEachExample(DatasetStore(project).dataset("sql").id, std::nullopt, [&](const StoredExample& e) {
            reference[e.prompt] = e.response;
            return true;
        });
        std::set<std::string> right;
        int k = 0;
        for (const auto& [prompt, ref] : reference)
            if (k++ % 2 == 0) right.insert(prompt);
        FaultServer teacher;
        teacher.answer = [&](const std::string& p) {
            Answer a;
            a.content = right.count(p) ? "```sql\n" + reference.at(p) + "\n```" : "SELECT 42";
            return a;
        };
        teacher.start();
        JobSpec s;
        s.name = "sql-distilled";
        s.teacherUrl = teacher.url();
        s.teacher.model = "big-generalist";
        s.prompts = "dataset:sql";
        s.priceIn = 5;
        s.priceOut = 15;
        const PreparedJob job = prepareJob(project, s);
        QCOMPARE(int(job.job.validation.task), int(Task::Sql));   // from the dataset's preset
        const DistillResult r = runDistillation(project, tok_, "sql-distilled", fastOptions(2), {});
        QCOMPARE(r.counts.accepted, int64_t(24));
        const DatasetInfo d = DatasetStore(project).dataset("sql-distilled");
        const DatasetInfo src = DatasetStore(project).dataset("sql");
        QCOMPARE(q(d.preset), QString("sql"));
        QCOMPARE(d.nTest, src.nTest);   // each prompt keeps its split
        QCOMPARE(d.nTrain, src.nTrain);

        // A random specialist evaluated on the source's test split, the teacher as baseline.
        ModelConfig c = enginetest::smallConfig();
        c.block_size = 256;
        const std::string model = dir_ + "/specialist";
        enginetest::saveModel(model, c, enginetest::randomWeights(c, 3, 0.3), DType::F32);
        eval::EvalSettings es;
        es.maxNewTokens = 4;
        es.batchSize = 4;
        es.threads = 1;
        es.metrics = "exact,sql";
        const eval::EvalRunInfo run = eval::evaluate(project, model, "sql", es);
        QCOMPARE(q(run.status), QString("done"));
        eval::Comparison cmp = eval::compareRuns(project, {run.id}, 0, eval::CostSettings{65, 0.30});
        const size_t examples = cmp.examples.size();
        eval::addAnswerColumn(cmp, teacherColumn(project, "sql-distilled"), true);
        QCOMPARE(cmp.models.size(), size_t(2));
        QCOMPARE(cmp.baseline, size_t(1));
        const eval::ModelColumn& t = cmp.models[1];
        QCOMPARE(q(t.run.modelName), QString("teacher:big-generalist"));
        QCOMPARE(q(t.costBasis), QString("API price"));
        QCOMPARE(t.costPerMTokDecode, 15.0);
        QCOMPARE(t.run.done, int64_t(examples));
        // The teacher's execution accuracy is the share of test prompts it answered right.
        int expectRight = 0;
        for (const eval::ComparedExample& e : cmp.examples) {
            QVERIFY(e.present[1]);
            expectRight += right.count(e.prompt) ? 1 : 0;
            QCOMPARE(e.scores[1].at("sql_exec"), right.count(e.prompt) ? 1.0 : 0.0);
        }
        QCOMPARE(t.values.at("sql_exec"), double(expectRight) / double(examples));
        QCOMPARE(cmp.models[0].deltas.at("sql_exec"), cmp.models[0].values.at("sql_exec") - t.values.at("sql_exec"));
        const std::string md = eval::renderMarkdown(cmp);
        QVERIFY(md.find("teacher:big-generalist (baseline)") != std::string::npos);
        QVERIFY(md.find("API price") != std::string::npos);
        QVERIFY(md.find("x less than teacher:big-generalist") != std::string::npos);
        const json j = cmp.toJson();
        QCOMPARE(q(j["models"][1]["kind"].get<std::string>()), QString("teacher"));
        QVERIFY(eval::renderHtml(cmp).find("teacher:big-generalist") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestDistillRun)
#include "test_distill_run.moc"
