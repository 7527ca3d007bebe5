// The eight built-in presets: each is detected from its published dataset's columns (through a
// real import of a file in that shape), renders the intended prompt and response, and can be
// edited as JSON.
#include "datasets/dataset_import.h"
#include "datasets/dataset_presets.h"
#include "core/error.h"
#include "datasets/dataset_store.h"
#include "test_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace swarm;
using swarm::test::errorOf;
using nlohmann::json;

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

// Records shaped like each published dataset (written for this test).
std::vector<std::pair<std::string, std::vector<json>>> presetRecords() {
    const std::string system =
        "SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n"
        "{\n    \"name\": \"convert_currency\",\n    \"parameters\": {\"amount\": \"number\", \"from\": \"string\", "
        "\"to\": \"string\"}\n}";
    auto chat = [](const std::string& user, const std::string& call) {
        return "USER: " + user + "\n\n\nASSISTANT: " + call +
               " <|endoftext|>\n\n\nFUNCTION RESPONSE: {\"result\": 42}\n\n\nASSISTANT: Done. <|endoftext|>\n\n\n";
    };
    return {
        {"sql",
         {{{"question", "How many singers are older than 30?"}, {"context", "CREATE TABLE singer (name VARCHAR, age INTEGER)"},
           {"answer", "SELECT COUNT(*) FROM singer WHERE age > 30"}},
          {{"question", "List all singer names."}, {"context", "CREATE TABLE singer (name VARCHAR)"},
           {"answer", "SELECT name FROM singer"}},
          {{"question", "What is the average age?"}, {"context", "CREATE TABLE singer (age INTEGER)"},
           {"answer", "SELECT AVG(age) FROM singer"}}}},
        {"function",
         {{{"system", system},
           {"chat", chat("Convert 100 USD to EUR please.",
                         "<functioncall> {\"name\": \"convert_currency\", \"arguments\": '{\"amount\": 100, \"from\": "
                         "\"USD\", \"to\": \"EUR\"}'}")}},
          {{"system", system},
           {"chat", chat("And 5 GBP to JPY?", "<functioncall> {\"name\": \"convert_currency\", \"arguments\": "
                                               "'{\"amount\": 5, \"from\": \"GBP\", \"to\": \"JPY\"}'}")}},
          {{"system", system}, {"chat", chat("Thanks! What can you do?", "I can convert currencies for you.")}}}},
        {"extract",
         {{{"query", "What's the weather in Oslo?"},
           {"tools", "[{\"name\": \"weather\", \"parameters\": {\"city\": {\"type\": \"str\"}}}]"},
           {"answers", "[{\"name\": \"weather\", \"arguments\": {\"city\": \"Oslo\"}}]"}},
          {{"query", "Weather in Lima and Quito"},
           {"tools", json::array({{{"name", "weather"}, {"parameters", {{"city", {{"type", "str"}}}}}}})},
           {"answers", json::array({{{"name", "weather"}, {"arguments", {{"city", "Lima"}}}},
                                    {{"name", "weather"}, {"arguments", {{"city", "Quito"}}}}})}},
          {{"query", "Convert 3 miles to km"}, {"tools", "[{\"name\": \"convert\"}]"},
           {"answers", "[{\"name\": \"convert\", \"arguments\": {\"miles\": 3}}]"}}}},
        {"commit",
         {{{"old_contents", "def add(a, b):\n    return a - b\n"}, {"new_contents", "def add(a, b):\n    return a + b\n"},
           {"subject", "Fix add() returning the difference"}, {"message", "Fix add() returning the difference\n"},
           {"lang", "Python"}},
          {{"old_contents", "x = 1\n"}, {"new_contents", "x = 1\ny = 2\n"}, {"subject", "Add y"},
           {"message", "Add y"}, {"lang", "Python"}},
          {{"old_contents", "a\n"}, {"new_contents", "b\n"}, {"subject", "Replace a with b"}, {"message", "m"}}}},
        {"summary",
         {{{"dialogue", "#Person1#: Did you book the table?\n#Person2#: Yes, for eight at seven."},
           {"summary", "#Person2# booked a table for eight people at seven."}, {"topic", "restaurant booking"}},
          {{"dialogue", "#Person1#: Is the meeting moved?\n#Person2#: To Friday."},
           {"summary", "The meeting moved to Friday."}, {"topic", "meeting"}},
          {{"dialogue", "#Person1#: Hi.\n#Person2#: Hello."}, {"summary", "They greet each other."}, {"topic", "greeting"}}}},
        {"router",
         {{{"instruction", "i want to cancel order 1234"}, {"intent", "cancel_order"}, {"category", "ORDER"},
           {"response", "I can help with cancelling {{Order Number}}."}},
          {{"instruction", "where is my refund"}, {"intent", "track_refund"}, {"category", "REFUND"},
           {"response", "Refunds take 5 days."}},
          {{"instruction", "talk to a human"}, {"intent", "contact_human_agent"}, {"category", "CONTACT"},
           {"response", "Transferring you now."}}}},
        {"prompt",
         {{{"Prompt", "a castle on a hill at dawn, highly detailed, digital painting, artstation"}},
          {{"Prompt", "portrait of an old sailor, oil on canvas, dramatic lighting"}},
          {{"Prompt", "a red fox in the snow"}}}},
        {"pii",
         {{{"source_text", "Call Anna Berg at +46 8 123 456."}, {"target_text", "Call [NAME] at [PHONE]."},
           {"privacy_mask", json::array({{{"value", "Anna Berg"}, {"start", 5}, {"end", 14}, {"label", "NAME"}}})}},
          {{"source_text", "Mail bo@example.com"}, {"target_text", "Mail [EMAIL]"}},
          {{"source_text", "IBAN DE89370400440532013000 belongs to Jo."}, {"target_text", "IBAN [IBAN] belongs to [NAME]."}}}},
    };
}

} // namespace

class TestDatasetPresets : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private slots:
    void eightPresetsWithPublishedFieldNames() {
        const std::vector<DatasetPreset>& p = builtinPresets();
        QCOMPARE(int(p.size()), 8);
        const std::vector<std::pair<std::string, std::vector<std::string>>> want = {
            {"sql", {"question", "context", "answer"}},        {"function", {"system", "chat"}},
            {"extract", {"query", "tools", "answers"}},        {"commit", {"old_contents", "new_contents", "subject"}},
            {"summary", {"dialogue", "summary"}},              {"router", {"instruction", "intent"}},
            {"prompt", {"Prompt"}},                            {"pii", {"source_text", "target_text"}}};
        for (size_t i = 0; i < want.size(); ++i) {
            QCOMPARE(q(p[i].name), q(want[i].first));
            QCOMPARE(p[i].requiredFields, want[i].second);
            QVERIFY(!p[i].specialist.empty() && !p[i].source.empty());
        }
        QCOMPARE(q(findBuiltinPreset("NanoSQL")->name), QString("sql"));
        QCOMPARE(q(findBuiltinPreset("PII")->name), QString("pii"));
        QVERIFY(findBuiltinPreset("nope") == nullptr);
    }

    void everyPresetIsDetectedAndImports() {
        const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
        ProjectStore store = ProjectStore::create(tmp_.filePath("presets.swarm").toStdString());
        for (const auto& [name, records] : presetRecords()) {
            const std::string file = tmp_.filePath(QString::fromStdString(name) + ".jsonl").toStdString();
            {
                std::ofstream f(file);
                for (const json& r : records) f << r.dump() << "\n";
            }
            ImportOptions o;
            o.name = name;
            o.sourcePath = file;
            ImportResult r = importDataset(store, tok, o);
            QCOMPARE(q(r.report["mapping"]["preset"].get<std::string>()), q(name));
            QVERIFY2(r.counts.rowsImported == 3, (name + ": " + r.report["rejected"].dump()).c_str());
            QCOMPARE(q(DatasetStore(store).dataset(name).preset), q(name));
        }
        // What the presets made of the records.
        auto firstOf = [&](const std::string& ds) { return DatasetStore(store).examples(DatasetStore(store).dataset(ds).id, std::nullopt, 0, 1).at(0); };
        StoredExample fn = firstOf("function");
        QVERIFY2(fn.prompt.rfind("SYSTEM: You are a helpful assistant", 0) == 0, fn.prompt.c_str());
        QVERIFY2(fn.prompt.find("\n\nUSER: Convert 100 USD to EUR please.") != std::string::npos, fn.prompt.c_str());
        QVERIFY(fn.prompt.find("ASSISTANT") == std::string::npos);
        QCOMPARE(q(fn.response), QString("<functioncall> {\"name\": \"convert_currency\", \"arguments\": '{\"amount\": 100, "
                                         "\"from\": \"USD\", \"to\": \"EUR\"}'}"));
        StoredExample commit = firstOf("commit");
        QCOMPARE(q(commit.prompt), QString("Write a commit message for this Python change:\n@@ -1,2 +1,2 @@\n def add(a, b):\n"
                                           "-    return a - b\n+    return a + b\n"));
        QCOMPARE(q(commit.response), QString("Fix add() returning the difference"));
        StoredExample prompt = firstOf("prompt");
        QCOMPARE(q(prompt.prompt), QString("Write an image prompt for: a castle on a hill at dawn"));
        StoredExample sql = firstOf("sql");
        QCOMPARE(q(sql.prompt), QString("CREATE TABLE singer (name VARCHAR, age INTEGER)\n\nQuestion: How many singers are older than 30?"));
        // xlam tools as a JSON string or as real arrays both work.
        std::vector<StoredExample> ex = DatasetStore(store).examples(DatasetStore(store).dataset("extract").id, std::nullopt, 0, 3);
        QCOMPARE(q(ex[1].response), QString(R"([{"arguments":{"city":"Lima"},"name":"weather"},{"arguments":{"city":"Quito"},"name":"weather"}])"));
        QVERIFY(ex[0].prompt.rfind("Tools: [{\"name\": \"weather\"", 0) == 0);
        QCOMPARE(q(firstOf("router").response), QString("cancel_order"));
        QCOMPARE(q(firstOf("pii").response), QString("Call [NAME] at [PHONE]."));
        QCOMPARE(q(firstOf("summary").response), QString("#Person2# booked a table for eight people at seven."));
    }

    void detectionRules() {
        PresetDetection d = detectPreset({"id", "question", "context", "answer", "instruction", "intent"});
        QVERIFY(d.preset);
        QCOMPARE(q(d.preset->name), QString("sql"));   // the most specific match wins
        QCOMPARE(int(d.candidates.size()), 2);
        d = detectPreset({"prompt", "completion"});
        QVERIFY(!d.preset);
        QVERIFY(d.explanation.find("no preset matches the columns (prompt, completion)") != std::string::npos);
        // Equal matches are ambiguous.
        DatasetPreset a = builtinPresets()[0], b = builtinPresets()[0];
        a.name = "a";
        b.name = "b";
        d = detectPreset({"question", "context", "answer"}, {a, b});
        QVERIFY(!d.preset);
        QVERIFY(d.explanation.find("several presets equally (a, b)") != std::string::npos);
    }

    void presetsAreEditableAsJson() {
        json j = findBuiltinPreset("sql")->toJson();
        QCOMPARE(q(j["chat_format"].get<std::string>()), QString(ChatFormat::kDefault));
        j["name"] = "sql-terse";
        j["prompt_template"] = "Schema: {context}\nQ: {question}";
        j["max_len"] = 512;
        DatasetPreset edited = DatasetPreset::fromJson(j, "edit.json");
        QCOMPARE(q(edited.name), QString("sql-terse"));
        QCOMPARE(edited.maxLen, 512);
        QVERIFY(edited.chatFormat.empty());   // the default is stored as "default"
        QCOMPARE(edited.toJson()["prompt_template"], j["prompt_template"]);

        // Required fields are derived from the templates when not given.
        DatasetPreset derived = DatasetPreset::fromJson(
            {{"name", "chat"}, {"prompt_template", "{chat[0].content}"}, {"response_template", "{chat[1].content|trim}"}}, "x");
        QCOMPARE(derived.requiredFields, (std::vector<std::string>{"chat"}));

        QVERIFY(errorOf([] { DatasetPreset::fromJson({{"name", "x"}, {"prompt_template", "{a"}, {"response_template", "{b}"}}, "p.json"); })
                    .find("p.json: preset 'x': template '{a'") != std::string::npos);
        QVERIFY(errorOf([] { DatasetPreset::fromJson({{"name", "x"}, {"response_template", "{b}"}}, "p.json"); })
                    .find("no 'prompt_template'") != std::string::npos);
        QVERIFY(errorOf([] { DatasetPreset::fromJson({{"name", "x"}, {"prompt_template", "text only"}, {"response_template", "{b}"}}, "p"); })
                    .find("reads no field") != std::string::npos);
        QVERIFY(errorOf([] { DatasetPreset::fromJson(json::array(), "p"); }).find("must be a JSON object") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestDatasetPresets)
#include "test_dataset_presets.moc"
