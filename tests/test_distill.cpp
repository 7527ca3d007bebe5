// Distillation's rules, without a network (issue 16): retry and backoff arithmetic and
// Retry-After parsing; teacher URLs (credentials refused), request bodies, answers and streams
// parsed, HTTP statuses classified; API keys from the environment or a file, redacted; the JSON
// Schema subset; every validator's verdicts (SQL run in the metric sandbox, JSON and schema,
// labels, PII spans, refusals, truncation, lengths).
#include "test_util.h"

#include "distill/api_key.h"
#include "distill/json_schema.h"
#include "distill/retry_policy.h"
#include "distill/teacher_client.h"
#include "distill/validators.h"

#include "core/tokenizer.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>
#include <ctime>

using namespace swarm;
using namespace swarm::distill;
using nlohmann::json;
using swarm::test::errorOf;

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

class TestDistill : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private slots:
    void backoffIsExponentialCappedJitteredAndHonoursRetryAfter() {
        RetryPolicy p;
        p.baseDelaySeconds = 1;
        p.maxDelaySeconds = 60;
        p.jitter = 0.5;
        // u = 0: the full exponential step; u -> 1: half of it (jitter 0.5).
        QCOMPARE(backoffSeconds(p, 1, -1, 0.0), 1.0);
        QCOMPARE(backoffSeconds(p, 2, -1, 0.0), 2.0);
        QCOMPARE(backoffSeconds(p, 5, -1, 0.0), 16.0);
        QCOMPARE(backoffSeconds(p, 7, -1, 0.0), 60.0);    // 64 capped
        QCOMPARE(backoffSeconds(p, 40, -1, 0.0), 60.0);
        QCOMPARE(backoffSeconds(p, 3, -1, 1.0), 2.0);
        for (double u : {0.1, 0.37, 0.9}) {
            const double w = backoffSeconds(p, 4, -1, u);
            QVERIFY(w >= 4.0 && w <= 8.0);
        }
        // Retry-After is a floor, itself capped.
        QCOMPARE(backoffSeconds(p, 1, 30, 0.0), 30.0);
        QCOMPARE(backoffSeconds(p, 7, 5, 0.0), 60.0);
        p.maxRetryAfterSeconds = 100;
        QCOMPARE(backoffSeconds(p, 1, 1000, 0.0), 100.0);
        // Scaled down, as the tests run it.
        p.baseDelaySeconds = 0.01;
        p.maxDelaySeconds = 0.05;
        QCOMPARE(backoffSeconds(p, 10, -1, 0.0), 0.05);

        RetryPolicy bad;
        bad.maxAttempts = 0;
        QVERIFY(contains(errorOf([&] { bad.check(); }), "max attempts"));
        bad = RetryPolicy{};
        bad.jitter = 2;
        QVERIFY(contains(errorOf([&] { bad.check(); }), "jitter"));
    }

    void retryAfterAndRetryableStatuses() {
        const int64_t now = 1445412480;   // Wed, 21 Oct 2015 07:28:00 GMT
        QCOMPARE(parseRetryAfter("120", "", now), 120.0);
        QCOMPARE(parseRetryAfter(" 2 ", "", now), 2.0);
        QCOMPARE(parseRetryAfter("", "1500", now), 1.5);
        QCOMPARE(parseRetryAfter("9", "250", now), 0.25);   // retry-after-ms preferred
        QCOMPARE(parseRetryAfter("Wed, 21 Oct 2015 07:29:30 GMT", "", now), 90.0);
        QCOMPARE(parseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", "", now), 0.0);   // in the past
        QCOMPARE(parseRetryAfter("soon", "", now), -1.0);
        QCOMPARE(parseRetryAfter("-5", "", now), -1.0);
        QCOMPARE(parseRetryAfter("", "", now), -1.0);
        for (int s : {408, 409, 425, 429, 500, 502, 503, 504, 520, 524, 529}) QVERIFY2(isRetryableStatus(s), std::to_string(s).c_str());
        for (int s : {200, 400, 401, 403, 404, 413, 422, 501}) QVERIFY2(!isRetryableStatus(s), std::to_string(s).c_str());
    }

    void teacherUrls() {
        QCOMPARE(q(TeacherEndpoint::parse("http://127.0.0.1:8080").url), QString("http://127.0.0.1:8080/v1/chat/completions"));
        QCOMPARE(q(TeacherEndpoint::parse("http://127.0.0.1:8080/").url), QString("http://127.0.0.1:8080/v1/chat/completions"));
        QCOMPARE(q(TeacherEndpoint::parse("https://api.example.com/v1").url), QString("https://api.example.com/v1/chat/completions"));
        const TeacherEndpoint full = TeacherEndpoint::parse("https://x.example.com/openai/deployments/d/chat/completions?api-version=2024-06-01");
        QVERIFY(full.https);
        QCOMPARE(q(full.schemeHostPort), QString("https://x.example.com"));
        QCOMPARE(q(full.pathAndQuery), QString("/openai/deployments/d/chat/completions?api-version=2024-06-01"));
        QVERIFY(contains(errorOf([] { TeacherEndpoint::parse("ftp://host"); }), "http:// or https://"));
        QVERIFY(contains(errorOf([] { TeacherEndpoint::parse("https://user:secret@host/v1"); }), "credentials"));
        QVERIFY(contains(errorOf([] { TeacherEndpoint::parse("https://host/v1/chat/completions?key=abc"); }), "key in its query"));
        QVERIFY(contains(errorOf([] { TeacherEndpoint::parse("http://host:99999"); }), "port"));
        QVERIFY(contains(errorOf([] { TeacherEndpoint::parse("http://host/api/generate"); }), "base URL"));
        QVERIFY(contains(errorOf([] { TeacherEndpoint::parse("http://"); }), "no host"));
    }

    void requestBodies() {
        TeacherSettings s;
        s.model = "m";
        s.system = "be brief";
        s.maxTokens = 77;
        s.temperature = 0.5;
        json b = chatRequestBody(s, "hello");
        QCOMPARE(b["model"].get<std::string>(), std::string("m"));
        QCOMPARE(b["messages"].size(), size_t(2));
        QCOMPARE(b["messages"][0]["role"].get<std::string>(), std::string("system"));
        QCOMPARE(b["messages"][1]["content"].get<std::string>(), std::string("hello"));
        QCOMPARE(b["max_tokens"].get<int>(), 77);
        QVERIFY(!b["stream"].get<bool>());
        QVERIFY(!b.contains("stream_options"));
        s.system.clear();
        s.stream = true;
        b = chatRequestBody(s, "hi");
        QCOMPARE(b["messages"].size(), size_t(1));
        QVERIFY(b["stream_options"]["include_usage"].get<bool>());
        QCOMPARE(TeacherSettings::fromJson(s.toJson()).toJson(), s.toJson());
    }

    void answersAndStreamsParsed() {
        TeacherReply r;
        QVERIFY(parseChatCompletion(
            "{\"model\":\"gpt-x\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"SELECT 1\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}",
            r));
        QCOMPARE(q(r.content), QString("SELECT 1"));
        QCOMPARE(q(r.model), QString("gpt-x"));
        QCOMPARE(q(r.finishReason), QString("stop"));
        QCOMPARE(r.promptTokens, int64_t(12));
        QCOMPARE(r.completionTokens, int64_t(3));
        QVERIFY(r.usageReported);
        TeacherReply n;
        QVERIFY(parseChatCompletion("{\"choices\":[{\"message\":{\"content\":null},\"finish_reason\":\"tool_calls\"}]}", n));
        QCOMPARE(q(n.content), QString(""));
        QVERIFY(!n.usageReported);
        for (const char* bad : {"{not json", "[1]", "{\"choices\":[]}", "{\"choices\":[{\"text\":\"x\"}]}",
                                "{\"error\":{\"message\":\"overloaded\"}}", "{\"choices\":[{\"message\":{\"content\":5}}]}"}) {
            TeacherReply b;
            QVERIFY2(!parseChatCompletion(bad, b), bad);
            QVERIFY(!b.errorClass.empty());
        }

        const std::string stream =
            "data: {\"model\":\"gpt-x\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"SEL\"},\"finish_reason\":null}]}\n\n"
            ": keep-alive\n\n"
            "data: {\"choices\":[{\"delta\":{\"content\":\"ECT 1\"},\"finish_reason\":null}]}\r\n\r\n"
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n"
            "data: [DONE]\n\n";
        TeacherReply s;
        QVERIFY(parseChatStream(stream, s));
        QCOMPARE(q(s.content), QString("SELECT 1"));
        QCOMPARE(q(s.finishReason), QString("stop"));
        QCOMPARE(s.completionTokens, int64_t(2));
        QVERIFY(s.usageReported);
        TeacherReply cut;
        QVERIFY(!parseChatStream(stream.substr(0, stream.find("data: [DONE]")), cut));
        QCOMPARE(q(cut.errorClass), QString("truncated_stream"));
        TeacherReply garbled;
        QVERIFY(!parseChatStream("data: {\"choices\": [\n\ndata: [DONE]\n\n", garbled));
        QCOMPARE(q(garbled.errorClass), QString("malformed_json"));
    }

    void statusesClassified() {
        TeacherReply r;
        QCOMPARE(int(classifyStatus(429, "{\"error\":{\"message\":\"slow down\"}}", r)), int(ReplyKind::Retry));
        QVERIFY(contains(r.error, "slow down"));
        QCOMPARE(q(r.errorClass), QString("http_429"));
        QCOMPARE(int(classifyStatus(429, "{\"error\":{\"message\":\"no money\",\"code\":\"insufficient_quota\"}}", r)), int(ReplyKind::Fatal));
        QCOMPARE(q(r.errorClass), QString("quota"));
        QCOMPARE(int(classifyStatus(500, "oops", r)), int(ReplyKind::Retry));
        QCOMPARE(int(classifyStatus(503, "", r)), int(ReplyKind::Retry));
        QCOMPARE(int(classifyStatus(401, "{\"error\":{\"message\":\"bad key\"}}", r)), int(ReplyKind::Fatal));
        QCOMPARE(int(classifyStatus(404, "", r)), int(ReplyKind::Fatal));
        QCOMPARE(int(classifyStatus(400, "{\"error\":{\"message\":\"context too long\"}}", r)), int(ReplyKind::PromptFailed));
        QVERIFY(contains(r.error, "context too long"));
        QCOMPARE(int(classifyStatus(422, "", r)), int(ReplyKind::PromptFailed));
    }

    void apiKeysFromEnvironmentOrFile() {
        QVERIFY(tmp_.isValid());
        ::setenv("SWARM_TEST_TEACHER_KEY", "  sk-test-123\n", 1);
        QCOMPARE(q(loadApiKey(ApiKeySource{"SWARM_TEST_TEACHER_KEY", ""})), QString("sk-test-123"));
        ::unsetenv("SWARM_TEST_UNSET_KEY");
        const std::string unset = errorOf([] { loadApiKey(ApiKeySource{"SWARM_TEST_UNSET_KEY", ""}); });
        QVERIFY(contains(unset, "SWARM_TEST_UNSET_KEY") && contains(unset, "not set"));
        const std::string file = tmp_.path().toStdString() + "/key";
        swarm::test::writeFile(file, "sk-file-456\n");
        QCOMPARE(q(loadApiKey(ApiKeySource{"", file})), QString("sk-file-456"));
        swarm::test::writeFile(file, "a\nb\n");
        QVERIFY(contains(errorOf([&] { loadApiKey(ApiKeySource{"", file}); }), "more than one line"));
        swarm::test::writeFile(file, "  \n");
        QVERIFY(contains(errorOf([&] { loadApiKey(ApiKeySource{"", file}); }), "empty"));
        QVERIFY(contains(errorOf([&] { loadApiKey(ApiKeySource{"", file + ".missing"}); }), "cannot be read"));
        QCOMPARE(q(loadApiKey(ApiKeySource{})), QString(""));
        // Descriptions (what a job stores) never hold the key.
        QCOMPARE(q(ApiKeySource{"OPENAI_API_KEY", ""}.describe()), QString("env:OPENAI_API_KEY"));
        QCOMPARE(q(ApiKeySource::parse("file:/k").file), QString("/k"));
        QVERIFY(contains(errorOf([] { ApiKeySource::parse("sk-123"); }), "env:NAME or file:PATH"));
        QCOMPARE(q(redactKey("bad key sk-test-123 given", "sk-test-123")), QString("bad key [api key] given"));
        QCOMPARE(q(redactKey("text", "")), QString("text"));
    }

    void jsonSchemaSubset() {
        const json schema = json::parse(
            "{\"type\": \"object\", \"required\": [\"name\", \"arguments\"], \"additionalProperties\": false,"
            " \"properties\": {\"name\": {\"type\": \"string\", \"enum\": [\"get_weather\", \"get_time\"]},"
            " \"arguments\": {\"type\": \"object\", \"properties\": {"
            "   \"city\": {\"type\": \"string\", \"minLength\": 2, \"pattern\": \"^[A-Z]\"},"
            "   \"days\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 14},"
            "   \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, \"maxItems\": 2}}}}}");
        const JsonSchema s = JsonSchema::parse(schema, "schema.json");
        QCOMPARE(q(s.check(json::parse("{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\",\"days\":3}}"))), QString(""));
        QVERIFY(contains(s.check(json::parse("{\"name\":\"get_weather\"}")), "missing required property 'arguments'"));
        QVERIFY(contains(s.check(json::parse("{\"name\":\"x\",\"arguments\":{}}")), "at $.name: expected one of"));
        QVERIFY(contains(s.check(json::parse("{\"name\":\"get_time\",\"arguments\":{\"days\":\"3\"}}")), "at $.arguments.days: expected integer, got string"));
        QVERIFY(contains(s.check(json::parse("{\"name\":\"get_time\",\"arguments\":{\"days\":30}}")), "above the maximum"));
        QVERIFY(contains(s.check(json::parse("{\"name\":\"get_time\",\"arguments\":{\"city\":\"paris\"}}")), "pattern"));
        QVERIFY(contains(s.check(json::parse("{\"name\":\"get_time\",\"arguments\":{\"tags\":[\"a\",\"b\",\"c\"]}}")), "at most 2 items"));
        QVERIFY(contains(s.check(json::parse("{\"name\":\"get_time\",\"arguments\":{},\"extra\":1}")), "'extra' is not allowed"));
        QVERIFY(contains(s.check(json::parse("[]")), "expected object, got array"));
        QCOMPARE(q(JsonSchema::parse(json::parse("{\"type\":\"integer\"}"), "s").check(json(3.0))), QString(""));
        QCOMPARE(q(JsonSchema::parse(json::parse("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}"), "s").check(json(nullptr))), QString(""));
        QVERIFY(contains(JsonSchema::parse(json::parse("{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}"), "s").check(json(2)), "exactly one"));
        QVERIFY(contains(errorOf([] { JsonSchema::parse(json::parse("{\"properties\":{\"a\":{\"$ref\":\"#/x\"}}}"), "schema.json"); }),
                         "schema.json: at #/properties/a: keyword '$ref' is not supported"));
        QVERIFY(contains(errorOf([] { JsonSchema::parse(json::parse("{\"type\":\"float\"}"), "s"); }), "'type' must be one of"));
        QVERIFY(contains(errorOf([] { JsonSchema::parse(json::parse("{\"pattern\": \"(\"}"), "s"); }), "not a valid regular expression"));
    }

    void validatorsPerTask() {
        const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
        const ChatFormat fmt;
        auto validator = [&](Task task) {
            ValidationSettings s;
            s.task = task;
            if (task == Task::Label) s.labels = {"refund", "track_order", "cancel_order"};
            return AnswerValidator(s, tok, fmt);
        };
        const std::string sqlPrompt = "CREATE TABLE orders (id INTEGER, status VARCHAR, total REAL)\n\nQuestion: How many orders shipped?";
        const AnswerValidator sql = validator(Task::Sql);
        Verdict v = sql.check(sqlPrompt, "```sql\nSELECT COUNT(*) FROM orders WHERE status = 'shipped'\n```", "stop");
        QVERIFY2(v.accepted, v.detail.c_str());
        QCOMPARE(q(v.response), QString("SELECT COUNT(*) FROM orders WHERE status = 'shipped'"));
        v = sql.check(sqlPrompt, "SELECT COUNT(*) FROM orders WHERE shipped = 1", "stop");
        QCOMPARE(q(v.reason), QString("sql_error"));
        QVERIFY(contains(v.detail, "shipped"));
        v = sql.check(sqlPrompt, "DELETE FROM orders", "stop");
        QCOMPARE(q(v.reason), QString("sql_error"));
        QCOMPARE(q(sql.check("How many orders?", "SELECT 1", "stop").reason), QString("no_schema"));

        const AnswerValidator js = validator(Task::Json);
        v = js.check("extract", "```json\n{\"name\": \"a\", \"n\": 2}\n```", "stop");
        QVERIFY2(v.accepted, v.detail.c_str());
        QCOMPARE(q(v.response), QString("{\"name\": \"a\", \"n\": 2}"));
        QCOMPARE(q(js.check("extract", "{\"name\": ", "stop").reason), QString("invalid_json"));
        ValidationSettings withSchema;
        withSchema.task = Task::Json;
        withSchema.jsonSchema = json::parse("{\"type\":\"object\",\"required\":[\"name\"]}");
        v = AnswerValidator(withSchema, tok, fmt).check("extract", "{\"n\": 2}", "stop");
        QCOMPARE(q(v.reason), QString("schema_mismatch"));
        QVERIFY(contains(v.detail, "missing required property 'name'"));

        const AnswerValidator label = validator(Task::Label);
        v = label.check("where is my parcel", " Track_Order.\n", "stop");
        QVERIFY2(v.accepted, v.detail.c_str());
        QCOMPARE(q(v.response), QString("track_order"));
        v = label.check("where is my parcel", "shipping_question", "stop");
        QCOMPARE(q(v.reason), QString("unknown_label"));
        QVERIFY(contains(v.detail, "refund, track_order, cancel_order"));

        const AnswerValidator pii = validator(Task::Pii);
        const std::string source = "Dear Ingrid Jones, your appointment is confirmed. We will text 588-555-4191 a day before.";
        v = pii.check(source, "Dear [NAME], your appointment is confirmed. We will text [PHONE] a day before.", "stop");
        QVERIFY2(v.accepted, v.detail.c_str());
        QVERIFY(pii.check("No personal data here.", "No personal data here.", "stop").accepted);
        v = pii.check(source, "Dear [NAME], your appointment is set. We will text [PHONE] a day before.", "stop");
        QCOMPARE(q(v.reason), QString("pii_changed_text"));
        v = pii.check(source, "Dear [NAME] a day before.", "stop");
        QCOMPARE(q(v.reason), QString("pii_span_too_long"));
        v = pii.check(source, "Hello [NAME], your appointment is confirmed. We will text [PHONE] a day before.", "stop");
        QCOMPARE(q(v.reason), QString("pii_changed_text"));
        v = pii.check(source, "Dear [NAME], your appointment is confirmed. We will text [PHONE] soon.", "stop");
        QCOMPARE(q(v.reason), QString("pii_changed_text"));

        const AnswerValidator text = validator(Task::Text);
        QCOMPARE(q(text.check("summarise", "I can't help with that request.", "stop").reason), QString("refusal"));
        QCOMPARE(q(text.check("summarise", "I\xE2\x80\x99m sorry, but I cannot do that.", "stop").reason), QString("refusal"));
        QCOMPARE(q(text.check("summarise", "Sure. As an AI language model I think...", "stop").reason), QString("refusal"));
        QVERIFY(text.check("summarise", "The customer cannot log in and asks for a reset.", "stop").accepted);
        QCOMPARE(q(text.check("summarise", "The customer", "length").reason), QString("truncated"));
        QCOMPARE(q(text.check("summarise", "text", "content_filter").reason), QString("content_filter"));
        QCOMPARE(q(text.check("summarise", "  \n ", "stop").reason), QString("empty_answer"));
        QCOMPARE(q(text.check("summarise", std::string("bad \xff byte"), "stop").reason), QString("invalid_utf8"));
        ValidationSettings lengths;
        lengths.minChars = 5;
        lengths.maxChars = 10;
        lengths.maxLen = 16;
        const AnswerValidator bounded(lengths, tok, fmt);
        QCOMPARE(q(bounded.check("p", "abc", "stop").reason), QString("too_short"));
        QCOMPARE(q(bounded.check("p", "abcdefghijklmnop", "stop").reason), QString("too_long_answer"));
        QCOMPARE(q(bounded.check(std::string(200, 'x') + " long prompt", "abcdef", "stop").reason), QString("too_long"));

        ValidationSettings noLabels;
        noLabels.task = Task::Label;
        QVERIFY(contains(errorOf([&] { AnswerValidator(noLabels, tok, fmt); }), "label set"));
        QCOMPARE(int(parseTask("pii")), int(Task::Pii));
        QVERIFY(contains(errorOf([] { parseTask("nope"); }), "expected text, sql, json, label or pii"));
        ValidationSettings round;
        round.task = Task::Label;
        round.labels = {"a", "b"};
        round.maxChars = 9;
        QCOMPARE(ValidationSettings::fromJson(round.toJson()).toJson(), round.toJson());
        QCOMPARE(parseLabelList(" billing, refund,,other , "), (std::vector<std::string>{"billing", "refund", "other"}));
        QVERIFY(parseLabelList(" , ").empty());
    }
};

QTEST_GUILESS_MAIN(TestDistill)
#include "test_distill.moc"
