// `swarm project` and `swarm dataset` end to end, through the real binary.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "cli_process.h"

namespace {

QString data(const char* name) { return QString(SWARM_TEST_DATA_DIR) + "/datasets/" + name; }

QJsonDocument json(const QString& text) { return QJsonDocument::fromJson(text.toUtf8()); }

} // namespace

class TestCliDataset : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    QString project_;
    QString samples_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        project_ = tmp_.filePath("p.swarm");
        samples_ = tmp_.filePath("samples");
    }

    void helpForEveryCommand() {
        Result top = runSwarm({"--help"});
        QVERIFY(top.out.contains("project") && top.out.contains("dataset"));
        const QList<QStringList> cmds = {{"project", "--help"},          {"project", "create", "--help"},
                                         {"project", "info", "--help"},  {"dataset", "--help"},
                                         {"dataset", "import", "--help"}, {"dataset", "preview", "--help"},
                                         {"dataset", "list", "--help"},  {"dataset", "stats", "--help"},
                                         {"dataset", "mask-preview", "--help"}, {"dataset", "export", "--help"},
                                         {"dataset", "delete", "--help"}, {"dataset", "presets", "--help"},
                                         {"dataset", "samples", "--help"}};
        for (const QStringList& c : cmds) {
            Result r = runSwarm(c);
            QVERIFY2(r.exitCode == 0 && r.out.contains("usage:"), qPrintable(c.join(' ')));
        }
    }

    void createProjectAndSamples() {
        Result r = runSwarm({"project", "create", project_});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("created project"));
        r = runSwarm({"project", "create", project_});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("already exists"));
        QCOMPARE(r.err.count('\n'), 1);

        r = runSwarm({"dataset", "samples", "--out", samples_, "--count", "20000"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        for (const char* f : {"nl2sql.jsonl", "support-routing.jsonl", "pii-masking.jsonl"})
            QVERIFY(QFile::exists(samples_ + "/" + f));
        Result info = runSwarm({"project", "info", project_, "--json"});
        QCOMPARE(info.exitCode, 0);
        QCOMPARE(json(info.out).object()["datasets"].toArray().size(), 0);
        QVERIFY(json(info.out).object()["migrations"].toArray().size() >= 2);
    }

    void importWithDetectedPresetAndProgress() {
        Result r = runSwarm({"dataset", "import", samples_ + "/support-routing.jsonl", "--project", project_, "--name",
                             "router", "--seed", "3"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("preset 'router'"), qPrintable(r.out));
        QVERIFY(r.out.contains("20,000 read, 20,000 imported, 0 rejected"));
        QVERIFY(r.out.contains("split: train 18,000, validation 1,000, test 1,000"));
        QVERIFY(r.out.contains("leakage (same prompt in two splits): none"));
        // Progress on stderr for a long import (several MiB), ending at 100%.
        QVERIFY2(r.err.contains("importing router:") && r.err.contains("100%"), qPrintable(r.err));

        r = runSwarm({"dataset", "import", samples_ + "/nl2sql.jsonl", "--project", project_, "--name", "sql",
                      "--quiet", "--max-len", "96", "--overlong", "drop"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.err.isEmpty());
        QVERIFY2(r.out.contains("too_long"), qPrintable(r.out));   // a few long SQL rows dropped at 96 tokens

        Result list = runSwarm({"dataset", "list", "--project", project_, "--json"});
        QCOMPARE(list.exitCode, 0);
        const QJsonArray all = json(list.out).array();
        QCOMPARE(all.size(), 2);
        QCOMPARE(all[0].toObject()["name"].toString(), QString("router"));
        QCOMPARE(all[0].toObject()["examples"].toInt(), 20000);
        QCOMPARE(all[1].toObject()["preset"].toString(), QString("sql"));
        Result table = runSwarm({"dataset", "list", "--project", project_});
        QVERIFY(table.out.contains("router") && table.out.contains("18,000/1,000/1,000"));
    }

    void importMalformedRowsReportsThem() {
        Result r = runSwarm({"dataset", "import", data("bad_rows.jsonl"), "--project", project_, "--name", "bad",
                             "--prompt-template", "Q: {question}\\nA?", "--response-field", "answer"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        for (const char* line : {"record 2 (line 2): malformed_json", "record 3 (line 3): invalid_utf8",
                                 "record 4 (line 4): missing_field", "record 5 (line 5): not_a_string",
                                 "record 6 (line 6): empty_prompt", "record 7 (line 7): empty_response",
                                 "record 8 (line 8): too_long", "record 9 (line 9): not_an_object",
                                 "record 10 (line 11): duplicate", "record 12 (line 13): not_a_string"})
            QVERIFY2(r.out.contains(line), line);
        QVERIFY(r.out.contains("12 read, 2 imported, 10 rejected"));
        // The report is kept: stats shows the same, as text and as JSON.
        Result stats = runSwarm({"dataset", "stats", "bad", "--project", project_, "--rejected", "all"});
        QCOMPARE(stats.exitCode, 0);
        QVERIFY(stats.out.contains("record 12 (line 13): not_a_string"));
        Result js = runSwarm({"dataset", "stats", "bad", "--project", project_, "--json"});
        const QJsonObject rep = json(js.out).object();
        QCOMPARE(rep["counts"].toObject()["rejected"].toInt(), 10);
        QCOMPARE(rep["rejected"].toArray().size(), 10);
        QCOMPARE(rep["rejected"].toArray()[0].toObject()["reason"].toString(), QString("malformed_json"));
        QVERIFY(rep["tokens"].toObject()["prompt"].toObject().contains("p95"));
        QVERIFY(rep["tokens"].toObject()["response"].toObject()["histogram"].toObject().contains("counts"));
        // The template's \n became a newline.
        Result prev = runSwarm({"dataset", "preview", "bad", "--project", project_, "--json"});
        QCOMPARE(json(prev.out).array()[0].toObject()["prompt"].toString(), QString("Q: How many heads of departments are there?\nA?"));
    }

    void previewBeforeImport() {
        Result r = runSwarm({"dataset", "preview", samples_ + "/pii-masking.jsonl", "--rows", "3"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("preset 'pii'"));
        QVERIFY(r.out.contains("record 3 (line 3)"));
        QVERIFY(r.out.contains("response: ") && r.out.contains("[NAME]"));
        Result csv = runSwarm({"dataset", "preview", data("bad_rows.csv"), "--prompt-template", "{question}",
                               "--response-field", "answer", "--json", "--rows", "10"});
        QCOMPARE(csv.exitCode, 0);
        const QJsonObject o = json(csv.out).object();
        QCOMPARE(o["format"].toString(), QString("csv"));
        const QJsonArray rows = o["rows"].toArray();
        QCOMPARE(rows.size(), 10);
        QVERIFY(rows[0].toObject()["ok"].toBool());
        QCOMPARE(rows[2].toObject()["reason"].toString(), QString("malformed_csv"));
        QCOMPARE(rows[6].toObject()["reason"].toString(), QString("empty_response"));
        QVERIFY(rows[1].toObject()["prompt_tokens"].toInt() > 5);
        Result none = runSwarm({"dataset", "preview", data("bad_rows.csv")});
        QCOMPARE(none.exitCode, 0);
        QVERIFY(none.out.contains("no preset matches the columns (question, answer)"));
    }

    void maskPreviewWithAndWithoutColour() {
        Result plain = runSwarm({"dataset", "mask-preview", "sql", "--project", project_, "--color", "never"});
        QVERIFY2(plain.exitCode == 0, qPrintable(plain.err));
        QVERIFY(plain.out.contains("legend: [masked] {trained}"));
        QVERIFY(plain.out.contains("[User][:]"));
        QVERIFY(plain.out.contains("[Assistant][:]{ SELECT}"));
        QVERIFY(plain.out.contains("{<|endoftext|>}"));
        QVERIFY(!plain.out.contains("\x1b["));
        // The trained text is exactly " " + response + EOS.
        Result ex = runSwarm({"dataset", "preview", "sql", "--project", project_, "--json", "--rows", "1"});
        const QString response = json(ex.out).array()[0].toObject()["response"].toString();
        QVERIFY2(plain.out.contains("trained text: \" " + response + "<|endoftext|>\""), qPrintable(plain.out));

        Result colour = runSwarm({"dataset", "mask-preview", "sql", "--project", project_, "--color", "always",
                                  "--index", "2", "--split", "test"});
        QCOMPARE(colour.exitCode, 0);
        QVERIFY(colour.out.contains("\x1b[2;48;5;236m"));   // masked
        QVERIFY(colour.out.contains("\x1b[1;32;48;5;"));    // trained
        QVERIFY(colour.out.contains(", test, dataset 'sql'"));
        Result table = runSwarm({"dataset", "mask-preview", "sql", "--project", project_, "--table", "--color", "never"});
        QVERIFY(table.out.contains("-100  masked  'User'"));
        QVERIFY(table.out.contains("50256  50256  trained '<|endoftext|>'"));
        Result bad = runSwarm({"dataset", "mask-preview", "sql", "--project", project_, "--index", "999999"});
        QCOMPARE(bad.exitCode, 1);
        QVERIFY(bad.err.contains("fewer than 999999 examples"));
    }

    void exportProcessedPairs() {
        const QString out = tmp_.filePath("router.jsonl");
        Result r = runSwarm({"dataset", "export", "router", "--project", project_, "--out", out, "--split", "test",
                             "--with-tokens"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QFile f(out);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QList<QByteArray> lines = f.readAll().trimmed().split('\n');
        QCOMPARE(lines.size(), 1000);
        const QJsonObject first = QJsonDocument::fromJson(lines[0]).object();
        QCOMPARE(first["split"].toString(), QString("test"));
        const QJsonArray ids = first["input_ids"].toArray(), labels = first["labels"].toArray();
        QCOMPARE(ids.size(), first["n_tokens"].toInt());
        int masked = 0;
        for (const auto& l : labels) masked += l.toInt() == -100;
        QCOMPARE(masked, first["prompt_len"].toInt());
        QCOMPARE(ids.last().toInt(), 50256);
        Result all = runSwarm({"dataset", "export", "router", "--project", project_});
        QCOMPARE(all.out.count('\n'), 20000);
    }

    void presetsCanBeSavedAndUsed() {
        Result r = runSwarm({"dataset", "presets", "--json"});
        QCOMPARE(r.exitCode, 0);
        QJsonArray presets = json(r.out).array();
        QCOMPARE(presets.size(), 8);
        QJsonObject mine = presets[5].toObject();   // router
        QCOMPARE(mine["name"].toString(), QString("router"));
        mine["name"] = "router-category";
        mine["response_template"] = "{category}/{intent}";
        const QString file = tmp_.filePath("mine.json");
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QJsonDocument(mine).toJson());
        f.close();
        r = runSwarm({"dataset", "presets", "--project", project_, "--save", file});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        r = runSwarm({"dataset", "presets", "--project", project_});
        QVERIFY(r.out.contains("router-category (saved in the project)"));
        r = runSwarm({"dataset", "import", samples_ + "/support-routing.jsonl", "--project", project_, "--name",
                      "router2", "--preset", "router-category", "--json", "--quiet"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(json(r.out).object()["mapping"].toObject()["response_template"].toString(), QString("{category}/{intent}"));
        Result ex = runSwarm({"dataset", "preview", "router2", "--project", project_, "--json", "--rows", "1"});
        QVERIFY(json(ex.out).array()[0].toObject()["response"].toString().contains('/'));
        r = runSwarm({"dataset", "import", data("bad_rows.jsonl"), "--project", project_, "--name", "x", "--preset-file", file,
                      "--dry-run"});
        QCOMPARE(r.exitCode, 1);   // the bad_rows fields do not fit the router mapping: nothing to import
        QVERIFY(r.err.contains("nothing to import"));
    }

    void errorsAreOneClearLine() {
        const QString empty = tmp_.filePath("empty.jsonl");
        QFile(empty).open(QIODevice::WriteOnly);
        const QList<QPair<QStringList, QString>> cases = {
            {{"dataset", "import", tmp_.filePath("absent.jsonl"), "--project", project_, "--name", "n"}, "does not exist"},
            {{"dataset", "import", empty, "--project", project_, "--name", "n"}, "is empty (0 bytes)"},
            {{"dataset", "import", data("bad_rows.csv"), "--project", project_, "--name", "router"}, "already has a dataset named 'router'"},
            {{"dataset", "import", data("bad_rows.csv"), "--project", project_, "--name", "n", "--split", "0.9,0.1",
              "--split-column", "x"}, "not both"},
            {{"dataset", "import", data("bad_rows.csv"), "--project", project_, "--name", "n", "--max-len", "5000"},
             "--max-len must be between"},
            {{"dataset", "import", data("bad_rows.csv"), "--project", project_, "--name", "n", "--overlong", "cut"},
             "unknown over-long policy 'cut'"},
            {{"dataset", "import", data("bad_rows.csv"), "--project", project_, "--name", "n"}, "no preset matches"},
            {{"dataset", "list", "--project", tmp_.filePath("nope.swarm")}, "does not exist"},
            {{"dataset", "stats", "ghost", "--project", project_}, "no dataset 'ghost'"},
            {{"dataset", "frobnicate"}, "unknown subcommand 'frobnicate'"},
            {{"dataset", "import", data("bad_rows.csv"), "--project", project_}, "option --name is required"},
        };
        for (const auto& [args, want] : cases) {
            Result r = runSwarm(args);
            QVERIFY2(r.exitCode == 1, qPrintable(args.join(' ')));
            QVERIFY2(r.err.contains(want), qPrintable(args.join(' ') + " -> " + r.err));
            QVERIFY2(r.err.count('\n') == 1, qPrintable(r.err));
        }
        // Nothing was written by the failures.
        Result list = runSwarm({"dataset", "list", "--project", project_, "--json"});
        QCOMPARE(json(list.out).array().size(), 4);
    }

    void dryRunAndDelete() {
        Result r = runSwarm({"dataset", "import", data("split_column.jsonl"), "--project", project_, "--name", "dry",
                             "--prompt-template", "{question}", "--response-field", "answer", "--split-column", "split",
                             "--dry-run"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.out.contains("dry run: nothing was written"));
        QVERIFY(r.out.contains("train/test 1, train/validation 1"));
        QVERIFY(r.out.contains("record 7 (line 7): bad_split"));
        Result stats = runSwarm({"dataset", "stats", "dry", "--project", project_});
        QCOMPARE(stats.exitCode, 1);
        r = runSwarm({"dataset", "delete", "bad", "--project", project_});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("deleted dataset 'bad'"));
        Result list = runSwarm({"dataset", "list", "--project", project_, "--json"});
        QCOMPARE(json(list.out).array().size(), 3);
    }
};

QTEST_GUILESS_MAIN(TestCliDataset)
#include "test_cli_dataset.moc"
