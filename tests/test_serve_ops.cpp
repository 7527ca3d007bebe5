// The server's operations, in-process on a loopback port: Prometheus /metrics after real requests
// (counters by model, route, status and key; histograms; gauges), one JSON log line per request
// (the key's name, never the key), X-Request-Id (the client's own or a new one), the limit per
// key (429), the deadline (503 while queued, 504 while generating, an error event in a stream),
// readiness and liveness, and the swarm replaced while a request is in flight (it finishes on the
// old swarm, new requests go to the new one, the old one is released after its last request).
#include "serve_test_util.h"
#include "swarm_test_util.h"

#include "serve/server.h"

#include <httplib.h>

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <future>
#include <map>

using namespace swarm;
using namespace servetest;
using nlohmann::json;

namespace {

const httplib::Headers kAlice = {{"Authorization", std::string("Bearer ") + kAliceKey}};
const httplib::Headers kBob = {{"Authorization", std::string("Bearer ") + kBobKey}};

httplib::Result post(int port, const json& body, const httplib::Headers& headers = kAlice,
                     const std::string& path = "/v1/completions") {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c.Post(path.c_str(), headers, body.dump(), "application/json");
}

// The value of one sample line "name{labels} value" in a metrics text (-1 when absent).
double sample(const std::string& metrics, const std::string& series) {
    const size_t at = metrics.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(metrics.substr(at + series.size() + 2));
}

class LogLines {
public:
    std::function<void(const std::string&)> sink() {
        return [this](const std::string& line) {
            std::lock_guard<std::mutex> l(m_);
            lines_.push_back(line);
        };
    }
    std::vector<std::string> lines() {
        std::lock_guard<std::mutex> l(m_);
        return lines_;
    }

private:
    std::mutex m_;
    std::vector<std::string> lines_;
};

} // namespace

class TestServeOps : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir_;
    std::shared_ptr<const ApiKeys> keys_;

    ServerOptions withKeys() const {
        ServerOptions o;
        o.apiKeys = keys_;
        return o;
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        swarmtest::writeSwarm(dir_);
        keys_ = std::make_shared<const ApiKeys>(ApiKeys::load(writeKeyFile(dir_)));
    }

    void metricsAndLogs() {
        Swarm swarm(SwarmDefinition::load(dir_ + "/swarm.json"));
        LogLines log;
        ServerOptions o = withKeys();
        o.requestLog = log.sink();
        SwarmServer server(swarm, o);
        server.start();
        const int port = server.port();
        for (int i = 0; i < 2; ++i) QCOMPARE(post(port, json{{"model", "sql"}, {"prompt", "hi"}, {"max_tokens", 3}})->status, 200);
        auto routed = post(port, json{{"model", "swarm"}, {"prompt", "count the orders"}, {"max_tokens", 2}}, kBob);
        QCOMPARE(routed->status, 200);
        const std::string label = json::parse(routed->body)["swarm"]["label"].get<std::string>();
        QCOMPARE(post(port, json{{"model", "nope"}, {"prompt", "x"}})->status, 404);
        QCOMPARE(post(port, json{{"model", "sql"}, {"prompt", "x"}}, {})->status, 401);
        QVERIFY(waitFor([&] { return log.lines().size() == 5; }));   // each written after its answer
        httplib::Client c("127.0.0.1", port);
        QCOMPARE(c.Get("/health")->status, 200);

        const std::string m = c.Get("/metrics", kAlice)->body;
        auto has = [&](const std::string& series, double value) {
            const double got = sample(m, series);
            QVERIFY2(got == value, qPrintable(QString::fromStdString(series + " = " + std::to_string(got) + "\n" + m)));
        };
        has(R"(swarm_http_requests_total{endpoint="/v1/completions",model="sql",route="sql",status="200",key="alice"})", 2);
        has(R"(swarm_http_requests_total{endpoint="/v1/completions",model="swarm",route=")" + label +
                R"(",status="200",key="bob"})", 1);
        has(R"(swarm_http_requests_total{endpoint="/v1/completions",model="-",route="-",status="404",key="alice"})", 1);
        has(R"(swarm_http_requests_total{endpoint="/v1/completions",model="-",route="-",status="401",key="unauthenticated"})", 1);
        has(R"(swarm_completion_tokens_total{model="sql",route="sql",key="alice"})", 6);
        has(R"(swarm_http_request_duration_seconds_count{endpoint="/v1/completions",model="sql"})", 2);
        has(R"(swarm_http_request_duration_seconds_bucket{endpoint="/v1/completions",model="sql",le="+Inf"})", 2);
        has(R"(swarm_router_confidence_count{label=")" + label + R"("})", 1);
        has(R"(swarm_specialist_loaded{specialist="sql"})", 1);
        has(R"(swarm_specialist_loaded{specialist="fallback"})", 0);
        has("swarm_queue_depth", 0);
        has("swarm_workers", 8);
        QVERIFY(sample(m, "swarm_decode_tokens_total") > 0);
        QVERIFY(sample(m, "swarm_specialists_loaded_bytes") > 0);
        QVERIFY(sample(m, "process_resident_memory_bytes") > 1e6);
        QVERIFY(m.find("# TYPE swarm_http_request_duration_seconds histogram") != std::string::npos);

        // One line per request, probes (/health, /metrics) aside; names of keys, never keys.
        QVERIFY(waitFor([&] { return log.lines().size() >= 5; }));
        const std::vector<std::string> lines = log.lines();
        QCOMPARE(lines.size(), size_t(5));
        for (const std::string& line : lines) {
            QVERIFY(line.find(kAliceKey) == std::string::npos && line.find(kBobKey) == std::string::npos);
            QVERIFY(line.find('\n') == std::string::npos);
        }
        // Each line is written once its answer is: in the order the requests finished.
        auto lineWith = [&](const std::string& field, const std::string& value) {
            for (const std::string& line : lines)
                if (json::parse(line)[field] == value) return json::parse(line);
            return json();
        };
        const json first = lineWith("model", "sql");
        QCOMPARE(first["event"].get<std::string>(), std::string("request"));
        QCOMPARE(first["key"].get<std::string>(), std::string("alice"));
        QCOMPARE(first["model"].get<std::string>(), std::string("sql"));
        QCOMPARE(first["route"].get<std::string>(), std::string("sql"));
        QCOMPARE(first["status"].get<int>(), 200);
        QCOMPARE(first["completion_tokens"].get<int>(), 3);
        QVERIFY(first["prompt_tokens"].get<int>() > 0);
        QVERIFY(first["latency_ms"].get<double>() > 0);
        QVERIFY(first["id"].get<std::string>().size() > 8);
        const json routedLine = lineWith("key", "bob");
        QCOMPARE(routedLine["route"].get<std::string>(), label);
        QCOMPARE(routedLine["model"].get<std::string>(), std::string("swarm"));
        QVERIFY(routedLine["router_confidence"].get<double>() > 0);
        bool found404 = false;
        for (const std::string& line : lines) {
            const json j = json::parse(line);
            if (j["status"] == 404) {
                found404 = true;
                QVERIFY(j["error"].get<std::string>().find("unknown model 'nope'") == 0);
            }
        }
        QVERIFY(found404);
        QCOMPARE(lineWith("key", "unauthenticated")["status"].get<int>(), 401);
    }

    void requestIds() {
        Swarm swarm(SwarmDefinition::load(dir_ + "/swarm.json"));
        LogLines log;
        ServerOptions o;
        o.requestLog = log.sink();
        SwarmServer server(swarm, o);
        server.start();
        httplib::Client c("127.0.0.1", server.port());
        auto own = c.Post("/v1/completions", {{"X-Request-Id", "trace-42.a:b"}},
                          json{{"model", "sql"}, {"prompt", "x"}, {"max_tokens", 1}}.dump(), "application/json");
        QCOMPARE(own->get_header_value("X-Request-Id"), std::string("trace-42.a:b"));
        QCOMPARE(json::parse(own->body)["id"].get<std::string>(), std::string("cmpl-trace-42.a:b"));
        auto odd = c.Post("/v1/completions", {{"X-Request-Id", "has spaces"}}, json{{"model", "sql"}, {"prompt", "x"}}.dump(),
                          "application/json");
        const std::string made = odd->get_header_value("X-Request-Id");
        QVERIFY(!made.empty() && made != "has spaces");
        auto a = c.Get("/v1/models"), b = c.Get("/v1/models");
        QVERIFY(a->get_header_value("X-Request-Id") != b->get_header_value("X-Request-Id"));
        QCOMPARE(c.Get("/nothing")->status, 404);
        QVERIFY(waitFor([&] { return log.lines().size() == 5; }));
        const std::vector<std::string> lines = log.lines();
        QCOMPARE(lines.size(), size_t(5));
        std::map<std::string, json> byId;   // lines come in the order requests finished
        for (const std::string& line : lines) byId[json::parse(line)["id"].get<std::string>()] = json::parse(line);
        QCOMPARE(byId.size(), size_t(5));
        QCOMPARE(byId["trace-42.a:b"]["path"].get<std::string>(), std::string("/v1/completions"));
        QCOMPARE(byId[made]["key"].get<std::string>(), std::string("-"));
        QCOMPARE(byId[a->get_header_value("X-Request-Id")]["path"].get<std::string>(), std::string("/v1/models"));
        int notFound = 0;
        for (const auto& [id, j] : byId) notFound += j["status"] == 404;
        QCOMPARE(notFound, 1);
    }

    void limitPerKey() {
        Swarm swarm(SwarmDefinition::load(dir_ + "/swarm.json"));
        Gate gate;
        ServerOptions o = withKeys();
        o.maxConcurrentPerKey = 1;
        o.beforeInference = [&] { gate.pass(); };
        SwarmServer server(swarm, o);
        server.start();
        const int port = server.port();
        const json req{{"model", "sql"}, {"prompt", "x"}, {"max_tokens", 1}};
        gate.close();
        auto first = std::async(std::launch::async, [&] { return post(port, req); });
        QVERIFY(waitFor([&] { return server.active() == 1; }));
        auto second = post(port, req);
        QCOMPARE(second->status, 429);
        QCOMPARE(second->get_header_value("Retry-After"), std::string("1"));
        QVERIFY(json::parse(second->body)["error"]["message"].get<std::string>().find("API key 'alice'") != std::string::npos);
        auto other = std::async(std::launch::async, [&] { return post(port, req, kBob); });   // another key is not limited
        QVERIFY(waitFor([&] { return server.active() == 2; }));
        gate.open();
        QCOMPARE(first.get()->status, 200);
        QCOMPARE(other.get()->status, 200);
        QCOMPARE(post(port, req)->status, 200);   // alice's slot is free again
    }

    void deadlines() {
        const std::string dir = dir_ + "/long";
        QVERIFY(QDir().mkpath(QString::fromStdString(dir)));
        swarmtest::writeSwarm(dir, 64);
        Swarm swarm(SwarmDefinition::load(dir + "/swarm.json"));
        Gate gate;
        std::atomic<int> delayMs{0};
        ServerOptions o;
        o.workers = 1;
        o.deadlineSeconds = 0.5;
        o.beforeInference = [&] {
            gate.pass();
            std::this_thread::sleep_for(std::chrono::milliseconds(delayMs.load()));
        };
        SwarmServer server(swarm, o);
        server.start();
        const int port = server.port();
        const json req{{"model", "sql"}, {"prompt", "x"}, {"max_tokens", 64}};
        // Waiting for a worker past the deadline: 503.
        gate.close();
        auto holder = std::async(std::launch::async, [&] { return post(port, req, {}); });
        QVERIFY(waitFor([&] { return server.active() == 1; }));
        auto waited = post(port, req, {});
        QCOMPARE(waited->status, 503);
        QVERIFY2(json::parse(waited->body)["error"]["message"].get<std::string>().find("deadline of 0.5 s passed while waiting") !=
                     std::string::npos, waited->body.c_str());
        gate.open();
        QCOMPARE(holder.get()->status, 504);   // it was held past its deadline too, then cut at its first token
        // Generating past the deadline: 504, or an error event in a stream.
        delayMs = 600;
        auto late = post(port, req, {});
        QCOMPARE(late->status, 504);
        const json e = json::parse(late->body)["error"];
        QVERIFY2(e["message"].get<std::string>().find("passed while generating (after 1 tokens)") != std::string::npos, late->body.c_str());
        QCOMPARE(e["type"].get<std::string>(), std::string("timeout"));
        json sreq = req;
        sreq["stream"] = true;
        auto stream = post(port, sreq, {});
        QCOMPARE(stream->status, 200);
        const std::vector<std::string> ev = events(stream->body);
        QVERIFY(!ev.empty());
        QCOMPARE(json::parse(ev.back())["error"]["code"].get<int>(), 504);
        QVERIFY(stream->body.find("[DONE]") == std::string::npos);
        delayMs = 0;
        QCOMPARE(post(port, req, {})->status, 200);
    }

    void readinessAndLiveness() {
        Swarm swarm(SwarmDefinition::load(dir_ + "/swarm.json"));
        Gate gate;
        ServerOptions o;
        o.workers = 1;
        o.maxQueue = 0;
        o.beforeInference = [&] { gate.pass(); };
        SwarmServer server(swarm, o);
        server.start();
        httplib::Client c("127.0.0.1", server.port());
        QCOMPARE(c.Get("/health/ready")->status, 200);
        gate.close();
        auto held = std::async(std::launch::async, [&] { return post(server.port(), json{{"model", "sql"}, {"prompt", "x"}}, {}); });
        QVERIFY(waitFor([&] { return server.active() == 1; }));
        auto busy = c.Get("/health");
        QCOMPARE(busy->status, 503);
        QCOMPARE(json::parse(busy->body)["status"].get<std::string>(), std::string("busy"));
        QCOMPARE(c.Get("/health/live")->status, 200);
        gate.open();
        QCOMPARE(held.get()->status, 200);
        QCOMPARE(c.Get("/health")->status, 200);
    }

    void swarmReplacedWhileServing() {
        const std::string second = dir_ + "/second";
        QVERIFY(QDir().mkpath(QString::fromStdString(second)));
        json def = swarmtest::writeSwarm(second, 3);   // answers of at most 3 tokens (the first swarm: 8)
        def["name"] = "second-swarm";
        std::ofstream(second + "/swarm.json") << def.dump();
        // What each swarm answers (greedy: the same every time).
        auto answerOf = [](const std::string& path) {
            Swarm s(SwarmDefinition::load(path));
            DispatchRequest d;
            d.input = "hello";
            d.label = "sql";
            d.maxTokens = 8;
            return s.dispatch(d).answer;
        };
        const std::string oldExpected = answerOf(dir_ + "/swarm.json"), newExpected = answerOf(second + "/swarm.json");
        QVERIFY2(oldExpected != newExpected, oldExpected.c_str());
        auto oldSwarm = std::make_shared<Swarm>(SwarmDefinition::load(dir_ + "/swarm.json"));
        Gate gate;
        ServerOptions o;
        o.beforeInference = [&] { gate.pass(); };
        SwarmServer server(oldSwarm, o);
        server.start();
        const int port = server.port();
        const json req{{"model", "sql"}, {"prompt", "hello"}, {"max_tokens", 8}};
        QCOMPARE(post(port, req, {})->status, 200);   // sql loaded in the old swarm
        std::weak_ptr<Swarm> oldWatch = oldSwarm;
        oldSwarm.reset();
        gate.close();
        auto inFlight = std::async(std::launch::async, [&] { return post(port, req, {}); });
        QVERIFY(waitFor([&] { return server.active() == 1; }));

        auto next = std::make_shared<Swarm>(SwarmDefinition::load(second + "/swarm.json"));
        QCOMPARE(next->warmFrom(*server.swarm()), (std::vector<std::string>{"sql"}));
        server.replaceSwarm(next);
        QCOMPARE(server.retiredSwarms(), 1);
        httplib::Client c("127.0.0.1", port);
        QCOMPARE(json::parse(c.Get("/health")->body)["swarm"].get<std::string>(), std::string("second-swarm"));
        QCOMPARE(json::parse(c.Get("/health")->body)["loaded"], json::array({"sql"}));
        auto fresh = std::async(std::launch::async, [&] { return post(port, req, {}); });
        QVERIFY(waitFor([&] { return server.active() == 2; }));
        gate.open();
        const auto oldAnswer = inFlight.get();
        const auto newAnswer = fresh.get();
        QCOMPARE(oldAnswer->status, 200);
        QCOMPARE(newAnswer->status, 200);
        // The in-flight request kept its swarm; the new one got the new swarm's shorter answers.
        QCOMPARE(json::parse(oldAnswer->body)["choices"][0]["text"].get<std::string>(), oldExpected);
        QCOMPARE(json::parse(newAnswer->body)["choices"][0]["text"].get<std::string>(), newExpected);
        QVERIFY(waitFor([&] { return server.retiredSwarms() == 0 && oldWatch.expired(); }));
        // Counters carry over the replacement.
        const std::string m = c.Get("/metrics")->body;
        QVERIFY(sample(m, "swarm_specialist_loads_total") >= 2);
        QVERIFY(sample(m, R"(swarm_http_requests_total{endpoint="/v1/completions",model="sql",route="sql",status="200",key="-"})") == 3);
    }
};

QTEST_GUILESS_MAIN(TestServeOps)
#include "test_serve_ops.moc"
