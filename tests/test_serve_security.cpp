// The server's defences, in-process on a loopback port, at the level of raw HTTP bytes: API keys
// (missing, wrong, other scheme, right; /health open, everything else closed), the key file's
// errors naming the line, the constant-time comparison, the loopback check; bad input answered
// with OpenAI-style errors (malformed JSON, invalid UTF-8, an oversized body, bodies without a
// length, unknown model, a malformed request line) and a slowloris client cut off while others are served.
#include "serve_test_util.h"
#include "swarm_test_util.h"
#include "test_util.h"

#include "serve/api_keys.h"
#include "serve/openai_protocol.h"
#include "serve/server.h"

#include <httplib.h>

#include <QTemporaryDir>
#include <QtTest>

using namespace swarm;
using namespace servetest;
using nlohmann::json;

namespace {

json errorOfResponse(const std::string& response) { return json::parse(bodyOf(response))["error"]; }

std::string authHeader(const std::string& key) { return "Authorization: Bearer " + key + "\r\n"; }

} // namespace

class TestServeSecurity : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir_;
    std::unique_ptr<Swarm> swarm_;
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
        swarm_ = std::make_unique<Swarm>(SwarmDefinition::load(dir_ + "/swarm.json"));
        keys_ = std::make_shared<const ApiKeys>(ApiKeys::load(writeKeyFile(dir_)));
    }

    void keyFile() {
        QCOMPARE(keys_->size(), size_t(2));
        QCOMPARE(keys_->names(), (std::vector<std::string>{"alice", "bob"}));
        QCOMPARE(keys_->match(std::string("Bearer ") + kAliceKey)->name, std::string("alice"));
        QCOMPARE(keys_->match(std::string("bearer   ") + kBobKey + " ")->name, std::string("bob"));
        QVERIFY(!keys_->match(std::string("Bearer ") + kAliceKey + "x"));
        QVERIFY(!keys_->match(std::string("Basic ") + kAliceKey));
        QVERIFY(!keys_->match("Bearer"));
        QVERIFY(!keys_->match(""));
        const ApiKeys unnamed = ApiKeys::parse("\n# c\n0123456789abcdef0123\n", "k");
        QCOMPARE(unnamed.names(), (std::vector<std::string>{"line-3"}));
        auto error = [](const std::string& text) {
            return QString::fromStdString(test::errorOf([&] { ApiKeys::parse(text, "keys.txt"); }));
        };
        QVERIFY2(error("short\n").startsWith("keys.txt:1: the key is 5 characters"), qPrintable(error("short\n")));
        QVERIFY(error("# only comments\n").contains("keys.txt: no API key"));
        QVERIFY(error("0123456789abcdef0123 a b\n").startsWith("keys.txt:1: expected KEY [NAME], found 3 fields"));
        QVERIFY(error("0123456789abcdef0123 a\n0123456789abcdef0123 b\n").startsWith("keys.txt:2: the same key is on line 1"));
        QVERIFY(error("0123456789abcdef0123 a\n0123456789abcdef9999 a\n").contains("keys.txt:2: the name 'a' is also on line 1"));
        QVERIFY(error("0123456789abcdef0123 al/ice\n").contains("outside [A-Za-z0-9._-]"));
        QVERIFY(error("0123456789abcdef\x01" "0123\n").contains("not visible ASCII"));
        QVERIFY(test::errorOf([] { ApiKeys::load("/nonexistent/keys"); }).find("/nonexistent/keys: cannot read") == 0);
    }

    void constantTimeComparison() {
        QVERIFY(constantTimeEquals("abcdef", "abcdef"));
        QVERIFY(!constantTimeEquals("abcdef", "abcdeg"));
        QVERIFY(!constantTimeEquals("abcdef", "abcde"));
        QVERIFY(!constantTimeEquals("abc", "abcdef"));
        QVERIFY(!constantTimeEquals("", "a"));
        QVERIFY(!constantTimeEquals("a", ""));
        QVERIFY(constantTimeEquals("", ""));
        QCOMPARE(std::string(bearerToken("Bearer  xyz ")), std::string("xyz"));
        QVERIFY(bearerToken("Bearerxyz").empty());
        QVERIFY(bearerToken("Token xyz").empty());
    }

    void loopbackHosts() {
        for (const char* h : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) QVERIFY2(isLoopbackHost(h), h);
        for (const char* h : {"0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.com", "128.0.0.1", ""})
            QVERIFY2(!isLoopbackHost(h), h);
    }

    void requestsNeedAKey() {
        SwarmServer server(*swarm_, withKeys());
        server.start();
        const int port = server.port();
        const std::string body = json{{"model", "sql"}, {"prompt", "hi"}, {"max_tokens", 2}}.dump();

        std::string r = rawPost(port, "/v1/completions", body);
        QCOMPARE(statusOf(r), 401);
        QVERIFY(r.find("WWW-Authenticate: Bearer") != std::string::npos);
        json e = errorOfResponse(r);
        QVERIFY2(e["message"].get<std::string>().find("missing API key") == 0, e.dump().c_str());
        QCOMPARE(e["type"].get<std::string>(), std::string("authentication_error"));
        QCOMPARE(e["code"].get<int>(), 401);

        for (const std::string& wrong : {authHeader("sk-test-alice-0123456789abcdeX"), authHeader(""),
                                         std::string("Authorization: Basic ") + kAliceKey + "\r\n",
                                         authHeader(std::string(kAliceKey).substr(0, 20))}) {
            r = rawPost(port, "/v1/completions", body, wrong);
            QCOMPARE(statusOf(r), 401);
            QVERIFY(errorOfResponse(r)["message"].get<std::string>().find("API key") != std::string::npos);
        }
        r = rawPost(port, "/v1/completions", body, authHeader(kAliceKey));
        QCOMPARE(statusOf(r), 200);
        QCOMPARE(json::parse(bodyOf(r))["usage"]["completion_tokens"].get<int>(), 2);
        r = rawPost(port, "/v1/chat/completions", json{{"model", "swarm"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}.dump(),
                    authHeader(kBobKey));
        QCOMPARE(statusOf(r), 200);

        // /health stays open (load balancers probe it); the other GET routes are closed.
        httplib::Client c("127.0.0.1", port);
        auto h = c.Get("/health");
        QVERIFY(h);
        QCOMPARE(h->status, 200);
        QCOMPARE(c.Get("/health/live")->status, 200);
        QCOMPARE(c.Get("/v1/models")->status, 401);
        QCOMPARE(c.Get("/metrics")->status, 401);
        const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kAliceKey}};
        QCOMPARE(c.Get("/v1/models", auth)->status, 200);
        QCOMPARE(c.Get("/metrics", auth)->status, 200);
        // A key replaced while serving: the old one stops working at once.
        server.replaceApiKeys(std::make_shared<const ApiKeys>(ApiKeys::parse(std::string(kBobKey) + " bob\n", "new")));
        QCOMPARE(c.Get("/v1/models", auth)->status, 401);
        QCOMPARE(c.Get("/v1/models", {{"Authorization", std::string("Bearer ") + kBobKey}})->status, 200);
    }

    void withoutKeysNothingChanges() {
        SwarmServer server(*swarm_, {});
        server.start();
        const std::string r = rawPost(server.port(), "/v1/completions", json{{"model", "sql"}, {"prompt", "hi"}, {"max_tokens", 1}}.dump());
        QCOMPARE(statusOf(r), 200);
        QVERIFY(test::errorOf([&] { server.replaceApiKeys(keys_); }).find("started without API keys") != std::string::npos);
        ServerOptions o;
        o.maxConcurrentPerKey = 2;
        QVERIFY(test::errorOf([&] { SwarmServer s(*swarm_, o); }).find("needs API keys") != std::string::npos);
    }

    // Each bad input gets its status and an OpenAI-style error body naming what is wrong, and
    // the server goes on answering.
    void badInput() {
        ServerOptions o = withKeys();
        o.maxBodyBytes = 4096;
        SwarmServer server(*swarm_, o);
        server.start();
        const int port = server.port();
        const std::string auth = authHeader(kAliceKey);
        auto expect = [&](const std::string& response, int status, const std::string& inMessage) {
            QCOMPARE(statusOf(response), status);
            QVERIFY2(response.find("X-Request-Id: ") != std::string::npos, response.c_str());
            const json e = errorOfResponse(response);
            QVERIFY2(e["message"].get<std::string>().find(inMessage) != std::string::npos, e.dump().c_str());
            QCOMPARE(e["code"].get<int>(), status);
            QVERIFY(e.contains("type") && e.contains("param"));
        };
        expect(rawPost(port, "/v1/completions", "{\"model\": \"swarm\", \"prompt\": ", auth), 400, "malformed JSON");
        expect(rawPost(port, "/v1/completions", "", auth), 400, "malformed JSON");
        expect(rawPost(port, "/v1/completions", "{\"model\": \"swarm\", \"prompt\": \"caf\xc3\"}", auth), 400,
               "not valid UTF-8 (byte 33)");
        expect(rawPost(port, "/v1/completions", "{\"model\": \"swarm\", \"prompt\": \"\xff\xfe\"}", auth), 400, "not valid UTF-8");
        expect(rawPost(port, "/v1/completions", "{\"model\": \"swarm\", \"prompt\": \"\xed\xa0\x80\"}", auth), 400, "not valid UTF-8");
        QCOMPARE(errorOfResponse(rawPost(port, "/v1/completions", "{\"model\": \"swarm\", \"prompt\": 3}", auth))["param"],
                 json("prompt"));
        expect(rawPost(port, "/v1/completions", json{{"model", "gpt-4o"}, {"prompt", "x"}}.dump(), auth), 404,
               "unknown model 'gpt-4o'");
        // Oversized: declared (refused before the body is read) and chunked (cut while reading).
        expect(rawExchange(port, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth +
                                     "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{"),
               413, "too large");
        const std::string chunk(3000, 'a');
        std::string chunked = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth +
                              "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (int i = 0; i < 3; ++i) chunked += "bb8\r\n" + chunk + "\r\n";
        chunked += "0\r\n\r\n";
        expect(rawExchange(port, chunked), 411, "needs a Content-Length");
        expect(rawExchange(port, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth + "\r\n{}"), 411,
               "needs a Content-Length");
        expect(rawExchange(port, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 12x\r\n\r\n"),
               400, "Content-Length '12x'");
        expect(rawExchange(port, "BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 400, "malformed HTTP request");
        expect(rawExchange(port, "GET /v2/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 404, "no route GET /v2/nothing");
        const std::string ok = rawPost(port, "/v1/completions", json{{"model", "sql"}, {"prompt", "x"}, {"max_tokens", 1}}.dump(), auth);
        QCOMPARE(statusOf(ok), 200);
    }

    // A client that sends its request a byte at a time (each byte within the idle timeout) is cut
    // off at the read timeout instead of holding an HTTP thread, and counted in the metrics.
    void slowlorisIsCutOff() {
        ServerOptions o;
        o.httpThreads = 2;
        o.idleTimeoutSeconds = 3;
        o.requestReadSeconds = 1;
        SwarmServer server(*swarm_, o);
        server.start();
        const int port = server.port();
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<int> loris;
        for (int i = 0; i < 2; ++i) {   // both HTTP threads
            const int fd = connectLoopback(port);
            QVERIFY(fd >= 0);
            QVERIFY(sendAll(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\n"));
            loris.push_back(fd);
        }
        std::atomic<bool> stop{false};
        std::thread trickle([&] {
            for (int i = 0; i < 40 && !stop; ++i) {   // bounded: at most 8 s
                for (int fd : loris) sendAll(fd, "X");
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        });
        // A normal client still gets its answer once the slow ones are cut off.
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(20, 0);
        auto r = c.Get("/health");
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        stop = true;
        trickle.join();
        QVERIFY(r);
        QCOMPARE(r->status, 200);
        QVERIFY2(waited < 3.5, qPrintable(QString("waited %1 s").arg(waited)));
        for (int fd : loris) {
            // Closed, with at most a 400 for the headers that never ended.
            const std::string got = readUntilClosed(fd, 5000);
            QVERIFY2(got.empty() || statusOf(got) == 400, got.c_str());
            ::close(fd);
        }
        httplib::Client m("127.0.0.1", port);
        const std::string metrics = m.Get("/metrics")->body;
        QVERIFY2(metrics.find("swarm_http_slow_requests_dropped_total 2") != std::string::npos,
                 metrics.substr(metrics.find("swarm_http_conn")).c_str());
    }

    void protocolUnits() {
        QCOMPARE(openai::invalidUtf8At("plain"), std::string::npos);
        QCOMPARE(openai::invalidUtf8At("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), std::string::npos);
        QCOMPARE(openai::invalidUtf8At("ab\x80"), size_t(2));
        QCOMPARE(openai::invalidUtf8At("\xc0\xaf"), size_t(0));           // overlong
        QCOMPARE(openai::invalidUtf8At("x\xf4\x90\x80\x80"), size_t(1));  // past U+10FFFF
        QCOMPARE(openai::invalidUtf8At("\xe2\x82"), size_t(0));           // cut short
        // An answer cut inside a character still makes valid JSON.
        const std::string dumped = openai::dump(json{{"text", std::string("caf\xc3")}});
        QCOMPARE(openai::invalidUtf8At(dumped), std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestServeSecurity)
#include "test_serve_security.moc"
