// The bundled sample datasets: deterministic, unique, realistic, and correct: every SQL answer
// runs in SQLite against its CREATE TABLE context, every IBAN has a valid checksum, every PII
// placeholder sits exactly where its span was. The presets detect all three files.
#include "datasets/dataset_import.h"
#include "datasets/sample_generators.h"

#include <sqlite3.h>

#include <QTemporaryDir>
#include <QtTest>

#include <map>
#include <set>

using namespace swarm;
using nlohmann::json;

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

// Code-point offsets -> byte offsets.
size_t byteOffset(const std::string& s, size_t codePoint) {
    size_t cp = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (cp == codePoint) return i;
            ++cp;
        }
    }
    return s.size();
}

} // namespace

class TestSampleDatasets : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private slots:
    void everySqlAnswerRunsAgainstItsContext() {
        const std::vector<json> rows = samples::sqlSamples();
        QCOMPARE(int(rows.size()), 10000);
        std::map<std::string, int> features;
        std::set<std::string> tables;
        int withRows = 0;
        for (size_t i = 0; i < rows.size(); ++i) {
            const std::string context = rows[i]["context"], answer = rows[i]["answer"], question = rows[i]["question"];
            QVERIFY(!question.empty() && question.back() != ' ');
            sqlite3* db = nullptr;
            QCOMPARE(sqlite3_open(":memory:", &db), SQLITE_OK);
            char* err = nullptr;
            const int rc = sqlite3_exec(db, context.c_str(), nullptr, nullptr, &err);
            QVERIFY2(rc == SQLITE_OK, (std::to_string(i) + ": " + context + ": " + (err ? err : "")).c_str());
            // A few rows in every table, so that the queries run over data.
            sqlite3_stmt* list = nullptr;
            sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &list, nullptr);
            std::vector<std::string> names;
            while (sqlite3_step(list) == SQLITE_ROW) names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(list, 0)));
            sqlite3_finalize(list);
            for (const std::string& t : names) {
                tables.insert(t);
                for (int r = 1; r <= 3; ++r) {
                    // Column count from the table; values: r for every column.
                    sqlite3_stmt* info = nullptr;
                    sqlite3_prepare_v2(db, ("SELECT count(*) FROM pragma_table_info('" + t + "')").c_str(), -1, &info, nullptr);
                    sqlite3_step(info);
                    const int cols = sqlite3_column_int(info, 0);
                    sqlite3_finalize(info);
                    std::string values;
                    for (int c = 0; c < cols; ++c) values += (c ? ", " : "") + std::to_string(r);
                    sqlite3_exec(db, ("INSERT INTO " + t + " VALUES (" + values + ")").c_str(), nullptr, nullptr, nullptr);
                }
            }
            sqlite3_stmt* st = nullptr;
            QVERIFY2(sqlite3_prepare_v2(db, answer.c_str(), -1, &st, nullptr) == SQLITE_OK,
                     (std::to_string(i) + ": " + answer + " | " + context + " | " + sqlite3_errmsg(db)).c_str());
            int step;
            int n = 0;
            while ((step = sqlite3_step(st)) == SQLITE_ROW) ++n;
            QVERIFY2(step == SQLITE_DONE, (answer + ": " + sqlite3_errmsg(db)).c_str());
            if (n > 0) ++withRows;
            sqlite3_finalize(st);
            sqlite3_close(db);
            for (const char* f : {"COUNT(", "WHERE", "ORDER BY", "GROUP BY", "JOIN", "AVG(", "SUM(", "MIN(", "MAX(",
                                  "DISTINCT", "HAVING", "BETWEEN", "LIMIT"})
                if (answer.find(f) != std::string::npos) ++features[f];
        }
        for (const auto& [f, n] : features) QVERIFY2(n >= 100, (f + std::string(": ") + std::to_string(n)).c_str());
        QCOMPARE(int(features.size()), 13);
        QVERIFY(tables.size() >= 20);
        QVERIFY(withRows > 5000);
    }

    void routingCoversTwentyIntents() {
        const std::vector<json> rows = samples::routingSamples();
        QCOMPARE(int(rows.size()), 10000);
        const auto intents = samples::routingIntents();
        QCOMPARE(int(intents.size()), 20);
        std::map<std::string, std::string> categoryOf(intents.begin(), intents.end());
        std::map<std::string, int> perIntent;
        std::set<std::string> instructions;
        for (const json& r : rows) {
            const std::string intent = r["intent"];
            QVERIFY2(categoryOf.count(intent), intent.c_str());
            QCOMPARE(q(r["category"].get<std::string>()), q(categoryOf[intent]));
            QVERIFY(!r["response"].get<std::string>().empty());
            ++perIntent[intent];
            instructions.insert(r["instruction"].get<std::string>());
        }
        QCOMPARE(int(instructions.size()), 10000);
        for (const auto& [intent, n] : perIntent) QVERIFY2(n > 300, intent.c_str());
    }

    void piiPlaceholdersMatchTheSpans() {
        const std::vector<json> rows = samples::piiSamples();
        QCOMPARE(int(rows.size()), 10000);
        const std::vector<std::string> labels = samples::piiLabels();
        std::map<std::string, int> perLabel;
        int ibans = 0;
        for (const json& r : rows) {
            const std::string source = r["source_text"], target = r["target_text"];
            const json& mask = r["privacy_mask"];
            QVERIFY(!mask.empty());
            std::string rebuilt;
            size_t at = 0;   // bytes of source consumed
            for (const json& m : mask) {
                const std::string value = m["value"], label = m["label"];
                const size_t b = byteOffset(source, m["start"].get<size_t>()), e = byteOffset(source, m["end"].get<size_t>());
                QCOMPARE(q(source.substr(b, e - b)), q(value));
                QVERIFY(std::find(labels.begin(), labels.end(), label) != labels.end());
                rebuilt += source.substr(at, b - at) + "[" + label + "]";
                at = e;
                ++perLabel[label];
                if (label == "IBAN") {
                    QVERIFY2(samples::isValidIban(value), value.c_str());
                    ++ibans;
                }
                if (label == "EMAIL") QVERIFY(value.find('@') != std::string::npos);
                QVERIFY2(target.find(value) == std::string::npos || label == "NAME", value.c_str());
            }
            rebuilt += source.substr(at);
            QCOMPARE(q(rebuilt), q(target));
        }
        for (const std::string& l : labels) QVERIFY2(perLabel[l] > 500, l.c_str());
        QVERIFY(ibans > 500);
        QVERIFY(samples::isValidIban("GB82 WEST 1234 5698 7654 32"));
        QVERIFY(samples::isValidIban("DE89370400440532013000"));
        QVERIFY(!samples::isValidIban("DE89370400440532013001"));
        QVERIFY(!samples::isValidIban("XX00"));
    }

    void generationIsDeterministic() {
        QCOMPARE(samples::sqlSamples(300), samples::sqlSamples(300));
        QCOMPARE(samples::piiSamples(300, 9), samples::piiSamples(300, 9));
        QVERIFY(samples::routingSamples(300, 1) != samples::routingSamples(300, 2));
        QCOMPARE(samples::sqlSamples(300, 5)[17].dump(), samples::sqlSamples(300, 5)[17].dump());
    }

    void presetsDetectTheSampleFiles() {
        const std::string dir = tmp_.path().toStdString();
        const std::vector<samples::SampleFile> files = samples::writeSampleDatasets(dir, 1500);
        QCOMPARE(int(files.size()), 3);
        ProjectStore store = ProjectStore::create(dir + "/samples.swarm");
        const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
        for (const samples::SampleFile& f : files) {
            ImportOptions o;
            o.name = f.fileName;
            o.sourcePath = dir + "/" + f.fileName;
            ImportResult r = importDataset(store, tok, o);
            QCOMPARE(q(r.report["mapping"]["preset"].get<std::string>()), q(f.preset));
            QCOMPARE(r.counts.rowsImported, int64_t(1500));
            QCOMPARE(r.counts.rowsRejected, int64_t(0));
        }
    }
};

QTEST_GUILESS_MAIN(TestSampleDatasets)
#include "test_sample_datasets.moc"
