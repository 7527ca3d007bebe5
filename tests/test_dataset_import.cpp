// The import pipeline end to end: exact rejections for every malformed case, prompt masking,
// length policy, deterministic splits, duplicates and leakage, and all-or-nothing imports
// (cancel, structural errors, a process killed mid-import).
#include "datasets/dataset_import.h"
#include "core/error.h"
#include "datasets/dataset_store.h"
#include "test_util.h"

#include <sqlite3.h>

#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

using namespace swarm;
using swarm::test::errorOf;
using swarm::test::writeFile;
using nlohmann::json;

namespace {

const std::string kData = std::string(SWARM_TEST_DATA_DIR) + "/datasets/";

QString q(const std::string& s) { return QString::fromStdString(s); }

void writeJsonl(const std::string& path, const std::vector<json>& rows) {
    std::ofstream f(path, std::ios::binary);
    for (const json& r : rows) f << r.dump() << "\n";
}

const Gpt2Tokenizer& tokenizer() {
    static const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
    return tok;
}

ImportOptions questionAnswer(const std::string& name, const std::string& file) {
    ImportOptions o;
    o.name = name;
    o.sourcePath = file;
    o.promptTemplate = "{question}";
    o.responseTemplate = "{answer}";
    return o;
}

struct Rej {
    int64_t record, line;
    std::string reason;
};

void compareRejected(const std::vector<RejectedRow>& got, const std::vector<Rej>& want) {
    QCOMPARE(int(got.size()), int(want.size()));
    for (size_t i = 0; i < want.size(); ++i) {
        const std::string where = "row " + std::to_string(i) + ": " + got[i].reason + " " + got[i].detail;
        QVERIFY2(got[i].recordNumber == want[i].record, where.c_str());
        QVERIFY2(got[i].line == want[i].line, where.c_str());
        QVERIFY2(got[i].reason == want[i].reason, where.c_str());
    }
}

int64_t count(ProjectStore& s, const std::string& table) {
    SqlStatement st(s.handle(), "SELECT count(*) FROM " + table);
    return st.step() ? st.columnInt(0) : -1;
}

// n rows of roughly `words` words each, some prompts repeated (same prompt, other response).
std::vector<json> syntheticRows(int n, int words = 20) {
    static const char* vocab[] = {"alpha", "beta", "gamma", "delta", "table", "select", "count", "where", "order",
                                  "price", "city", "name", "year", "total", "average", "group"};
    std::vector<json> rows;
    for (int i = 0; i < n; ++i) {
        const int k = i % (n - n / 10);
        std::string p = "Question " + std::to_string(k) + ":";
        for (int w = 0; w < words; ++w) p += std::string(" ") + vocab[(k * 7 + w * 3 + w * w) % 16];
        rows.push_back({{"question", p}, {"answer", "SELECT " + std::to_string(i) + " FROM t"}});
    }
    return rows;
}

} // namespace

class TestDatasetImport : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string path(const std::string& name) { return tmp_.filePath(QString::fromStdString(name)).toStdString(); }

private slots:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void jsonlMalformedRowsExactly() {
        ProjectStore s = ProjectStore::create(path("bad-jsonl.swarm"));
        ImportResult r = importDataset(s, tokenizer(), questionAnswer("bad", kData + "bad_rows.jsonl"));
        QCOMPARE(r.counts.rowsRead, int64_t(12));
        QCOMPARE(r.counts.rowsImported, int64_t(2));
        QCOMPARE(r.counts.rowsRejected, int64_t(10));
        const std::vector<RejectedRow> rows = DatasetStore(s).rejectedRows(r.datasetId);
        compareRejected(rows, {{2, 2, "malformed_json"},
                               {3, 3, "invalid_utf8"},
                               {4, 4, "missing_field"},
                               {5, 5, "not_a_string"},
                               {6, 6, "empty_prompt"},
                               {7, 7, "empty_response"},
                               {8, 8, "too_long"},
                               {9, 9, "not_an_object"},
                               {10, 11, "duplicate"},
                               {12, 13, "not_a_string"}});
        QVERIFY(rows[0].detail.rfind("malformed JSON: ", 0) == 0);
        QCOMPARE(q(rows[1].detail), QString("invalid UTF-8 at byte 18 of the line"));
        QCOMPARE(q(rows[2].detail), QString("prompt field 'question': no field 'question'"));
        QCOMPARE(q(rows[3].detail), QString("prompt field 'question': is a number, not a string (write {question|json} to use it as JSON)"));
        QCOMPARE(q(rows[4].detail), QString("the prompt fields are empty"));
        QCOMPARE(q(rows[5].detail), QString("the response is empty"));
        QVERIFY2(rows[6].detail.find("over max_len 1024; the response is too long to fit even with the prompt truncated") !=
                     std::string::npos,
                 rows[6].detail.c_str());
        QCOMPARE(q(rows[7].detail), QString("the line is an array, not a JSON object"));
        QCOMPARE(q(rows[8].detail), QString("exact duplicate of record 1 (same prompt and response)"));
        QCOMPARE(q(rows[9].detail), QString("response field 'answer': is an object, not a string (write {answer|json} to use it as JSON)"));
        // The report says the same, kept in the project.
        const json rep = DatasetStore(s).validationReport(r.datasetId);
        QCOMPARE(rep["counts"]["rejected"].get<int>(), 10);
        QCOMPARE(rep["rejected_by_reason"]["not_a_string"].get<int>(), 2);
        QCOMPARE(rep["rejected"].size(), size_t(10));
        QCOMPARE(rep["duplicates"]["count"].get<int>(), 1);
        QCOMPARE(rep["rejected"][0]["line"].get<int>(), 2);
        const std::vector<StoredExample> ex = DatasetStore(s).examples(r.datasetId, std::nullopt, 0, 10);
        QCOMPARE(ex[0].recordNumber, int64_t(1));
        QCOMPARE(ex[1].recordNumber, int64_t(11));
    }

    void csvMalformedRowsExactly() {
        ProjectStore s = ProjectStore::create(path("bad-csv.swarm"));
        ImportResult r = importDataset(s, tokenizer(), questionAnswer("bad", kData + "bad_rows.csv"));
        QCOMPARE(r.counts.rowsRead, int64_t(10));
        QCOMPARE(r.counts.rowsImported, int64_t(3));
        compareRejected(DatasetStore(s).rejectedRows(r.datasetId), {{3, 5, "malformed_csv"},
                                                       {4, 6, "malformed_csv"},
                                                       {5, 7, "malformed_csv"},
                                                       {6, 8, "invalid_utf8"},
                                                       {7, 9, "empty_response"},
                                                       {8, 10, "empty_prompt"},
                                                       {10, 12, "malformed_csv"}});
        const std::vector<StoredExample> ex = DatasetStore(s).examples(r.datasetId, std::nullopt, 0, 10);
        QCOMPARE(q(ex[1].prompt), QString("Which heads were born\nin Alabama?"));
        QCOMPARE(q(ex[2].prompt), QString("He said \"hi\""));
    }

    void jsonArrayMalformedRowsExactly() {
        ProjectStore s = ProjectStore::create(path("bad-json.swarm"));
        ImportResult r = importDataset(s, tokenizer(), questionAnswer("bad", kData + "bad_rows.json"));
        QCOMPARE(r.counts.rowsImported, int64_t(2));
        compareRejected(DatasetStore(s).rejectedRows(r.datasetId),
                        {{2, 3, "malformed_json"}, {3, 4, "not_an_object"}, {4, 5, "invalid_utf8"}, {6, 8, "not_a_string"}});
        QCOMPARE(q(DatasetStore(s).rejectedRows(r.datasetId)[3].detail),
                 QString("prompt field 'question': is null, not a string (add |default:TEXT to allow it)"));
    }

    void maskingIsExact() {
        const std::string file = path("mask.jsonl");
        writeJsonl(file, {{{"question", "How many heads of the departments are older than 56?"},
                           {"answer", "SELECT COUNT(*) FROM head WHERE age > 56"}},
                          {{"question", "Café au lait — ünïcödé ✓?"}, {"answer", "Ja, natürlich! 日本語"}},
                          {{"question", "Text with <|endoftext|> inside"}, {"answer", "stays <|endoftext|> text"}}});
        ProjectStore s = ProjectStore::create(path("mask.swarm"));
        ImportResult r = importDataset(s, tokenizer(), questionAnswer("m", file));
        QCOMPARE(r.counts.rowsImported, int64_t(3));
        const Gpt2Tokenizer& tok = tokenizer();
        for (const StoredExample& e : DatasetStore(s).examples(r.datasetId, std::nullopt, 0, 10)) {
            const std::vector<int32_t> labels = labelsFor(e.ids, e.promptLen);
            for (int32_t i = 0; i < int32_t(e.ids.size()); ++i)
                QCOMPARE(labels[size_t(i)], i < e.promptLen ? -100 : e.ids[size_t(i)]);
            const std::vector<int32_t> prompt(e.ids.begin(), e.ids.begin() + e.promptLen);
            const std::vector<int32_t> trained(e.ids.begin() + e.promptLen, e.ids.end());
            QCOMPARE(q(tok.decode(prompt)), q("User: " + e.prompt + "\nAssistant:"));
            QCOMPARE(q(tok.decode(trained)), q(" " + e.response + "<|endoftext|>"));
            QCOMPARE(trained.back(), Gpt2Tokenizer::kEndOfText);
            // The only special token is the final EOS: text that spells it stays text.
            QCOMPARE(int(std::count(e.ids.begin(), e.ids.end(), Gpt2Tokenizer::kEndOfText)), 1);
            // Exactly the two parts tokenised separately.
            std::vector<int32_t> want = tok.encode("User: " + e.prompt + "\nAssistant:", false);
            const std::vector<int32_t> resp = tok.encode(" " + e.response, false);
            want.insert(want.end(), resp.begin(), resp.end());
            want.push_back(Gpt2Tokenizer::kEndOfText);
            QCOMPARE(e.ids, want);
        }
        // The trainer's view of the same data.
        std::vector<TrainingExample> all;
        for (Split sp : {Split::Train, Split::Validation, Split::Test})
            for (TrainingExample& t : DatasetStore(s).trainingExamples(r.datasetId, sp)) all.push_back(t);
        QCOMPARE(int(all.size()), 3);

        // A custom chat format splits at its {response}.
        ImportOptions o = questionAnswer("custom", file);
        o.chatFormat = "### Question:\n{prompt}\n### Answer:\n{response}<|endoftext|>";
        ImportResult c = importDataset(s, tokenizer(), o);
        StoredExample e = DatasetStore(s).examples(c.datasetId, std::nullopt, 0, 1).at(0);
        const std::vector<int32_t> trained(e.ids.begin() + e.promptLen, e.ids.end());
        QCOMPARE(q(tok.decode(trained)), q("\n" + e.response + "<|endoftext|>"));
        const std::vector<int32_t> prompt(e.ids.begin(), e.ids.begin() + e.promptLen);
        QCOMPARE(q(tok.decode(prompt)), q("### Question:\n" + e.prompt + "\n### Answer:"));
    }

    void truncationFromThePromptSideAndDrop() {
        std::vector<json> rows;
        std::string longPrompt;
        for (int i = 0; i < 400; ++i) longPrompt += " word" + std::to_string(i);
        rows.push_back({{"question", "short one"}, {"answer", "ok"}});
        rows.push_back({{"question", "BEGIN" + longPrompt + " END"}, {"answer", "the answer"}});
        rows.push_back({{"question", "another long" + longPrompt}, {"answer", "second answer"}});
        std::string longAnswer;
        for (int i = 0; i < 300; ++i) longAnswer += " token" + std::to_string(i);
        rows.push_back({{"question", "q"}, {"answer", longAnswer}});
        const std::string file = path("long.jsonl");
        writeJsonl(file, rows);
        const Gpt2Tokenizer& tok = tokenizer();

        ProjectStore s = ProjectStore::create(path("long.swarm"));
        ImportOptions o = questionAnswer("trunc", file);
        o.maxLen = 128;
        ImportResult r = importDataset(s, tok, o);
        QCOMPARE(r.counts.rowsImported, int64_t(3));
        QCOMPARE(r.counts.nTruncated, int64_t(2));
        compareRejected(DatasetStore(s).rejectedRows(r.datasetId), {{4, 4, "too_long"}});
        QCOMPARE(r.report["counts"]["truncated"].get<int>(), 2);
        QVERIFY(r.report["counts"]["truncated_tokens"].get<int>() > 500);
        const std::vector<StoredExample> ex = DatasetStore(s).examples(r.datasetId, std::nullopt, 0, 10);
        QCOMPARE(ex[0].truncatedTokens, 0);
        const StoredExample& t = ex[1];
        QCOMPARE(int(t.ids.size()), 128);
        QVERIFY(t.truncatedTokens > 0);
        const std::vector<int32_t> prompt(t.ids.begin(), t.ids.begin() + t.promptLen);
        const std::string promptText = tok.decode(prompt);
        // The start of the prompt went; the format's "User:" and "\nAssistant:" and the end stayed.
        QVERIFY2(promptText.rfind("User:", 0) == 0, promptText.c_str());
        QVERIFY(promptText.find("BEGIN") == std::string::npos);
        QVERIFY2(promptText.size() > 20 && promptText.compare(promptText.size() - 15, 15, " END\nAssistant:") == 0,
                 promptText.c_str());
        QCOMPARE(q(tok.decode(std::vector<int32_t>(t.ids.begin() + t.promptLen, t.ids.end()))),
                 QString(" the answer<|endoftext|>"));
        QCOMPARE(t.promptLen + t.truncatedTokens, int32_t(tok.encode("User: " + t.prompt + "\nAssistant:", false).size()));

        o.name = "drop";
        o.overlong = OverlongPolicy::Drop;
        ImportResult d = importDataset(s, tok, o);
        QCOMPARE(d.counts.rowsImported, int64_t(1));
        QCOMPARE(d.counts.nTruncated, int64_t(0));
        compareRejected(DatasetStore(s).rejectedRows(d.datasetId), {{2, 2, "too_long"}, {3, 3, "too_long"}, {4, 4, "too_long"}});
        QVERIFY(DatasetStore(s).rejectedRows(d.datasetId)[0].detail.find("over max_len 128 (over-long rows are dropped)") != std::string::npos);
        QCOMPARE(d.report["rejected_by_reason"]["too_long"].get<int>(), 3);
    }

    void splitIsDeterministicBySeed() {
        const std::string file = path("split.jsonl");
        writeJsonl(file, syntheticRows(2000));
        ProjectStore s = ProjectStore::create(path("split.swarm"));
        auto splits = [&](const std::string& name, uint64_t seed, const std::string& ratio) {
            ImportOptions o = questionAnswer(name, file);
            o.seed = seed;
            o.split = SplitSpec::parse(ratio);
            ImportResult r = importDataset(s, tokenizer(), o);
            std::map<int64_t, Split> m;
            DatasetStore(s).forEachExample(r.datasetId, std::nullopt, [&](const StoredExample& e) {
                m[e.recordNumber] = e.split;
                return true;
            });
            return std::make_pair(r, m);
        };
        auto [a, splitA] = splits("a", 7, "0.9,0.05,0.05");
        auto [b, splitB] = splits("b", 7, "0.9,0.05,0.05");
        auto [c, splitC] = splits("c", 8, "90,5,5");
        QCOMPARE(splitA, splitB);
        QVERIFY(splitA != splitC);
        QCOMPARE(a.counts.rowsImported, int64_t(2000));
        QVERIFY(std::abs(a.counts.nTest - 100) <= 2 && std::abs(a.counts.nValidation - 100) <= 2);
        QCOMPARE(a.counts.nTrain + a.counts.nValidation + a.counts.nTest, int64_t(2000));
        QCOMPARE(DatasetStore(s).exampleCount(a.datasetId, Split::Test), a.counts.nTest);
        // Rows sharing a prompt share a split: no leakage by construction.
        QCOMPARE(a.report["leakage"]["train_test"].get<int>(), 0);
        QCOMPARE(a.report["leakage"]["train_validation"].get<int>(), 0);
        std::map<std::string, std::set<int>> splitsOfPrompt;
        DatasetStore(s).forEachExample(a.datasetId, std::nullopt, [&](const StoredExample& e) {
            splitsOfPrompt[e.prompt].insert(int(e.split));
            return true;
        });
        QVERIFY(splitsOfPrompt.size() < 2000);
        for (const auto& [p, set] : splitsOfPrompt) QCOMPARE(int(set.size()), 1);
        auto [d, splitD] = splits("d", 7, "0.8,0.2");
        QCOMPARE(d.counts.nTest, int64_t(0));
        QVERIFY(std::abs(d.counts.nValidation - 400) <= 2);
        QVERIFY(!errorOf([] { SplitSpec::parse("0.9"); }).empty());
        QVERIFY(!errorOf([] { SplitSpec::parse("a,b"); }).empty());
        QVERIFY(!errorOf([] { SplitSpec::parse("0,1,0"); }).empty());
        QVERIFY(!errorOf([] { SplitSpec::parse("0.5,-0.1,0.6"); }).empty());
    }

    void duplicatesAndLeakageAreReported() {
        ProjectStore s = ProjectStore::create(path("leak.swarm"));
        ImportOptions o = questionAnswer("leak", kData + "split_column.jsonl");
        o.split = SplitSpec::fromColumn("split");
        ImportResult r = importDataset(s, tokenizer(), o);
        QCOMPARE(r.counts.rowsImported, int64_t(7));
        compareRejected(DatasetStore(s).rejectedRows(r.datasetId), {{7, 7, "bad_split"}, {9, 9, "duplicate"}});
        QCOMPARE(q(DatasetStore(s).rejectedRows(r.datasetId)[0].detail),
                 QString("split field 'split' is 'holdout', expected train, validation or test"));
        QCOMPARE(r.counts.nTrain, int64_t(3));
        QCOMPARE(r.counts.nValidation, int64_t(2));
        QCOMPARE(r.counts.nTest, int64_t(2));
        const json& leak = r.report["leakage"];
        QCOMPARE(leak["train_test"].get<int>(), 1);         // q1
        QCOMPARE(leak["train_validation"].get<int>(), 1);   // q2
        QCOMPARE(leak["validation_test"].get<int>(), 0);
        QCOMPARE(leak["examples"][0]["records"], json::array({1, 4}));
        QCOMPARE(leak["examples"][0]["splits"], json::array({"train", "test"}));
        QVERIFY(r.report["warnings"].dump().find("leakage") != std::string::npos);
        QCOMPARE(r.report["duplicates"]["examples"][0]["duplicate_of"].get<int>(), 8);

        o.name = "keep";
        o.dropDuplicates = false;
        ImportResult k = importDataset(s, tokenizer(), o);
        QCOMPARE(k.counts.rowsImported, int64_t(8));
        QCOMPARE(k.report["duplicates"]["count"].get<int>(), 1);
        QCOMPARE(k.report["duplicates"]["dropped"].get<bool>(), false);

        o.name = "nocol";
        o.split = SplitSpec::fromColumn("fold");
        QVERIFY(errorOf([&] { importDataset(s, tokenizer(), o); }).find("split column 'fold' is not among the columns") !=
                std::string::npos);
    }

    void otherFormatsAndNestedPaths() {
        ProjectStore s = ProjectStore::create(path("formats.swarm"));
        ImportOptions w;
        w.name = "wrapped";
        w.sourcePath = kData + "wrapped.json";
        ImportResult r = importDataset(s, tokenizer(), w);   // router preset, detected
        QCOMPARE(r.counts.rowsImported, int64_t(3));
        QCOMPARE(q(DatasetStore(s).dataset("wrapped").preset), QString("router"));
        QCOMPARE(q(DatasetStore(s).dataset("wrapped").mapping["json_key"].get<std::string>()), QString("data"));
        QVERIFY(r.report["source"]["bom"].get<bool>());

        ImportOptions n;
        n.name = "nested";
        n.sourcePath = kData + "nested.jsonl";
        n.promptTemplate = "[{meta.lang}] {chat[0].content}";
        n.responseTemplate = "{chat[1].content}";
        r = importDataset(s, tokenizer(), n);
        QCOMPARE(r.counts.rowsImported, int64_t(2));
        compareRejected(DatasetStore(s).rejectedRows(r.datasetId), {{3, 3, "missing_field"}});
        QCOMPARE(q(DatasetStore(s).rejectedRows(r.datasetId)[0].detail), QString("response field 'chat[1].content': chat has 1 element, no index 1"));
        QCOMPARE(q(DatasetStore(s).examples(r.datasetId, std::nullopt, 1, 1).at(0).prompt), QString("[fr] Bonjour"));

        r = importDataset(s, tokenizer(), questionAnswer("crlf", kData + "bom_crlf.csv"));
        QCOMPARE(r.counts.rowsImported, int64_t(2));
        QCOMPARE(q(r.report["source"]["format"].get<std::string>()), QString("csv"));
        r = importDataset(s, tokenizer(), questionAnswer("tsv", kData + "simple.tsv"));
        QCOMPARE(r.counts.rowsImported, int64_t(3));

        // No preset matches and no templates: a clear message, nothing written.
        ImportOptions none;
        none.name = "none";
        none.sourcePath = kData + "nested.jsonl";
        QVERIFY(errorOf([&] { importDataset(s, tokenizer(), none); }).find("no preset matches the columns (chat, id, meta)") !=
                std::string::npos);
        none.presetName = "sqlx";
        QVERIFY(errorOf([&] { importDataset(s, tokenizer(), none); }).find("unknown preset 'sqlx'") != std::string::npos);
        QVERIFY(!DatasetStore(s).findDataset("none"));
    }

    void wholeFileFailuresLeaveTheProjectUnchanged() {
        const std::string p = path("unchanged.swarm");
        ProjectStore s = ProjectStore::create(p);
        importDataset(s, tokenizer(), questionAnswer("existing", kData + "bad_rows.csv"));
        const int64_t examplesBefore = count(s, "examples");

        const std::string empty = path("empty.jsonl");
        writeFile(empty, "");
        std::string bin;
        for (int i = 0; i < 100000; ++i) bin += char((i * 2654435761u) >> 13);
        bin[100] = '\0';
        const std::string binary = path("binary.jsonl");
        writeFile(binary, bin);
        const std::string giant = path("giant.json");
        writeFile(giant, "\"" + std::string(11 << 20, 'x') + "\"");
        const std::string allBad = path("allbad.jsonl");
        writeFile(allBad, "{not json\n{\"question\": 1}\n");
        const std::string onlyHeader = path("header.csv");
        writeFile(onlyHeader, "question,answer\n");
        const std::vector<std::pair<std::string, std::string>> cases = {
            {empty, "empty.jsonl is empty (0 bytes)"},
            {binary, "looks like a binary file"},
            {giant, "giant.json: the file is one JSON string, not records"},
            {allBad, "nothing to import: all 2 records were rejected (malformed_json: 1, not_a_string: 1); first: record 1 (line 1)"},
            {onlyHeader, "nothing to import: the file has no records"},
        };
        for (const auto& [file, want] : cases) {
            const std::string e = errorOf([&] { importDataset(s, tokenizer(), questionAnswer("new", file)); });
            QVERIFY2(e.find(want) != std::string::npos, e.c_str());
            QCOMPARE(int(DatasetStore(s).datasets().size()), 1);
            QCOMPARE(count(s, "examples"), examplesBefore);
            QCOMPARE(count(s, "rejected_rows"), int64_t(7));
        }
        // A structure error deep in a JSON array, after thousands of good records: all or nothing.
        std::string arr = "[";
        for (int i = 0; i < 5000; ++i) arr += (i ? "," : "") + json{{"question", "q" + std::to_string(i)}, {"answer", "a"}}.dump();
        arr += " {\"question\": \"x\"}]";
        const std::string broken = path("broken.json");
        writeFile(broken, arr);
        const std::string e = errorOf([&] { importDataset(s, tokenizer(), questionAnswer("new", broken)); });
        QVERIFY2(e.find("expected ',' or ']' after record 5000") != std::string::npos, e.c_str());
        QCOMPARE(int(DatasetStore(s).datasets().size()), 1);
        QCOMPARE(count(s, "examples"), examplesBefore);
        // The name is free again.
        QCOMPARE(importDataset(s, tokenizer(), questionAnswer("new", kData + "bad_rows.jsonl")).counts.rowsImported, int64_t(2));
    }

    void tenMegabyteField() {
        const std::string file = path("tenmb.jsonl");
        writeFile(file, json{{"question", "before"}, {"answer", "a"}}.dump() + "\n" +
                            json{{"question", std::string(10 << 20, 'q')}, {"answer", "b"}}.dump() + "\n" +
                            json{{"question", "after"}, {"answer", "c"}}.dump() + "\n");
        ProjectStore s = ProjectStore::create(path("tenmb.swarm"));
        ImportResult r = importDataset(s, tokenizer(), questionAnswer("big", file));
        QCOMPARE(r.counts.rowsImported, int64_t(2));
        compareRejected(DatasetStore(s).rejectedRows(r.datasetId), {{2, 2, "too_long"}});
        QVERIFY(DatasetStore(s).rejectedRows(r.datasetId)[0].detail.find("over the limit of 4.0 MiB per record") != std::string::npos);
        // With a higher record limit the row is read, tokenised and truncated to max_len.
        ImportOptions o = questionAnswer("big2", file);
        o.reader.maxRecordBytes = 16 << 20;
        o.maxLen = 64;
        r = importDataset(s, tokenizer(), o);
        QCOMPARE(r.counts.rowsImported, int64_t(3));
        QCOMPARE(r.counts.nTruncated, int64_t(1));
    }

    void cancelRollsBack() {
        const std::string file = path("cancel.jsonl");
        writeJsonl(file, syntheticRows(6000));
        ProjectStore s = ProjectStore::create(path("cancel.swarm"));
        std::atomic<bool> cancel{false};
        int calls = 0;
        ImportOptions o = questionAnswer("c", file);
        o.cancel = &cancel;
        o.progress = [&](const ImportProgress& p) {
            QVERIFY(p.imported > 0);
            if (++calls == 2) cancel = true;
        };
        bool cancelled = false;
        try {
            importDataset(s, tokenizer(), o);
        } catch (const ImportCancelled& e) {
            cancelled = true;
            QVERIFY(std::string(e.what()).find("unchanged") != std::string::npos);
        }
        QVERIFY(cancelled);
        QCOMPARE(calls, 2);
        QVERIFY(DatasetStore(s).datasets().empty());
        QCOMPARE(count(s, "examples"), int64_t(0));

        // Progress reaches the end on a normal run.
        std::vector<ImportProgress> seen;
        o.cancel = nullptr;
        o.progress = [&](const ImportProgress& p) { seen.push_back(p); };
        ImportResult r = importDataset(s, tokenizer(), o);
        QVERIFY(seen.size() >= 6);
        QCOMPARE(seen.back().bytesRead, seen.back().bytesTotal);
        QCOMPARE(seen.back().imported, r.counts.rowsImported);
        for (size_t i = 1; i < seen.size(); ++i) QVERIFY(seen[i].bytesRead >= seen[i - 1].bytesRead);
    }

    void killedProcessLeavesNoPartialDataset() {
        const std::string file = path("crash.jsonl");
        writeJsonl(file, syntheticRows(20000, 40));
        const std::string p = path("crash.swarm");
        { ProjectStore::create(p); }
        const pid_t child = fork();
        QVERIFY(child >= 0);
        if (child == 0) {
            // The child imports and is killed after two chunks are in the (uncommitted) transaction.
            try {
                ProjectStore s = ProjectStore::open(p);
                ImportOptions o = questionAnswer("crash", file);
                o.threads = 1;
                int chunks = 0;
                o.progress = [&](const ImportProgress&) {
                    if (++chunks == 3) raise(SIGKILL);
                };
                importDataset(s, tokenizer(), o);
            } catch (...) {
            }
            _exit(3);   // not reached when the kill lands
        }
        int status = 0;
        QCOMPARE(waitpid(child, &status, 0), child);
        QVERIFY(WIFSIGNALED(status));
        QCOMPARE(WTERMSIG(status), SIGKILL);
        QVERIFY(QFile::exists(QString::fromStdString(p + "-wal")));   // the dead writer's log is there

        ProjectStore s = ProjectStore::open(p);
        SqlStatement check(s.handle(), "PRAGMA integrity_check");
        QVERIFY(check.step());
        QCOMPARE(q(check.columnText(0)), QString("ok"));
        QVERIFY(DatasetStore(s).datasets().empty());
        QCOMPARE(count(s, "examples"), int64_t(0));
        QCOMPARE(count(s, "rejected_rows"), int64_t(0));
        ImportResult r = importDataset(s, tokenizer(), questionAnswer("crash", file));
        QCOMPARE(r.counts.rowsImported, int64_t(20000));
    }

    void dryRunWritesNothing() {
        ProjectStore s = ProjectStore::create(path("dry.swarm"));
        ImportOptions o = questionAnswer("dry", kData + "bad_rows.jsonl");
        o.dryRun = true;
        ImportResult r = importDataset(s, tokenizer(), o);
        QCOMPARE(r.datasetId, int64_t(0));
        QCOMPARE(r.counts.rowsImported, int64_t(2));
        QCOMPARE(r.report["rejected"].size(), size_t(10));
        QVERIFY(r.report["dry_run"].get<bool>());
        QVERIFY(DatasetStore(s).datasets().empty());
        QCOMPARE(count(s, "rejected_rows"), int64_t(0));
    }

    void threadsGiveIdenticalResults() {
        const std::string file = path("threads.jsonl");
        writeJsonl(file, syntheticRows(3000, 30));
        ProjectStore s = ProjectStore::create(path("threads.swarm"));
        ImportOptions one = questionAnswer("one", file), four = questionAnswer("four", file);
        one.threads = 1;
        four.threads = 4;
        const int64_t a = importDataset(s, tokenizer(), one).datasetId, b = importDataset(s, tokenizer(), four).datasetId;
        for (Split sp : {Split::Train, Split::Validation, Split::Test}) {
            std::vector<TrainingExample> x = DatasetStore(s).trainingExamples(a, sp), y = DatasetStore(s).trainingExamples(b, sp);
            QCOMPARE(x.size(), y.size());
            for (size_t i = 0; i < x.size(); ++i) {
                QCOMPARE(x[i].ids, y[i].ids);
                QCOMPARE(x[i].promptLen, y[i].promptLen);
            }
        }
    }

    void lengthStatistics() {
        const json s = lengthStats({5, 1, 3, 2, 4, 100, 7, 8, 9, 10}, 4);
        QCOMPARE(s["min"].get<int>(), 1);
        QCOMPARE(s["max"].get<int>(), 100);
        QCOMPARE(s["median"].get<int>(), 6);   // (5 + 7) / 2
        QCOMPARE(s["p95"].get<int>(), 100);
        QCOMPARE(s["mean"].get<double>(), 14.9);
        QCOMPARE(s["histogram"]["bin_width"].get<int>(), 26);
        QCOMPARE(s["histogram"]["counts"], json::array({9, 0, 0, 1}));
        int64_t total = 0;
        for (const json& c : s["histogram"]["counts"]) total += c.get<int64_t>();
        QCOMPARE(total, int64_t(10));
        QCOMPARE(lengthStats({}, 4)["count"].get<int>(), 0);
    }
};

QTEST_GUILESS_MAIN(TestDatasetImport)
#include "test_dataset_import.moc"
