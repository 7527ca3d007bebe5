// Field paths, prompt templates (fields, filters, literal braces, errors), the chat format's
// split point, and the unified diff used by the commit preset.
#include "core/error.h"
#include "datasets/field_path.h"
#include "datasets/prompt_template.h"
#include "test_util.h"

#include <QtTest>

using namespace swarm;
using swarm::test::errorOf;
using nlohmann::json;

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

const json kRecord = json::parse(R"JSON({
    "question": "How many heads?",
    "context": "CREATE TABLE head (age INTEGER)",
    "chat": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
    "meta": {"lang": "en", "tags": ["a", "b"], "n": 3},
    "user.name": "dotted column",
    "odd key": "spaces",
    "tools": [{"name": "get_weather", "parameters": {"city": "string"}}],
    "count": 7,
    "nothing": null,
    "blank": "   "
})JSON");

std::string render(const std::string& tmpl, const json& rec = kRecord) {
    std::string out;
    TemplateFailure f;
    if (!TextTemplate::parse(tmpl).render(rec, out, f)) return "FAIL(" + f.field + ": " + f.detail + ")";
    return out;
}

} // namespace

class TestPromptTemplate : public QObject {
    Q_OBJECT

private slots:
    void fieldPaths() {
        QCOMPARE(q(FieldPath::parse("question").resolve(kRecord)->get<std::string>()), QString("How many heads?"));
        QCOMPARE(q(FieldPath::parse("chat[0].content").resolve(kRecord)->get<std::string>()), QString("Hi"));
        QCOMPARE(q(FieldPath::parse("chat[-1].content").resolve(kRecord)->get<std::string>()), QString("Hello!"));
        QCOMPARE(q(FieldPath::parse("meta.tags[1]").resolve(kRecord)->get<std::string>()), QString("b"));
        QCOMPARE(q(FieldPath::parse("[\"odd key\"]").text()), QString("[\"odd key\"]"));
        QCOMPARE(q(FieldPath::parse("odd key").resolve(kRecord)->get<std::string>()), QString("spaces"));
        // A column whose name looks like a path resolves to the column first.
        QCOMPARE(q(FieldPath::parse("user.name").resolve(kRecord)->get<std::string>()), QString("dotted column"));
        QCOMPARE(q(FieldPath::parse("chat[1].content").rootKey()), QString("chat"));
        QVERIFY(FieldPath::parse("chat[2].content").resolve(kRecord) == nullptr);
        QCOMPARE(q(FieldPath::parse("chat[2].content").explainMissing(kRecord)), QString("chat has 2 elements, no index 2"));
        QCOMPARE(q(FieldPath::parse("meta.missing").explainMissing(kRecord)), QString("meta has no key 'missing'"));
        QCOMPARE(q(FieldPath::parse("absent").explainMissing(kRecord)), QString("no field 'absent'"));
        QCOMPARE(q(FieldPath::parse("question[0]").explainMissing(kRecord)), QString("question is string, not an array"));
        for (const char* bad : {"", "a..b", "a.", "a[", "a[x]", "[0]", "a]b", "a[1]b"})
            QVERIFY2(errorOf([&] { FieldPath::parse(bad); }).find("bad field path") != std::string::npos, bad);
    }

    void templatesRenderFields() {
        QCOMPARE(q(render("{context}\n\nQuestion: {question}")),
                 QString("CREATE TABLE head (age INTEGER)\n\nQuestion: How many heads?"));
        QCOMPARE(q(render("{chat[0].content} -> {chat[1].content}")), QString("Hi -> Hello!"));
        QCOMPARE(q(render("{{literal}} {question} }}{{")), QString("{literal} How many heads? }{"));
        QCOMPARE(q(render("{ question }")), QString("How many heads?"));   // spaces around the path
        QCOMPARE(q(TextTemplate::escapeLiteral("a{b}c")), QString("a{{b}}c"));
        QCOMPARE(q(render(TextTemplate::escapeLiteral("{json: true}"))), QString("{json: true}"));
        QCOMPARE(TextTemplate::parse("{context}\n{question|diff:meta.lang}{context}").rootFields(),
                 (std::vector<std::string>{"context", "question", "meta"}));
        QCOMPARE(q(TextTemplate::forField("answer").text()), QString("{answer}"));
        QCOMPARE(q(TextTemplate::forField("chat[1].content").text()), QString("{chat[1].content}"));
        QCOMPARE(q(TextTemplate::forField("score [0-10]").text()), QString("{[\"score [0-10]\"]}"));
        const json odd = {{"score [0-10]", "7"}, {"a|b}\"c", "8"}};
        std::string out;
        TemplateFailure f;
        for (const char* name : {"score [0-10]", "a|b}\"c"}) {
            // The text parses back to the same field (the CLI stores the text).
            const TextTemplate t = TextTemplate::parse(TextTemplate::forField(name).text());
            QVERIFY(t.render(odd, out, f));
            QCOMPARE(q(out), q(odd[name].get<std::string>()));
        }
    }

    void missingAndNonStringFieldsFail() {
        QCOMPARE(q(render("{absent}")), QString("FAIL(absent: no field 'absent')"));
        QCOMPARE(q(render("{count}")), QString("FAIL(count: is a number, not a string (write {count|json} to use it as JSON))"));
        QCOMPARE(q(render("{meta}")), QString("FAIL(meta: is an object, not a string (write {meta|json} to use it as JSON))"));
        QVERIFY(render("{nothing}").find("is null") != std::string::npos);
        std::string out;
        TemplateFailure f;
        QVERIFY(!TextTemplate::parse("x {chat[5].content}").render(kRecord, out, f));
        QCOMPARE(int(f.kind), int(TemplateFailure::Kind::MissingField));
        QCOMPARE(q(f.field), QString("chat[5].content"));
        QVERIFY(!TextTemplate::parse("{count}").render(kRecord, out, f));
        QCOMPARE(int(f.kind), int(TemplateFailure::Kind::NotAString));
        bool blank = false;
        QVERIFY(TextTemplate::parse("Question: {blank}").render(kRecord, out, f, &blank));
        QVERIFY(blank);   // the literal text does not count: every field is empty
        QVERIFY(TextTemplate::parse("{blank}{question}").render(kRecord, out, f, &blank));
        QVERIFY(!blank);
    }

    void filters() {
        QCOMPARE(q(render("{count|json}")), QString("7"));
        QCOMPARE(q(render("{tools|json}")), QString(R"([{"name":"get_weather","parameters":{"city":"string"}}])"));
        QCOMPARE(q(render("{question|json}")), QString("How many heads?"));   // strings stay as they are
        QCOMPARE(q(render("[{blank|trim}]")), QString("[]"));
        QCOMPARE(q(render("{question|lower}")), QString("how many heads?"));
        QCOMPARE(q(render("{question|upper}")), QString("HOW MANY HEADS?"));
        QCOMPARE(q(render("{context|before:(|trim}")), QString("CREATE TABLE head"));
        QCOMPARE(q(render("{context|after:(|before:)}")), QString("age INTEGER"));
        QCOMPARE(q(render("{context|after:nope}")), QString(""));
        QCOMPARE(q(render("{context|before:nope}")), QString("CREATE TABLE head (age INTEGER)"));
        QCOMPARE(q(render("{absent|default:n/a}")), QString("n/a"));
        QCOMPARE(q(render("{nothing|default:}")), QString(""));
        QCOMPARE(q(render("{question|default:x}")), QString("How many heads?"));
        // Escapes in arguments: \| \} \n.
        const json chat = {{"chat", "USER: hi\n\n\nASSISTANT: hello <|endoftext|>\n\n\nUSER: bye"}};
        QCOMPARE(q(render("{chat|after:ASSISTANT:|before:<\\|endoftext\\|>|trim}", chat)), QString("hello"));
        QCOMPARE(q(render("{chat|before:\\n|trim}", chat)), QString("USER: hi"));
        QCOMPARE(q(render("{question|before:\\}}", json{{"question", "a}b"}})), QString("a"));
        // diff: a unified diff from this field to another.
        const json commit = {{"old", "a\nb\nc\n"}, {"new", "a\nB\nc\n"}};
        QCOMPARE(q(render("{old|diff:new}", commit)), QString("@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"));
        QVERIFY(render("{old|diff:missing}", commit).find("FAIL(missing") == 0);
    }

    void templateSyntaxErrors() {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"{question", "unterminated placeholder"},
            {"a } b", "unmatched '}'"},
            {"{}", "empty placeholder"},
            {"{question|shout}", "unknown filter 'shout'"},
            {"{question|before}", "needs an argument"},
            {"{question|trim:x}", "takes no argument"},
            {"{a{b}}", "'{' inside a placeholder"},
            {"{a..b}", "bad field path"},
        };
        for (const auto& [tmpl, want] : cases) {
            const std::string e = errorOf([&] { TextTemplate::parse(tmpl); });
            QVERIFY2(e.find(want) != std::string::npos && e.find("position") != std::string::npos,
                     (tmpl + " -> " + e).c_str());
        }
    }

    void chatFormatSplitsAtTheResponse() {
        ChatFormat def;
        QCOMPARE(q(def.text()), QString(ChatFormat::kDefault));
        QCOMPARE(q(def.promptText("How many?")), QString("User: How many?\nAssistant:"));
        QCOMPARE(q(def.responseText("SELECT 1")), QString(" SELECT 1"));
        QVERIFY(def.endsWithEos());
        QCOMPARE(q(def.head()), QString("User: "));
        QCOMPARE(q(def.tail()), QString("\nAssistant:"));

        ChatFormat custom = ChatFormat::parse("### Instruction:\n{prompt}\n\n### Response:\n{response}<|endoftext|>");
        QCOMPARE(q(custom.promptText("p")), QString("### Instruction:\np\n\n### Response:"));
        QCOMPARE(q(custom.responseText("r")), QString("\nr"));
        ChatFormat noEos = ChatFormat::parse("Q: {prompt} A: {response} END");
        QVERIFY(!noEos.endsWithEos());
        QCOMPARE(q(noEos.responseText("r")), QString(" r END"));
        QCOMPARE(q(ChatFormat::parse("{{json}} {prompt}|{response}<|endoftext|>").promptText("p")), QString("{json} p|"));

        for (const char* bad : {"{response} {prompt}", "User: {prompt}", "{prompt}{prompt}{response}",
                                "{prompt} {response} {extra}", "<|endoftext|>{prompt} {response}", "{prompt} } {response}"})
            QVERIFY2(errorOf([&] { ChatFormat::parse(bad); }).find("chat format") != std::string::npos, bad);
    }

    void unifiedDiffs() {
        QCOMPARE(q(unifiedDiff("same\n", "same\n")), QString(""));
        QCOMPARE(q(unifiedDiff("", "new line\n")), QString("@@ -0,0 +1,1 @@\n+new line\n"));
        QCOMPARE(q(unifiedDiff("x\n", "")), QString("@@ -1,1 +0,0 @@\n-x\n"));
        QCOMPARE(q(unifiedDiff("a\nb", "a\nc")), QString("@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
                                                          "\\ No newline at end of file\n"));
        // Two changes far apart make two hunks, with three lines of context each.
        std::string before, after;
        for (int i = 1; i <= 20; ++i) {
            before += "line " + std::to_string(i) + "\n";
            after += (i == 2 ? "LINE 2" : i == 18 ? "LINE 18" : "line " + std::to_string(i)) + std::string("\n");
        }
        after += "line 21\n";
        const std::string d = unifiedDiff(before, after);
        QCOMPARE(q(d), QString("@@ -1,5 +1,5 @@\n line 1\n-line 2\n+LINE 2\n line 3\n line 4\n line 5\n"
                               "@@ -15,6 +15,7 @@\n line 15\n line 16\n line 17\n-line 18\n+LINE 18\n line 19\n"
                               " line 20\n+line 21\n"));
        // Close changes share one hunk.
        QCOMPARE(int(std::count(d.begin(), d.end(), '@')), 8);
        const std::string close = unifiedDiff("1\n2\n3\n4\n5\n6\n", "1\nX\n3\n4\nY\n6\n");
        QCOMPARE(q(close), QString("@@ -1,6 +1,6 @@\n 1\n-2\n+X\n 3\n 4\n-5\n+Y\n 6\n"));
    }
};

QTEST_GUILESS_MAIN(TestPromptTemplate)
#include "test_prompt_template.moc"
