// The swarm (torch-free): definition parsing and its errors naming the field, constrained routing
// checked against an independent scoring of every label, confidences that sum to one, lazy
// specialist loading with least-recently-used unloading under a memory budget, and dispatch end to
// end (routed, forced, fallback, max_tokens cap, streaming).
#include "swarm_test_util.h"

#include "core/error.h"
#include "engine/engine.h"
#include "serve/swarm_eval.h"
#include "serve/swarm_store.h"

#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <cmath>
#include <map>
#include <thread>
#include <filesystem>
#include <fstream>

using namespace swarm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// The error message of fromJson(j), or "" when it parses.
std::string parseError(const json& j) {
    try {
        SwarmDefinition::fromJson(j, "/base", "swarm.json");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

json minimal() {
    return json{{"router", {{"model", "r"}}}, {"specialists", {{"a", {{"model", "a"}}}}}};
}

// log p(label tokens | prompt) computed from scratch: one fresh session per label, prompt + label
// prefilled with every position's logits kept.
double referenceScore(const engine::Model& m, const std::vector<int32_t>& prompt, const std::vector<int32_t>& label) {
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), label.begin(), label.end() - 1);
    engine::SessionOptions so;
    so.context = int(all.size() + 1);
    so.maxBatch = int(all.size());
    engine::Session s(m, so);
    s.prefill(all, true);
    const int V = s.vocabSize();
    const int limit = std::min(V, engine::kTokenizerVocab);
    double score = 0;
    for (size_t k = 0; k < label.size(); ++k) {
        const float* row = s.allLogits().data() + (prompt.size() - 1 + k) * size_t(V);
        double mx = -1e300, z = 0;
        for (int i = 0; i < limit; ++i) mx = std::max(mx, double(row[i]));
        for (int i = 0; i < limit; ++i) z += std::exp(double(row[i]) - mx);
        score += double(row[label[k]]) - mx - std::log(z);
    }
    return score;
}

} // namespace

class TestSwarm : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        swarmtest::writeSwarm(dir_);
        registerSwarmSchema();
    }

    void savedInTheProject() {
        const SwarmDefinition d = SwarmDefinition::load(dir_ + "/swarm.json");
        {
            ProjectStore p = ProjectStore::create(dir_ + "/project.swarm");
            QCOMPARE(p.schemaVersion("swarm"), 1);
            QVERIFY(listSwarms(p).empty());
            saveSwarm(p, d);
            SwarmDefinition other = d;
            other.name = "another";
            other.specialists.pop_back();
            saveSwarm(p, other);
            other.memoryBudgetBytes = uint64_t(5) << 20;
            saveSwarm(p, other);   // replaces
        }
        ProjectStore p = ProjectStore::open(dir_ + "/project.swarm");
        QCOMPARE(listSwarms(p), (std::vector<std::string>{"another", "test-swarm"}));
        const SwarmDefinition back = loadSwarm(p, "test-swarm");
        QCOMPARE(back.toJson().dump(), d.toJson().dump());
        QCOMPARE(loadSwarm(p, "another").memoryBudgetBytes, uint64_t(5) << 20);
        QCOMPARE(loadSwarm(p, "another").specialists.size(), size_t(2));
        try {
            loadSwarm(p, "nope");
            QFAIL("expected an error");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("no swarm 'nope' (saved: another, test-swarm)") != std::string::npos, e.what());
        }
        QVERIFY(deleteSwarm(p, "another"));
        QVERIFY(!deleteSwarm(p, "another"));
        QCOMPARE(listSwarms(p), std::vector<std::string>{"test-swarm"});
        Swarm fromProject(loadSwarm(p, "test-swarm"));   // absolute paths: loads from anywhere
        QCOMPARE(fromProject.route("hello").label, Swarm(d).route("hello").label);
    }

    void parsesDefinition() {
        const SwarmDefinition d = SwarmDefinition::load(dir_ + "/swarm.json");
        QCOMPARE(d.name, std::string("test-swarm"));
        QCOMPARE(d.router.model, (fs::path(dir_) / "router").lexically_normal().string());
        QCOMPARE(d.router.prompt, std::string("Route: {input}\nLabel:"));
        QCOMPARE(d.specialists.size(), size_t(3));
        QVERIFY(d.fallback.has_value());
        QCOMPARE(d.fallback->label, std::string("fallback"));
        QCOMPARE(d.specialist("pii")->model, (fs::path(dir_) / "pii").lexically_normal().string());
        QCOMPARE(d.specialist("sql")->sampling.maxTokens, 8);
        QVERIFY(d.specialist("nope") == nullptr);
        QCOMPARE(d.routeLabels().size(), size_t(3));
        QCOMPARE(d.threads, 1);

        // Defaults, and a round trip through toJson.
        const SwarmDefinition m = SwarmDefinition::fromJson(minimal(), "/base");
        QCOMPARE(m.router.model, std::string("/base/r"));
        QCOMPARE(m.specialists[0].sampling.maxTokens, 128);
        QCOMPARE(m.specialists[0].prompt, std::string("User: {input}\nAssistant:"));
        QVERIFY(m.router.scoreEos);
        QCOMPARE(m.memoryBudgetBytes, uint64_t(0));
        const SwarmDefinition again = SwarmDefinition::fromJson(d.toJson());
        QCOMPARE(again.toJson().dump(), d.toJson().dump());

        json withExtra = minimal();
        withExtra["router"]["labels"] = {"other"};
        withExtra["fallback"] = {{"model", "f"}};
        withExtra["memory_budget_mb"] = 3;
        const SwarmDefinition e = SwarmDefinition::fromJson(withExtra);
        QCOMPARE(e.routeLabels(), (std::vector<std::string>{"a", "other"}));
        QCOMPARE(e.memoryBudgetBytes, uint64_t(3) << 20);
    }

    void definitionErrorsNameTheField() {
        struct Case {
            json j;
            std::string expect;
        };
        std::vector<Case> cases;
        auto with = [](const std::function<void(json&)>& f) {
            json j = minimal();
            f(j);
            return j;
        };
        cases.push_back({json::array(), "must be a JSON object"});
        cases.push_back({with([](json& j) { j.erase("router"); }), "field 'router': missing"});
        cases.push_back({with([](json& j) { j["router"] = "x"; }), "field 'router': must be an object"});
        cases.push_back({with([](json& j) { j["router"].erase("model"); }), "field 'router.model': missing"});
        cases.push_back({with([](json& j) { j["router"]["model"] = 3; }), "field 'router.model': must be a string"});
        cases.push_back({with([](json& j) { j["router"]["prompt"] = "{question}"; }), "field 'router.prompt': unknown placeholder {question}"});
        cases.push_back({with([](json& j) { j["router"]["prompt"] = "{input"; }), "field 'router.prompt'"});
        cases.push_back({with([](json& j) { j.erase("specialists"); }), "field 'specialists': missing"});
        cases.push_back({with([](json& j) { j["specialists"] = json::object(); }), "field 'specialists': is empty"});
        cases.push_back({with([](json& j) { j["specialists"]["a"]["max_tokens"] = "8"; }), "field 'specialists.a.max_tokens': must be an integer"});
        cases.push_back({with([](json& j) { j["specialists"]["a"]["max_tokens"] = 0; }), "field 'specialists.a.max_tokens': must be between 1"});
        cases.push_back({with([](json& j) { j["specialists"]["a"]["top_p"] = 1.5; }), "field 'specialists.a.top_p': must be in (0, 1]"});
        cases.push_back({with([](json& j) { j["specialists"]["a"]["temperature"] = -1; }), "field 'specialists.a.temperature': must be >= 0"});
        cases.push_back({with([](json& j) { j["specialists"]["a"]["stop"] = {1}; }), "field 'specialists.a.stop[0]': must be a string"});
        cases.push_back({with([](json& j) { j["specialists"]["a"]["dtype"] = "q2"; }), "field 'specialists.a.dtype': 'q2' is not"});
        cases.push_back({with([](json& j) { j["specialists"]["a"]["tempreature"] = 1; }), "field 'specialists.a.tempreature': unknown field"});
        cases.push_back({with([](json& j) { j["specialists"]["a"].erase("model"); }), "field 'specialists.a.model': missing"});
        cases.push_back({with([](json& j) { j["specialists"]["swarm"] = {{"model", "s"}}; }), "field 'specialists.swarm': 'swarm' is reserved"});
        cases.push_back({with([](json& j) { j["router"]["labels"] = {"other"}; }), "field 'fallback': missing"});
        cases.push_back({with([](json& j) { j["router"]["labels"] = {"a"}; j["fallback"] = {{"model", "f"}}; }), "field 'router.labels[0]': 'a' is listed twice"});
        cases.push_back({with([](json& j) { j["router"]["min_confidence"] = 2; }), "field 'router.min_confidence': must be in [0, 1]"});
        cases.push_back({with([](json& j) { j["memory_budget_mb"] = -1; }), "field 'memory_budget_mb': must be between 0"});
        cases.push_back({with([](json& j) { j["fallback"] = {{"prompt", "x"}}; }), "field 'fallback.model': missing"});
        cases.push_back({with([](json& j) { j["colour"] = "blue"; }), "field 'colour': unknown field"});
        for (const Case& c : cases) {
            const std::string msg = parseError(c.j);
            if (msg.find(c.expect) == std::string::npos || msg.rfind("swarm.json: ", 0) != 0)
                QFAIL(qPrintable(QString::fromStdString("for " + c.j.dump() + ": got '" + msg + "', expected '" + c.expect + "'")));
        }

        std::ofstream(dir_ + "/bad.json") << "{\"router\": ";
        QVERIFY_THROWS_EXCEPTION(Error, SwarmDefinition::load(dir_ + "/bad.json"));
        QVERIFY_THROWS_EXCEPTION(Error, SwarmDefinition::load(dir_ + "/missing.json"));
        // A model path that is not a model fails when the swarm is built, naming the path.
        json j = minimal();
        try {
            Swarm s(SwarmDefinition::fromJson(j, dir_));
            QFAIL("expected an error");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("/r") != std::string::npos, e.what());
        }
    }

    void routingIsConstrainedAndMatchesReference() {
        Swarm s(SwarmDefinition::load(dir_ + "/swarm.json"));
        const engine::Model router = engine::Model::load(dir_ + "/router");
        const std::vector<std::string> labels = s.definition().routeLabels();
        for (const std::string input : {"How many orders shipped last week?", "mask John Smith's phone 555-1234",
                                        "I want a refund", "", "x"}) {
            const RouteResult r = s.route(input);
            QVERIFY(std::find(labels.begin(), labels.end(), r.label) != labels.end());
            QCOMPARE(r.probabilities.size(), labels.size());
            double sum = 0, maxP = 0;
            for (const auto& [l, p] : r.probabilities) {
                QVERIFY(p >= 0 && p <= 1);
                sum += p;
                maxP = std::max(maxP, p);
            }
            QVERIFY(std::abs(sum - 1.0) < 1e-9);
            QCOMPARE(r.confidence, maxP);
            QVERIFY(r.confidence >= 1.0 / double(labels.size()) - 1e-12);
            QVERIFY(r.ms >= 0);

            // Each label's score equals an independent from-scratch computation.
            std::vector<int32_t> prompt = router.tokenizer().encode("Route: " + std::string(input) + "\nLabel:", false);
            size_t best = 0;
            for (size_t i = 0; i < labels.size(); ++i) {
                std::vector<int32_t> lt = router.tokenizer().encode(" " + labels[i], false);
                lt.push_back(engine::kEndOfText);
                const double ref = referenceScore(router, prompt, lt);
                QVERIFY2(std::abs(ref - r.scores[i]) < 1e-3 * std::max(1.0, std::abs(ref)),
                         qPrintable(QString("label %1: %2 vs %3").arg(labels[i].c_str()).arg(r.scores[i]).arg(ref)));
                if (r.scores[i] > r.scores[best]) best = i;
            }
            QCOMPARE(r.label, labels[best]);
        }

        // One label: always it, with confidence 1.
        json one = json::parse(std::ifstream(dir_ + "/swarm.json"));
        one["specialists"].erase("intent");
        one["specialists"].erase("pii");
        Swarm single(SwarmDefinition::fromJson(one, dir_));
        const RouteResult r = single.route("anything");
        QCOMPARE(r.label, std::string("sql"));
        QCOMPARE(r.confidence, 1.0);
    }

    void lruUnloadsUnderBudget() {
        SwarmDefinition d = SwarmDefinition::load(dir_ + "/swarm.json");
        d.memoryBudgetBytes = 1;   // smaller than any model: only the one in use stays
        Swarm s(d);
        QVERIFY(s.loadedSpecialists().empty());   // lazy
        QCOMPARE(s.loads(), 0);
        auto sql = s.specialistModel("sql");
        QCOMPARE(s.loadedSpecialists(), std::vector<std::string>{"sql"});
        const uint64_t bytes = Swarm::modelBytes(*sql);
        QVERIFY(bytes > 0);
        QCOMPARE(s.loadedBytes(), bytes);
        s.specialistModel("intent");
        QCOMPARE(s.loadedSpecialists(), std::vector<std::string>{"intent"});
        QVERIFY(sql->loaded());   // a holder keeps its model alive after unloading
        s.specialistModel("sql");
        QCOMPARE(s.loads(), 3);

        // Room for two: the least recently used goes.
        d.memoryBudgetBytes = 2 * bytes + bytes / 2;
        Swarm two(d);
        two.specialistModel("sql");
        two.specialistModel("intent");
        QCOMPARE(two.loadedSpecialists(), (std::vector<std::string>{"intent", "sql"}));
        two.specialistModel("sql");        // used again: no load, now most recent
        QCOMPARE(two.loads(), 2);
        QCOMPARE(two.loadedSpecialists(), (std::vector<std::string>{"sql", "intent"}));
        two.specialistModel("pii");        // evicts intent
        QCOMPARE(two.loadedSpecialists(), (std::vector<std::string>{"pii", "sql"}));
        QVERIFY(two.loadedBytes() <= d.memoryBudgetBytes);
        two.specialistModel("fallback");
        QCOMPARE(two.loadedSpecialists(), (std::vector<std::string>{"fallback", "pii"}));
        QCOMPARE(two.loads(), 4);
        QVERIFY_THROWS_EXCEPTION(Error, two.specialistModel("nope"));

        // Unlimited: everything stays.
        d.memoryBudgetBytes = 0;
        Swarm all(d);
        for (const char* l : {"sql", "intent", "pii", "fallback"}) all.specialistModel(l);
        QCOMPARE(all.loadedSpecialists().size(), size_t(4));
    }

    void dispatchEndToEnd() {
        Swarm s(SwarmDefinition::load(dir_ + "/swarm.json"));
        const std::string input = "List the customers in Paris";
        DispatchRequest req;
        req.input = input;
        std::string streamed;
        int events = 0, routedCalls = 0, eventsBeforeRoute = -1;
        RouteResult announced;
        req.onRouted = [&](const RouteResult& route) {
            ++routedCalls;
            announced = route;
            eventsBeforeRoute = events;
        };
        req.onToken = [&](const engine::TokenEvent& e) {
            streamed += e.text;
            ++events;
            return true;
        };
        const DispatchResult r = s.dispatch(req);
        QVERIFY(r.routed);
        // The route is announced once, before the first token, and is the one the answer reports.
        QCOMPARE(routedCalls, 1);
        QCOMPARE(eventsBeforeRoute, 0);
        QCOMPARE(announced.label, r.route.label);
        QCOMPARE(announced.confidence, r.route.confidence);
        QCOMPARE(r.route.label, s.route(input).label);
        QCOMPARE(r.specialist, r.route.label);
        QVERIFY(r.routerMs > 0 && r.specialistMs > 0);
        QCOMPARE(streamed, r.answer);
        QCOMPARE(events, r.completionTokens);
        QVERIFY(r.completionTokens >= 1 && r.completionTokens <= 8);

        // The answer is exactly what the chosen specialist generates on its own (greedy).
        const engine::Model direct = engine::Model::load(dir_ + "/" + r.specialist);
        engine::Session session(direct);
        engine::SamplingOptions so;
        so.maxTokens = 8;
        so.truncatePrompt = true;
        const engine::GenerateResult g =
            engine::generate(session, direct.tokenizer().encode("User: " + input + "\nAssistant:", false), so);
        QCOMPARE(r.answer, g.text);
        QCOMPARE(r.promptTokens, g.promptTokens);

        // Forced label, max_tokens capped by the specialist's.
        DispatchRequest forced;
        forced.input = input;
        forced.label = "pii";
        forced.maxTokens = 1000;
        forced.onRouted = [&](const RouteResult&) { ++routedCalls; };
        const DispatchResult f = s.dispatch(forced);
        QVERIFY(!f.routed);
        QCOMPARE(routedCalls, 1);   // not routed: not announced
        QCOMPARE(f.specialist, std::string("pii"));
        QCOMPARE(f.routerMs, 0.0);
        QVERIFY(f.completionTokens <= 8);
        forced.maxTokens = 2;
        QVERIFY(s.dispatch(forced).completionTokens <= 2);
        forced.label = "nope";
        QVERIFY_THROWS_EXCEPTION(Error, s.dispatch(forced));

        // Below min_confidence the fallback answers (three labels: confidence is below 1).
        SwarmDefinition d = SwarmDefinition::load(dir_ + "/swarm.json");
        d.router.minConfidence = 1.0;
        Swarm unsure(d);
        const DispatchResult u = unsure.dispatch(req);
        QVERIFY(u.routed);
        QVERIFY(u.route.confidence < 1.0);
        QCOMPARE(u.specialist, std::string("fallback"));
    }

    void extraLabelsGoToFallback() {
        json j = json::parse(std::ifstream(dir_ + "/swarm.json"));
        j["specialists"].erase("intent");
        j["specialists"].erase("pii");
        j["router"]["labels"] = {"other", "chitchat"};
        Swarm s(SwarmDefinition::fromJson(j, dir_));
        QCOMPARE(s.definition().routeLabels(), (std::vector<std::string>{"sql", "other", "chitchat"}));
        for (const char* input : {"select all rows", "hi there", "what is the weather", "count users"}) {
            DispatchRequest req;
            req.input = input;
            const DispatchResult r = s.dispatch(req);
            QCOMPARE(r.route.label, s.route(input).label);
            QCOMPARE(r.specialist, r.route.label == "sql" ? std::string("sql") : std::string("fallback"));
        }
    }

    // Many threads dispatching at once, with a budget so small that specialists are unloaded while
    // others still use them (run under ASan/UBSan in the sanitize build).
    void concurrentDispatch() {
        SwarmDefinition d = SwarmDefinition::load(dir_ + "/swarm.json");
        d.memoryBudgetBytes = 1;
        Swarm s(d);
        const std::vector<std::string> labels{"sql", "intent", "pii", "fallback", ""};
        std::map<std::string, std::string> expected;
        for (const std::string& l : labels) {
            DispatchRequest req;
            req.input = "same input";
            req.label = l;
            req.maxTokens = 4;
            expected[l] = s.dispatch(req).answer;
        }
        std::vector<std::thread> threads;
        std::atomic<int> mismatches{0};
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < 10; ++i) {
                    DispatchRequest req;
                    req.input = "same input";
                    req.label = labels[size_t(t + i) % labels.size()];
                    req.maxTokens = 4;
                    if (s.dispatch(req).answer != expected.at(req.label)) ++mismatches;
                }
            });
        for (std::thread& th : threads) th.join();
        QCOMPARE(mismatches.load(), 0);
        QVERIFY(s.loadedSpecialists().size() == 1);
    }

    void evaluatesEndToEnd() {
        Swarm s(SwarmDefinition::load(dir_ + "/swarm.json"));
        const std::string path = dir_ + "/mixed.jsonl";
        {
            std::ofstream out(path);
            const char* inputs[] = {"CREATE TABLE users (id INTEGER, name TEXT);\nHow many users are there?",
                                    "Call Ann at 555-0101", "cancel my order",
                                    "CREATE TABLE users (id INTEGER, name TEXT);\nList the names",
                                    "Email bob@example.com now", "where is my parcel"};
            const char* references[] = {"SELECT COUNT(*) FROM users", "Call [NAME] at [PHONE]", "cancel_order",
                                        "SELECT name FROM users", "Email [EMAIL] now", "track_order"};
            const char* tasks[] = {"sql", "pii", "intent"};
            for (int i = 0; i < 6; ++i)
                out << json{{"task", tasks[i % 3]}, {"input", inputs[i]}, {"reference", references[i]}}.dump() << "\n";
        }
        const std::vector<SwarmEvalExample> examples = loadMixedDataset(path);
        QCOMPARE(examples.size(), size_t(6));
        QCOMPARE(examples[1].task, std::string("pii"));

        SwarmEvalOptions o;
        o.presets["intent"] = "router";
        const SwarmEvalReport r = evaluateSwarm(s, examples, o);
        QCOMPARE(r.n, int64_t(6));
        QCOMPARE(r.labels, (std::vector<std::string>{"intent", "pii", "sql", "fallback"}));
        int64_t diagonal = 0, total = 0;
        for (size_t i = 0; i < r.labels.size(); ++i)
            for (size_t j = 0; j < r.labels.size(); ++j) {
                total += r.confusion[i][j];
                if (i == j) diagonal += r.confusion[i][j];
            }
        QCOMPARE(total, int64_t(6));
        QCOMPARE(r.routingAccuracy, double(diagonal) / 6.0);
        // The confusion matrix is the router's choices.
        for (const SwarmEvalExample& e : examples) {
            const std::string routed = s.route(e.input).label;
            const size_t row = size_t(std::find(r.labels.begin(), r.labels.end(), e.task) - r.labels.begin());
            const size_t col = size_t(std::find(r.labels.begin(), r.labels.end(), routed) - r.labels.begin());
            QVERIFY(r.confusion[row][col] >= 1);
        }
        QCOMPARE(r.tasks.size(), size_t(3));
        int64_t correct = 0;
        for (const SwarmTaskReport& t : r.tasks) {
            QCOMPARE(t.n, int64_t(2));
            correct += t.routedCorrectly;
            QVERIFY(!t.primary.empty());
            QVERIFY2(t.routed.values.count(t.primary), qPrintable(QString::fromStdString(t.task + " " + t.primary + " " + t.routed.toJson().dump())));
            QVERIFY(t.direct.values.count(t.primary));
            if (t.routedCorrectly == t.n) QCOMPARE(t.routed.values, t.direct.values);
        }
        QCOMPARE(correct, diagonal);
        QCOMPARE(r.tasks[0].families, (std::vector<std::string>{"exact", "classification"}));
        QCOMPARE(r.tasks[2].primary, std::string("sql_exec"));
        QVERIFY(r.completionTokens > 0 && r.promptTokens > 0);
        QVERIFY(r.latencyP50Ms > 0 && r.latencyP99Ms >= r.latencyP50Ms);
        QVERIFY(r.costPerMillionTokens > 0);
        QVERIFY(r.toMarkdown().find("| sql | 2 |") != std::string::npos);
        QCOMPARE(r.toJson()["n"].get<int64_t>(), int64_t(6));

        // Progress can stop early.
        SwarmEvalOptions stopEarly;
        stopEarly.progress = [](size_t done, size_t) { return done < 2; };
        QCOMPARE(evaluateSwarm(s, examples, stopEarly).n, int64_t(2));

        // Examples in flight together: the same routes, answers and metrics (greedy answers do not
        // depend on the batch they decode in), and their decoding shared passes.
        SwarmEvalOptions together = o;
        together.concurrency = 3;
        const SwarmEvalReport c = evaluateSwarm(s, examples, together);
        QCOMPARE(c.n, r.n);
        QCOMPARE(c.confusion, r.confusion);
        QCOMPARE(c.completionTokens, r.completionTokens);
        QCOMPARE(c.tasks.size(), r.tasks.size());
        for (size_t i = 0; i < r.tasks.size(); ++i) {
            QCOMPARE(c.tasks[i].routed.values, r.tasks[i].routed.values);
            QCOMPARE(c.tasks[i].direct.values, r.tasks[i].direct.values);
        }
        QVERIFY(c.seconds > 0 && c.costPerMillionTokens > 0);
        stopEarly.concurrency = 3;
        const int64_t stoppedTogether = evaluateSwarm(s, examples, stopEarly).n;
        QVERIFY(stoppedTogether >= 2 && stoppedTogether <= 4);   // the two in flight beside the second finish

        // Errors name the line, the field, the task.
        std::ofstream(dir_ + "/bad1.jsonl") << "{\"task\": \"sql\", \"input\": \"x\", \"reference\": \"y\"}\n{\"task\": \"sql\"}\n";
        try {
            loadMixedDataset(dir_ + "/bad1.jsonl");
            QFAIL("expected an error");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("bad1.jsonl:2: field 'input'") != std::string::npos, e.what());
        }
        QVERIFY_THROWS_EXCEPTION(Error, evaluateSwarm(s, {{"chess", "x", "y"}}));
    }
};

QTEST_GUILESS_MAIN(TestSwarm)
#include "test_swarm.moc"
