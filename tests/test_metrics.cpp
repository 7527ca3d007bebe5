// The evaluation metrics (eval/metrics.h): hand-made outputs with their exact expected values,
// including the tricky cases (equivalent SQL written differently, JSON with keys reordered) and
// bad outputs (empty, binary, huge, endless, writing or looping SQL) that must never break.
#include "eval/metrics.h"

#include "core/error.h"

#include <QtTest>

#include <chrono>
#include <cmath>

using namespace swarm;
using namespace swarm::metrics;

namespace {

const char* kHead = "CREATE TABLE head (age INTEGER, name VARCHAR, born_state VARCHAR)";
const char* kTwo = "CREATE TABLE a (id INTEGER, name VARCHAR)\nCREATE TABLE b (a_id INTEGER, score INTEGER)";

bool near(double a, double b, double eps = 1e-6) { return std::fabs(a - b) < eps; }

} // namespace

class TestMetrics : public QObject {
    Q_OBJECT
private slots:
    void exactMatchNormalisation() {
        QCOMPARE(normalizeAnswer("  SELECT  name\nFROM t WHERE x = 'Bob  X' ;; "),
                 std::string("select name from t where x = 'Bob  X'"));
        QVERIFY(exactMatch("select count(*) from t;", "SELECT COUNT(*)   FROM t"));
        QVERIFY(!exactMatch("SELECT * FROM t WHERE n = 'bob'", "SELECT * FROM t WHERE n = 'Bob'"));
        QVERIFY(exactMatch("", "  ;"));
        QVERIFY(!exactMatch("", "x"));
    }

    void sqlEquivalentQueriesAreCorrect() {
        SqlScore s = scoreSql("select count(name) from head where 56 < age", "SELECT COUNT(*) FROM head WHERE age > 56",
                              kHead, "How many heads are older than 56?");
        QVERIFY(s.parses);
        QVERIFY(s.referenceOk);
        QVERIFY2(s.correct, s.error.c_str());
        // A join written two ways.
        s = scoreSql("SELECT a.name FROM b, a WHERE b.a_id = a.id", "SELECT T1.name FROM a AS T1 JOIN b AS T2 ON T1.id = T2.a_id",
                     kTwo, "Names with a score?");
        QVERIFY2(s.correct, s.error.c_str());
        // No ORDER BY in the reference: the prediction's order does not matter.
        s = scoreSql("SELECT name FROM head WHERE born_state = 'Alabama' ORDER BY name DESC",
                     "SELECT name FROM head WHERE born_state = 'Alabama'", kHead, "Heads born in Alabama?");
        QVERIFY2(s.correct, s.error.c_str());
        // The planted literal makes the filter select rows, so a wrong literal is caught.
        s = scoreSql("SELECT name FROM head WHERE born_state = 'Texas'", "SELECT name FROM head WHERE born_state = 'Alabama'",
                     kHead, "Heads born in Alabama?");
        QVERIFY(s.parses && s.executed);
        QVERIFY(!s.correct);
    }

    void sqlDifferentQueriesAreWrong() {
        SqlScore s = scoreSql("SELECT COUNT(*) FROM head WHERE age >= 56", "SELECT COUNT(*) FROM head WHERE age > 56", kHead,
                              "How many heads are older than 56?");
        QVERIFY(s.parses && s.executed);
        QVERIFY(!s.correct);
        // ORDER BY in the reference: order matters.
        s = scoreSql("SELECT name FROM head ORDER BY age DESC, name DESC", "SELECT name FROM head ORDER BY age, name", kHead, "");
        QVERIFY(s.executed);
        QVERIFY(!s.correct);
        s = scoreSql("SELECT name FROM head ORDER BY age, name", "SELECT name FROM head ORDER BY age, name", kHead, "");
        QVERIFY(s.correct);
        // Unknown column: does not parse against the schema.
        s = scoreSql("SELECT salary FROM head", "SELECT age FROM head", kHead, "");
        QVERIFY(!s.parses);
        QVERIFY(s.syntax);   // valid SQL, wrong column
        s = scoreSql("SELECT FROM WHERE", "SELECT age FROM head", kHead, "");
        QVERIFY(!s.syntax && !s.parses);
        QVERIFY(!s.correct);
    }

    void sqlRefusesWritesAndStopsLoops() {
        for (const char* bad : {"DELETE FROM head", "INSERT INTO head VALUES (1, 'a', 'b')", "DROP TABLE head",
                                "UPDATE head SET age = 1", "ATTACH DATABASE '/tmp/swarm-eval-attack.db' AS x",
                                "PRAGMA writable_schema = 1", "CREATE TABLE x (a)", "SELECT randomblob(1000)",
                                "SELECT 1; DROP TABLE head", "SELECT load_extension('x')"}) {
            SqlScore s = scoreSql(bad, "SELECT COUNT(*) FROM head", kHead, "");
            QVERIFY2(!s.executed && !s.correct, bad);
            QVERIFY2(!s.error.empty(), bad);
        }
        SqlScore del = scoreSql("DELETE FROM head", "SELECT COUNT(*) FROM head", kHead, "");
        QVERIFY(del.parses);   // valid SQL, refused
        QVERIFY2(del.error.rfind("refused", 0) == 0, del.error.c_str());
        QVERIFY(!QFile::exists("/tmp/swarm-eval-attack.db"));

        SqlScore huge = scoreSql("SELECT * FROM head a, head b, head c, head d", "SELECT COUNT(*) FROM head", kHead, "");
        QVERIFY(!huge.executed);
    }

    // A runaway query is stopped by the operation count, not by the clock: with the wall-clock
    // guard out of reach (10 minutes) it still ends, with the same reason every time, and a budget
    // that a query needs all of still lets it finish.
    void sqlRunawayQueryStopsOnTheOperationCount() {
        const char* loop = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
        SqlOptions o;
        o.timeLimitMs = 600000;
        const auto t0 = std::chrono::steady_clock::now();
        for (int run = 0; run < 3; ++run) {
            SqlScore s = scoreSql(loop, "SELECT COUNT(*) FROM head", kHead, "", o);
            QVERIFY(s.parses && !s.executed && !s.correct);
            QCOMPARE(s.error, std::string("operation limit (10000000 SQLite VM instructions)"));
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        QVERIFY2(seconds < 60.0, qPrintable(QString::number(seconds)));

        // The counting recursion up to 1000 takes about 17,000 instructions: a budget of
        // 200000 lets it finish, one of 2000 stops it (the same verdict on any machine).
        const char* counted = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) SELECT count(*) FROM c";
        o.maxVmSteps = 200000;
        SqlScore enough = scoreSql(counted, "SELECT 1000", kHead, "", o);
        QVERIFY2(enough.executed && enough.correct, enough.error.c_str());
        o.maxVmSteps = 2000;
        SqlScore tight = scoreSql(counted, "SELECT 1000", kHead, "", o);
        QVERIFY(!tight.executed);
        QCOMPARE(tight.error, std::string("operation limit (2000 SQLite VM instructions)"));

        // The wall clock remains the last resort: a 1 ms guard with an unreachable operation budget.
        o.maxVmSteps = uint64_t(1) << 62;
        o.timeLimitMs = 1;
        SqlScore timed = scoreSql(loop, "SELECT COUNT(*) FROM head", kHead, "", o);
        QVERIFY(!timed.executed);
        QCOMPARE(timed.error, std::string("time limit (1 ms)"));
    }

    void sqlBadOutputs() {
        for (const std::string& bad : {std::string(), std::string("hello world"), std::string("\x00\x01\xff\xfe", 4),
                                       std::string(300000, 'x'), std::string("SELECT ") + std::string(200000, '(')}) {
            SqlScore s = scoreSql(bad, "SELECT COUNT(*) FROM head", kHead, "");
            QVERIFY(!s.parses && !s.syntax);
            QVERIFY(!s.correct);
        }
        // No schema in the prompt: the reference cannot run; nothing crashes.
        SqlScore s = scoreSql("SELECT 1", "SELECT COUNT(*) FROM head", "no tables here", "");
        QVERIFY(!s.referenceOk);
        QVERIFY(s.syntax);
        QCOMPARE(extractCreateTables(std::string(kTwo) + "\n\nQuestion: x").size(), size_t(2));
        QCOMPARE(extractSql("```sql\nSELECT 1;\n```"), std::string("SELECT 1;"));
    }

    void jsonReorderedKeysAreEqual() {
        JsonScore s = scoreJson("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"C\"}}",
                                "{\"arguments\": {\"unit\": \"C\", \"city\": \"Paris\"}, \"name\": \"get_weather\"}");
        QVERIFY(s.valid && s.exact && s.nameMatch && s.argumentsMatch);
        QCOMPARE(s.truePositive, 3.0);
        QCOMPARE(s.predicted, 3.0);
        QCOMPARE(s.expected, 3.0);
        // Arguments as a JSON string equal the same arguments as an object; a marker before is skipped.
        s = scoreJson("<functioncall> {\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}", "{\"name\": \"f\", \"arguments\": {\"a\": 1}}");
        QVERIFY(s.valid && s.exact && s.argumentsMatch);
    }

    void jsonFieldPrecisionRecall() {
        JsonScore s = scoreJson("{\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": 2}}",
                                "{\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": 3, \"c\": 4}}");
        QVERIFY(s.valid && !s.exact && s.nameMatch && !s.argumentsMatch);
        QCOMPARE(s.truePositive, 2.0);
        QCOMPARE(s.predicted, 3.0);
        QCOMPARE(s.expected, 4.0);
        const std::vector<std::string> fam = {"json"};
        ExampleInput in{"p", "{\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": 3, \"c\": 4}}",
                        "{\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": 2}}", true};
        ScoredExample e{in.output, in.reference, true, scoreExample(fam, in)};
        Summary sum = aggregate(fam, {e});
        QVERIFY(near(sum.values["json_field_p"], 2.0 / 3.0));
        QVERIFY(near(sum.values["json_field_r"], 0.5));
        QVERIFY(near(sum.values["json_field_f1"], 2 * (2.0 / 3.0) * 0.5 / (2.0 / 3.0 + 0.5)));
        QCOMPARE(sum.values["json_name"], 1.0);
        QCOMPARE(sum.values["json_args"], 0.0);
        // Lists of calls (xlam): order matters for names.
        s = scoreJson("[{\"name\": \"b\", \"arguments\": {}}, {\"name\": \"a\", \"arguments\": {}}]",
                      "[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {}}]");
        QVERIFY(s.valid && !s.exact && !s.nameMatch);
    }

    void jsonBadOutputs() {
        for (const std::string& bad : {std::string(), std::string("not json"), std::string("{\"a\": "),
                                       std::string(100000, '['), std::string("\xff\xfe\x00{}", 5),
                                       std::string("\"\xff\xfe\""), std::string(2 << 20, ' ') + "{}"}) {
            JsonScore s = scoreJson(bad, "{\"a\": 1}");
            QVERIFY(!s.valid);
            QVERIFY(!s.exact);
            QCOMPARE(s.expected, 1.0);
        }
    }

    void classification() {
        ClassificationReport r = classificationReport({"a", "b", "A ", "c"}, {"a", "b", "b", "b"});
        QCOMPARE(r.n, int64_t(4));
        QCOMPARE(r.labels, (std::vector<std::string>{"a", "b", "c"}));
        QCOMPARE(r.confusion, (std::vector<std::vector<int64_t>>{{1, 0, 0}, {1, 1, 1}, {0, 0, 0}}));
        QCOMPARE(r.accuracy, 0.5);
        // F1(a) = 2/3 (p 1/2, r 1), F1(b) = 1/2 (p 1, r 1/3).
        QVERIFY(near(r.macroF1, (2.0 / 3.0 + 0.5) / 2));
        ClassificationReport empty = classificationReport({}, {});
        QCOMPARE(empty.n, int64_t(0));
        QCOMPARE(empty.macroF1, 0.0);
    }

    void piiMasking() {
        const std::string src = "Dear Ingrid Jones, call 588-555-4191 now.";
        const std::string ref = "Dear [NAME], call [PHONE] now.";
        QCOMPARE(piiOriginalValues(src, ref), (std::vector<std::string>{"Ingrid Jones", "588-555-4191"}));
        PiiScore s = scorePii(src, "Dear [NAME], call 588-555-4191 now.", ref);
        QCOMPARE(s.truePositive, int64_t(1));
        QCOMPARE(s.falsePositive, int64_t(0));
        QCOMPARE(s.falseNegative, int64_t(1));
        QCOMPARE(s.values, int64_t(2));
        QCOMPARE(s.leaked, int64_t(1));
        s = scorePii(src, "Dear [EMAIL], call [PHONE] now.", ref);
        QCOMPARE(s.truePositive, int64_t(1));
        QCOMPARE(s.falsePositive, int64_t(1));
        QCOMPARE(s.falseNegative, int64_t(1));
        QCOMPARE(s.leaked, int64_t(0));
        QCOMPARE(s.byType["EMAIL"], (std::array<int64_t, 3>{0, 1, 0}));
        // Aggregated over examples: micro P/R/F1 and the leak rate.
        const std::vector<std::string> fam = {"pii"};
        std::vector<ScoredExample> ex;
        for (const char* out : {"Dear [NAME], call 588-555-4191 now.", "Dear [NAME], call [PHONE] now."}) {
            ExampleInput in{src, ref, out, true};
            ex.push_back({out, ref, true, scoreExample(fam, in)});
        }
        Summary sum = aggregate(fam, ex);
        QVERIFY(near(sum.values["pii_p"], 1.0));
        QVERIFY(near(sum.values["pii_r"], 0.75));
        QVERIFY(near(sum.values["pii_f1"], 2 * 0.75 / 1.75));
        QVERIFY(near(sum.values["pii_leaked"], 0.25));
        QVERIFY(near(sum.values["pii.PHONE_r"], 0.5));
    }

    void textMetrics() {
        QVERIFY(near(rougeL("the cat sat on the mat", "The cat is on the mat"), 5.0 / 6.0));
        QCOMPARE(rougeL("", ""), 1.0);
        QCOMPARE(rougeL("", "x"), 0.0);
        QCOMPARE(chrF("same text", "same text"), 100.0);
        QCOMPARE(chrF("", "abc"), 0.0);
        // n=1: P 1, R 2/3; n=2: P 1, R 1/2 -> P 1, R 7/12, F2 = 5PR/(4P+R).
        const double r = 7.0 / 12.0;
        QVERIFY(near(chrF("ab", "abc"), 100.0 * 5 * r / (4 + r)));
    }

    void conventionalCommits() {
        QVERIFY(conventionalCommit("feat(parser): add arrays"));
        QVERIFY(conventionalCommit("fix: handle empty input\n\nlonger body"));
        QVERIFY(conventionalCommit("feat!: drop node 12"));
        std::string why;
        QVERIFY(!conventionalCommit("Added stuff", &why));
        QCOMPARE(why, std::string("unknown type"));
        QVERIFY(!conventionalCommit("feat(): x"));
        QVERIFY(!conventionalCommit("feat:x"));
        QVERIFY(!conventionalCommit("feat: "));
        QVERIFY(!conventionalCommit("fix: " + std::string(70, 'a'), &why));
        QCOMPARE(why, std::string("header longer than 72 characters"));
        QVERIFY(!conventionalCommit(""));
    }

    void suitesAndBadOutputsNeverBreak() {
        QCOMPARE(autoMetrics("sql"), (std::vector<std::string>{"exact", "sql", "loss"}));
        QCOMPARE(autoMetrics("NanoRouter"), (std::vector<std::string>{"exact", "classification", "loss"}));
        QCOMPARE(autoMetrics(""), (std::vector<std::string>{"exact", "rouge", "loss"}));
        QCOMPARE(parseMetrics("sql, exact", "pii"), (std::vector<std::string>{"sql", "exact"}));
        QVERIFY_THROWS_EXCEPTION(Error, parseMetrics("sql,bogus", ""));
        QCOMPARE(primaryMetric(autoMetrics("sql")), std::string("sql_exec"));

        const auto& all = metricFamilies();
        const std::string endless = std::string(2 << 20, 'a');
        std::string binary;
        for (int i = 0; i < 4096; ++i) binary += char(i * 37);
        const auto t0 = std::chrono::steady_clock::now();
        for (const std::string& out : {std::string(), binary, endless, std::string("SELECT 1 FROM head") + endless}) {
            ExampleInput in{std::string(kHead) + "\n\nQuestion: how many?", "SELECT COUNT(*) FROM head", out, true};
            ScoreMap s = scoreExample(all, in);
            QCOMPARE(s["exact_match"], 0.0);
            QCOMPARE(s["sql_exec"], 0.0);
            QCOMPARE(s["json_valid"], 0.0);
            QCOMPARE(s["commit_valid"], 0.0);
        }
        QVERIFY(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 20.0);
    }

    void withoutReferences() {
        const std::vector<std::string> fam = {"exact", "sql", "commit", "loss"};
        ExampleInput in{"CREATE TABLE t (a INTEGER)", "", "fix: x", false};
        ScoreMap s = scoreExample(fam, in);
        QCOMPARE(s.size(), size_t(1));
        QCOMPARE(s["commit_valid"], 1.0);
        Summary sum = aggregate(fam, {{in.output, "", false, s}});
        QCOMPARE(sum.values["commit_valid"], 1.0);
        QVERIFY(!sum.values.count("exact_match"));
        QCOMPARE(sum.notes.size(), size_t(3));
        QCOMPARE(sum.notes[0], std::string("exact: needs references (none in this split)"));
    }

    void lossAggregation() {
        const std::vector<std::string> fam = {"loss"};
        Summary sum = aggregate(fam, {{"", "r", true, {{"#ref_nll", 2.0}, {"#ref_tokens", 1.0}}},
                                      {"", "r", true, {{"#ref_nll", 4.0}, {"#ref_tokens", 3.0}}}});
        QCOMPARE(sum.values["ref_loss"], 1.5);
        QVERIFY(near(sum.values["ref_ppl"], std::exp(1.5)));
        QVERIFY(!higherIsBetter("ref_loss"));
        QVERIFY(higherIsBetter("sql_exec"));
    }
};

QTEST_GUILESS_MAIN(TestMetrics)
#include "test_metrics.moc"
