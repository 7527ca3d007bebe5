// `swarm serve`'s server, started in-process on a free loopback port and driven with real HTTP
// requests (httplib::Client): health and model list, routing to the router's specialist, a named
// specialist, chat completions, streaming (server-sent events equal to the plain answer), 400 for
// malformed JSON and bad fields, 404 for unknown models and paths, 413 for oversized bodies, 503
// when the queue (size 1) is full, the per-request max_tokens cap, concurrent requests decoded in
// one batch, idle connections closed, and a graceful stop that finishes the request in flight.
#include "serve_test_util.h"
#include "swarm_test_util.h"

#include "serve/server.h"

#include <httplib.h>

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <arpa/inet.h>
#include <condition_variable>
#include <future>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace swarm;
using nlohmann::json;
using servetest::events;
using servetest::Gate;
using servetest::waitFor;

namespace {

httplib::Result post(int port, const std::string& path, const std::string& body) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c.Post(path.c_str(), body, "application/json");
}

httplib::Result post(int port, const std::string& path, const json& body) { return post(port, path, body.dump()); }

json bodyOf(const httplib::Result& r) { return json::parse(r->body); }

} // namespace

class TestServe : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir_;
    std::unique_ptr<Swarm> swarm_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        swarmtest::writeSwarm(dir_);
        swarm_ = std::make_unique<Swarm>(SwarmDefinition::load(dir_ + "/swarm.json"));
    }

    void healthAndModels() {
        SwarmServer server(*swarm_, {});
        server.start();
        QVERIFY(server.port() > 0);
        httplib::Client c("127.0.0.1", server.port());
        auto h = c.Get("/health");
        QVERIFY(h);
        QCOMPARE(h->status, 200);
        QCOMPARE(bodyOf(h)["status"].get<std::string>(), std::string("ok"));
        auto m = c.Get("/v1/models");
        QVERIFY(m);
        QCOMPARE(m->status, 200);
        std::vector<std::string> ids;
        const json models = bodyOf(m);
        for (const json& d : models["data"]) ids.push_back(d["id"].get<std::string>());
        QCOMPARE(ids, (std::vector<std::string>{"swarm", "intent", "pii", "sql", "fallback"}));
        auto nf = c.Get("/v2/nothing");
        QVERIFY(nf);
        QCOMPARE(nf->status, 404);
        QVERIFY(bodyOf(nf)["error"]["message"].get<std::string>().find("/v2/nothing") != std::string::npos);
    }

    void routesToTheRoutersSpecialist() {
        SwarmServer server(*swarm_, {});
        server.start();
        for (const std::string input : {"How many orders shipped?", "Mask the name Alice Jones", "refund please"}) {
            auto r = post(server.port(), "/v1/completions", json{{"model", "swarm"}, {"prompt", input}});
            QVERIFY(r);
            QCOMPARE(r->status, 200);
            const json b = bodyOf(r);
            const std::string expected = swarm_->route(input).label;
            QCOMPARE(b["swarm"]["label"].get<std::string>(), expected);
            QCOMPARE(b["swarm"]["specialist"].get<std::string>(), expected);
            QCOMPARE(b["model"].get<std::string>(), expected);
            QVERIFY(b["swarm"]["routed"].get<bool>());
            QVERIFY(b["swarm"]["confidence"].get<double>() > 0);
            DispatchRequest direct;
            direct.input = input;
            direct.label = expected;
            const DispatchResult d = swarm_->dispatch(direct);
            QCOMPARE(b["choices"][0]["text"].get<std::string>(), d.answer);
            QCOMPARE(b["usage"]["completion_tokens"].get<int>(), d.completionTokens);
            QCOMPARE(b["object"].get<std::string>(), std::string("text_completion"));
        }
        // A named specialist, through chat completions (the last user message is the input).
        auto r = post(server.port(), "/v1/chat/completions",
                      json{{"model", "pii"},
                           {"messages", {{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", "hello"}}}}});
        QVERIFY(r);
        QCOMPARE(r->status, 200);
        const json b = bodyOf(r);
        QCOMPARE(b["model"].get<std::string>(), std::string("pii"));
        QVERIFY(!b["swarm"]["routed"].get<bool>());
        QCOMPARE(b["object"].get<std::string>(), std::string("chat.completion"));
        QCOMPARE(b["choices"][0]["message"]["role"].get<std::string>(), std::string("assistant"));
        DispatchRequest direct;
        direct.input = "hello";
        direct.label = "pii";
        QCOMPARE(b["choices"][0]["message"]["content"].get<std::string>(), swarm_->dispatch(direct).answer);
    }

    void streams() {
        SwarmServer server(*swarm_, {});
        server.start();
        const std::string input = "Which products are out of stock?";
        auto plain = post(server.port(), "/v1/completions", json{{"model", "swarm"}, {"prompt", input}});
        QVERIFY(plain);
        const json pb = bodyOf(plain);
        for (bool chat : {false, true}) {
            json req{{"model", "swarm"}, {"stream", true}};
            if (chat) req["messages"] = {{{"role", "user"}, {"content", input}}};
            else req["prompt"] = input;
            auto r = post(server.port(), chat ? "/v1/chat/completions" : "/v1/completions", req);
            QVERIFY(r);
            QCOMPARE(r->status, 200);
            QVERIFY(r->get_header_value("Content-Type").find("text/event-stream") == 0);
            const std::vector<std::string> ev = events(r->body);
            QVERIFY(ev.size() >= 3);
            QCOMPARE(ev.back(), std::string("[DONE]"));
            std::string text;
            for (size_t i = 0; i + 2 < ev.size(); ++i) {
                const json c = json::parse(ev[i]);
                QVERIFY(c["choices"][0]["finish_reason"].is_null());
                text += chat ? c["choices"][0]["delta"]["content"].get<std::string>() : c["choices"][0]["text"].get<std::string>();
                if (chat && i == 0) QCOMPARE(c["choices"][0]["delta"]["role"].get<std::string>(), std::string("assistant"));
            }
            const json last = json::parse(ev[ev.size() - 2]);
            QVERIFY(last["choices"][0]["finish_reason"].is_string());
            QCOMPARE(last["swarm"]["label"], pb["swarm"]["label"]);
            QCOMPARE(last["usage"]["completion_tokens"], pb["usage"]["completion_tokens"]);
            QCOMPARE(text, pb["choices"][0]["text"].get<std::string>());
        }
    }

    void badRequests() {
        ServerOptions o;
        o.maxBodyBytes = 4096;
        SwarmServer server(*swarm_, o);
        server.start();
        const int port = server.port();
        auto expect = [&](const httplib::Result& r, int status, const std::string& inMessage) {
            QVERIFY(r);
            QCOMPARE(r->status, status);
            const json b = bodyOf(r);
            const std::string msg = b["error"]["message"].get<std::string>();
            QVERIFY2(msg.find(inMessage) != std::string::npos, msg.c_str());
            QCOMPARE(b["error"]["code"].get<int>(), status);
        };
        expect(post(port, "/v1/completions", std::string("{\"model\": \"swarm\", \"prompt\": ")), 400, "malformed JSON");
        expect(post(port, "/v1/chat/completions", std::string("not json")), 400, "malformed JSON");
        expect(post(port, "/v1/completions", json::array()), 400, "JSON object");
        expect(post(port, "/v1/completions", json{{"prompt", "x"}}), 400, "'model'");
        expect(post(port, "/v1/completions", json{{"model", "swarm"}}), 400, "'prompt'");
        expect(post(port, "/v1/completions", json{{"model", "swarm"}, {"prompt", "x"}, {"max_tokens", 0}}), 400, "'max_tokens'");
        expect(post(port, "/v1/completions", json{{"model", "swarm"}, {"prompt", "x"}, {"max_tokens", "3"}}), 400, "'max_tokens'");
        expect(post(port, "/v1/completions", json{{"model", "swarm"}, {"prompt", "x"}, {"stream", "yes"}}), 400, "'stream'");
        expect(post(port, "/v1/completions", json{{"model", "swarm"}, {"prompt", "x"}, {"temperature", -1}}), 400, "'temperature'");
        expect(post(port, "/v1/chat/completions", json{{"model", "swarm"}, {"messages", json::array()}}), 400, "'messages'");
        expect(post(port, "/v1/chat/completions", json{{"model", "swarm"}, {"messages", {{{"role", "system"}, {"content", "x"}}}}}),
               400, "role 'user'");
        expect(post(port, "/v1/completions", json{{"model", "gpt-4"}, {"prompt", "x"}}), 404, "unknown model 'gpt-4'");
        expect(post(port, "/v1/chat/completions", json{{"model", "nope"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}),
               404, "unknown model 'nope'");
        expect(post(port, "/v1/completions", json{{"model", "swarm"}, {"prompt", std::string(10000, 'a')}}), 413, "too large");
        // The server still answers after all that.
        auto ok = post(port, "/v1/completions", json{{"model", "sql"}, {"prompt", "x"}, {"max_tokens", 1}});
        QVERIFY(ok);
        QCOMPARE(ok->status, 200);
        QCOMPARE(bodyOf(ok)["usage"]["completion_tokens"].get<int>(), 1);
    }

    void maxTokensCap() {
        ServerOptions o;
        o.maxTokensCap = 2;
        SwarmServer server(*swarm_, o);
        server.start();
        for (int asked : {0, 1, 50}) {
            json req{{"model", "intent"}, {"prompt", "a b c"}};
            if (asked) req["max_tokens"] = asked;
            auto r = post(server.port(), "/v1/completions", req);
            QVERIFY(r);
            QCOMPARE(r->status, 200);
            QVERIFY(bodyOf(r)["usage"]["completion_tokens"].get<int>() <= std::max(1, std::min(asked ? asked : 2, 2)));
        }
    }

    void fullQueueAnswers503() {
        Gate gate;
        ServerOptions o;
        o.workers = 1;
        o.maxQueue = 1;
        o.beforeInference = [&] { gate.pass(); };
        SwarmServer server(*swarm_, o);
        server.start();
        const int port = server.port();
        const json req{{"model", "swarm"}, {"prompt", "hello"}, {"max_tokens", 2}};
        gate.close();
        auto a = std::async(std::launch::async, [&] { return post(port, "/v1/completions", req); });
        QVERIFY(waitFor([&] { return server.active() == 1; }));
        auto b = std::async(std::launch::async, [&] { return post(port, "/v1/completions", req); });
        QVERIFY(waitFor([&] { return server.queued() == 1; }));
        // Worker busy, queue full: the third request is refused at once.
        auto c = post(port, "/v1/completions", req);
        QVERIFY(c);
        QCOMPARE(c->status, 503);
        QVERIFY(bodyOf(c)["error"]["message"].get<std::string>().find("queue is full") != std::string::npos);
        QCOMPARE(server.rejected(), 1LL);
        // So is a streaming one.
        json sreq = req;
        sreq["stream"] = true;
        auto cs = post(port, "/v1/completions", sreq);
        QVERIFY(cs);
        QCOMPARE(cs->status, 503);
        gate.open();
        auto ra = a.get(), rb = b.get();
        QVERIFY(ra && rb);
        QCOMPARE(ra->status, 200);
        QCOMPARE(rb->status, 200);
        QCOMPARE(bodyOf(ra)["choices"][0]["text"], bodyOf(rb)["choices"][0]["text"]);
        QVERIFY(waitFor([&] { return server.active() == 0 && server.queued() == 0; }));
        auto again = post(port, "/v1/completions", req);
        QVERIFY(again);
        QCOMPARE(again->status, 200);
    }

    // Requests generating at once for the same specialist decode together in one forward pass per
    // token, and each gets the answer it gets alone (streamed or not).
    void concurrentRequestsAreBatched() {
        const std::string dir = dir_ + "/long";
        QVERIFY(QDir().mkpath(QString::fromStdString(dir)));
        swarmtest::writeSwarm(dir, 64);
        Swarm swarm(SwarmDefinition::load(dir + "/swarm.json"));
        const int n = 4;
        Gate gate;
        ServerOptions o;
        o.workers = n;
        o.beforeInference = [&] { gate.pass(); };
        SwarmServer server(swarm, o);
        server.start();
        const int port = server.port();
        std::vector<std::string> inputs = {"How many orders?", "List the customers in Paris", "hi", "Mask the name Bob"};
        std::vector<std::string> expected;
        for (const std::string& in : inputs) {
            DispatchRequest d;
            d.input = in;
            d.label = "sql";
            d.maxTokens = 48;
            expected.push_back(swarm.dispatch(d).answer);
        }
        const engine::BatchDecoder::Stats before = swarm.decoderStats();
        gate.close();
        std::vector<std::future<httplib::Result>> replies;
        for (int i = 0; i < n; ++i)
            replies.push_back(std::async(std::launch::async, [&, i] {
                return post(port, "/v1/completions",
                            json{{"model", "sql"}, {"prompt", inputs[size_t(i)]}, {"max_tokens", 48}, {"stream", i % 2 == 1}});
            }));
        QVERIFY(waitFor([&] { return server.active() == n; }));
        gate.open();
        for (int i = 0; i < n; ++i) {
            auto r = replies[size_t(i)].get();
            QVERIFY(r);
            QCOMPARE(r->status, 200);
            std::string text;
            if (i % 2 == 1) {
                const std::vector<std::string> ev = events(r->body);
                QCOMPARE(ev.back(), std::string("[DONE]"));
                for (size_t k = 0; k + 2 < ev.size(); ++k) text += json::parse(ev[k])["choices"][0]["text"].get<std::string>();
            } else {
                text = bodyOf(r)["choices"][0]["text"].get<std::string>();
            }
            QCOMPARE(text, expected[size_t(i)]);
        }
        const engine::BatchDecoder::Stats after = swarm.decoderStats();
        const long long steps = after.steps - before.steps, tokens = after.tokens - before.tokens;
        QVERIFY2(after.widest >= 2 && tokens > steps,
                 qPrintable(QString("%1 tokens in %2 passes, widest %3").arg(tokens).arg(steps).arg(after.widest)));
        httplib::Client c("127.0.0.1", port);
        auto h = c.Get("/health");
        QVERIFY(h);
        QCOMPARE(bodyOf(h)["batch"]["widest"].get<int>(), after.widest);
    }

    // A client that connects and sends nothing is dropped after the idle timeout, so idle
    // connections cannot hold every HTTP thread.
    void idleConnectionsAreClosed() {
        ServerOptions o;
        o.httpThreads = 2;
        o.idleTimeoutSeconds = 1;
        SwarmServer server(*swarm_, o);
        server.start();
        // Two keep-alive clients that made one request each and now sit idle on both threads.
        httplib::Client k1("127.0.0.1", server.port()), k2("127.0.0.1", server.port());
        k1.set_keep_alive(true);
        k2.set_keep_alive(true);
        QVERIFY(k1.Get("/health"));
        QVERIFY(k2.Get("/health"));
        const auto t0 = std::chrono::steady_clock::now();
        httplib::Client c("127.0.0.1", server.port());
        c.set_read_timeout(20, 0);
        auto r = c.Get("/health");
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        QVERIFY(r);
        QCOMPARE(r->status, 200);
        QVERIFY2(waited < 4, qPrintable(QString("waited %1 s").arg(waited)));
        // The idle clients reconnect transparently.
        QVERIFY(k1.Get("/health"));
    }

    // A streaming client that goes away after the first bytes: its generation stops, the server
    // frees its worker and goes on answering.
    void disconnectedStreamStops() {
        const std::string dir = dir_ + "/long2";
        QVERIFY(QDir().mkpath(QString::fromStdString(dir)));
        swarmtest::writeSwarm(dir, 120);
        Swarm swarm(SwarmDefinition::load(dir + "/swarm.json"));
        SwarmServer server(swarm, {});
        server.start();
        const std::string body = json{{"model", "sql"}, {"prompt", "count the rows"}, {"max_tokens", 120}, {"stream", true}}.dump();
        const std::string request = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        const engine::BatchDecoder::Stats before = swarm.decoderStats();
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        QVERIFY(fd >= 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(uint16_t(server.port()));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        QCOMPARE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        QCOMPARE(::send(fd, request.data(), request.size(), 0), ssize_t(request.size()));
        char buf[64];
        QVERIFY(::recv(fd, buf, sizeof buf, 0) > 0);   // the stream has begun
        ::close(fd);
        QVERIFY(waitFor([&] { return server.active() == 0 && server.queued() == 0; }));
        const long long decoded = swarm.decoderStats().tokens - before.tokens;
        qInfo("%lld of 119 tokens decoded before the generation stopped", decoded);
        QVERIFY2(decoded < 100, qPrintable(QString("%1 of 119 tokens decoded after the client left").arg(decoded)));
        auto ok = post(server.port(), "/v1/completions", json{{"model", "sql"}, {"prompt", "x"}, {"max_tokens", 3}});
        QVERIFY(ok);
        QCOMPARE(ok->status, 200);
        QCOMPARE(bodyOf(ok)["usage"]["completion_tokens"].get<int>(), 3);
    }

    void stopFinishesInFlight() {
        Gate gate;
        ServerOptions o;
        o.beforeInference = [&] { gate.pass(); };
        SwarmServer server(*swarm_, o);
        server.start();
        const int port = server.port();
        gate.close();
        auto a = std::async(std::launch::async, [&] {
            return post(port, "/v1/completions", json{{"model", "swarm"}, {"prompt", "hi"}, {"max_tokens", 3}});
        });
        QVERIFY(waitFor([&] { return server.active() == 1; }));
        auto stopped = std::async(std::launch::async, [&] {
            server.stop();
            server.wait();
        });
        QVERIFY(stopped.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout);   // waits for a
        gate.open();
        const auto ra = a.get();
        QVERIFY(ra);
        QCOMPARE(ra->status, 200);
        QVERIFY(stopped.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
        httplib::Client c("127.0.0.1", port);
        c.set_connection_timeout(1, 0);
        QVERIFY(!c.Get("/health"));   // no longer listening
    }
};

QTEST_GUILESS_MAIN(TestServe)
#include "test_serve.moc"
