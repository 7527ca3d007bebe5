// The evaluation harness end to end (torch-free): small random models saved as HF folders, a
// project with the bundled SQL sample imported through the sql preset, results stored, a rerun
// reused, cancel + resume keeping finished examples, comparison deltas, quantisation regression,
// and reports (Markdown, CSV, self-contained HTML) written and well formed.
#include "test_engine_util.h"

#include "eval/compare.h"
#include "eval/harness.h"
#include "test_util.h"

#include "engine/engine.h"
#include "export/export.h"

#include "datasets/dataset_import.h"
#include "core/error.h"
#include "datasets/sample_generators.h"
#include "datasets/dataset_store.h"

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace swarm;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

ModelConfig evalConfig() {
    ModelConfig c = enginetest::smallConfig();
    c.block_size = 256;
    return c;
}

} // namespace

class TestEvalHarness : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir_, projectPath_, modelA_, modelB_, modelA16_, ggufA_;

    eval::EvalSettings small(int64_t limit = 6) const {
        eval::EvalSettings s;
        s.limit = limit;
        s.maxNewTokens = 6;
        s.batchSize = 4;
        s.threads = 1;
        s.sqlTimeLimitMs = 500;
        return s;
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        eval::registerEvaluationSchema();
        projectPath_ = dir_ + "/p.swarm";
        ProjectStore project = ProjectStore::create(projectPath_);
        samples::writeJsonl(dir_ + "/nl2sql.jsonl", samples::sqlSamples(40, 7));
        ImportOptions o;
        o.name = "sql";
        o.sourcePath = dir_ + "/nl2sql.jsonl";
        o.presetName = "sql";
        o.split.train = 0.5;
        o.split.validation = 0;
        o.split.test = 0.5;
        o.threads = 1;
        ImportResult r = importDataset(project, Gpt2Tokenizer::bundled(), o);
        QVERIFY(r.counts.nTest >= 10);

        // A dataset without references: prompts only.
        const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
        NewDataset nd;
        nd.name = "noref";
        nd.preset = "sql";
        nd.mapping = nlohmann::json{{"chat_format", ChatFormat::kDefault}};
        DatasetWriter w = DatasetStore(project).beginDataset(nd);
        for (int i = 0; i < 3; ++i) {
            const std::string prompt = "CREATE TABLE t (a INTEGER)\n\nQuestion: how many rows " + std::to_string(i) + "?";
            std::vector<int32_t> ids = tok.encode(ChatFormat().promptText(prompt));
            const int32_t pl = int32_t(ids.size());
            ids.push_back(50256);   // the sequence always ends with <|endoftext|>
            w.addExample(i + 1, Split::Test, prompt, "", ids, pl, 0, uint64_t(i));
        }
        DatasetCounts counts;
        counts.rowsRead = counts.rowsImported = counts.nTest = 3;
        w.commit(counts, nlohmann::json::object());

        const ModelConfig c = evalConfig();
        modelA_ = dir_ + "/model-a";
        modelB_ = dir_ + "/model-b";
        modelA16_ = dir_ + "/model-a-bf16";
        const enginetest::Weights wa = enginetest::randomWeights(c, 1, 0.3);
        enginetest::saveModel(modelA_, c, wa, DType::F32);
        enginetest::saveModel(modelA16_, c, wa, DType::BF16);
        enginetest::saveModel(modelB_, c, enginetest::randomWeights(c, 2, 0.3), DType::F32);
        // The "exported" file: model A as a Q8_0 GGUF.
        ggufA_ = dir_ + "/model-a-q8_0.gguf";
        std::ofstream(ggufA_, std::ios::binary) << enginetest::eveGguf(c, wa, 8, true).build();
    }

    void evaluateStoresResults() {
        ProjectStore project = ProjectStore::open(projectPath_);
        std::vector<eval::EvalProgress> seen;
        eval::EvalCallbacks cb;
        cb.progress = [&](const eval::EvalProgress& p) { seen.push_back(p); };
        eval::EvalRunInfo r = eval::evaluate(project, modelA_, "sql", small(), cb);
        QCOMPARE(r.status, std::string("done"));
        QVERIFY(!r.reused);
        QCOMPARE(r.total, int64_t(6));
        QCOMPARE(r.done, int64_t(6));
        QCOMPARE(r.metrics, (std::vector<std::string>{"exact", "sql", "loss"}));
        QCOMPARE(r.modelKind, std::string("hf"));
        const auto& v = r.summary["values"];
        for (const char* k : {"exact_match", "sql_valid", "ref_loss", "ref_ppl"}) QVERIFY2(v.contains(k), k);
        QVERIFY(v["ref_loss"].get<double>() > 0);
        QVERIFY(r.perf["decode_tok_s"].get<double>() > 0);
        QVERIFY(r.perf["prefill_tok_s"].get<double>() > 0);
        QVERIFY(r.perf["peak_rss_bytes"].get<int64_t>() > 0);
        // Progress: monotone, ends at the total, with an ETA once a batch is done.
        QVERIFY(!seen.empty());
        QCOMPARE(seen.back().done, int64_t(6));
        QCOMPARE(seen.back().phase, std::string("done"));
        bool eta = false;
        for (size_t i = 1; i < seen.size(); ++i) {
            QVERIFY(seen[i].done >= seen[i - 1].done);
            eta = eta || (seen[i].phase == "generating" && seen[i].etaSeconds >= 0);
        }
        QVERIFY(eta);

        eval::EvalStore store(project);
        std::vector<eval::EvalExampleRow> ex = store.examples(r.id);
        QCOMPARE(ex.size(), size_t(6));
        for (size_t i = 0; i < ex.size(); ++i) {
            QCOMPARE(ex[i].position, int64_t(i));
            QVERIFY(ex[i].prompt.find("CREATE TABLE") != std::string::npos);
            QVERIFY(ex[i].reference.rfind("SELECT", 0) == 0);
            QVERIFY(ex[i].promptTokens > 10);
            QVERIFY(ex[i].outputTokens >= 1 && ex[i].outputTokens <= 6);
            QVERIFY(ex[i].latencyMs > 0);
            QVERIFY(ex[i].scores.count("sql_valid"));
            QVERIFY(ex[i].scores.count("ref_loss"));
            QVERIFY(!ex[i].finish.empty());
        }
        QCOMPARE(store.runs().size(), size_t(1));
    }

    void rerunIsReused() {
        ProjectStore project = ProjectStore::open(projectPath_);
        eval::EvalStore store(project);
        const int64_t before = store.runs().front().id;
        std::vector<std::string> logs;
        eval::EvalCallbacks cb;
        cb.log = [&](const std::string& s) { logs.push_back(s); };
        eval::EvalSettings s = small();
        s.batchSize = 2;      // batch size and threads do not change results: still reused
        eval::EvalRunInfo r = eval::evaluate(project, modelA_ + "/", "sql", s, cb);
        QVERIFY(r.reused);
        QCOMPARE(r.id, before);
        QVERIFY(!logs.empty() && logs[0].find("reusing") != std::string::npos);
        // Other settings: a new run.
        s.maxNewTokens = 3;
        eval::EvalRunInfo other = eval::evaluate(project, modelA_, "sql", s);
        QVERIFY(!other.reused);
        QVERIFY(other.id != before);
        // The same settings after the model's files changed: a new run.
        const fs::path weights = fs::path(modelA_) / "config.json";
        fs::last_write_time(weights, fs::last_write_time(weights) + std::chrono::seconds(5));
        eval::EvalRunInfo touched = eval::evaluate(project, modelA_, "sql", small());
        QVERIFY(!touched.reused);
        QVERIFY(touched.fingerprint != r.fingerprint);
        store.deleteRun(other.id);
        store.deleteRun(touched.id);
        QCOMPARE(store.runs().size(), size_t(1));
    }

    void cancelAndResumeKeepDoneExamples() {
        ProjectStore project = ProjectStore::open(projectPath_);
        std::atomic<bool> cancel{false};
        eval::EvalCallbacks cb;
        cb.cancel = &cancel;
        cb.progress = [&](const eval::EvalProgress& p) {
            if (p.phase == "generating" && p.done >= 2) cancel = true;
        };
        eval::EvalSettings s = small(6);
        s.batchSize = 2;
        s.maxNewTokens = 5;
        eval::EvalRunInfo r = eval::evaluate(project, modelB_, "sql", s, cb);
        QCOMPARE(r.status, std::string("cancelled"));
        eval::EvalStore store(project);
        const std::vector<eval::EvalExampleRow> first = store.examples(r.id);
        QCOMPARE(first.size(), size_t(2));   // nothing is stored once the flag is seen: the rest reruns on resume
        QCOMPARE(r.done, int64_t(first.size()));

        std::vector<std::string> logs;
        eval::EvalCallbacks cb2;
        cb2.log = [&](const std::string& l) { logs.push_back(l); };
        eval::EvalRunInfo resumed = eval::evaluate(project, modelB_, "sql", s, cb2);
        QCOMPARE(resumed.id, r.id);
        QCOMPARE(resumed.status, std::string("done"));
        QCOMPARE(resumed.done, int64_t(6));
        QVERIFY(!logs.empty() && logs[0].find("resuming") != std::string::npos);
        const std::vector<eval::EvalExampleRow> all = store.examples(r.id);
        QCOMPARE(all.size(), size_t(6));
        for (const eval::EvalExampleRow& e : first) {
            auto it = std::find_if(all.begin(), all.end(), [&](const auto& a) { return a.exampleId == e.exampleId; });
            QVERIFY(it != all.end());
            QCOMPARE(it->output, e.output);
            QCOMPARE(it->latencyMs, e.latencyMs);   // kept, not regenerated
        }
    }

    // The stored outputs are what the engine's generation (the Playground's and the server's path)
    // gives for the same prompt and sampling, one example at a time or several in flight.
    void outputsAreWhatTheEngineGenerates() {
        ProjectStore project = ProjectStore::open(projectPath_);
        eval::EvalStore store(project);
        eval::EvalSettings s = small(5);
        s.maxNewTokens = 9;
        s.temperature = 0.7f;
        s.seed = 11;
        std::vector<std::vector<eval::EvalExampleRow>> byBatch;
        for (int batch : {1, 3}) {
            s.batchSize = batch;
            const eval::EvalRunInfo r = eval::evaluate(project, modelB_, "sql", s);
            QVERIFY(!r.reused);
            QCOMPARE(r.perf["batch_size"].get<int>(), batch);
            byBatch.push_back(store.examples(r.id));
            store.deleteRun(r.id);
        }
        QCOMPARE(byBatch[0].size(), size_t(5));
        engine::Model m = engine::Model::load(modelB_);
        const DatasetInfo d = DatasetStore(project).dataset("sql");
        const std::vector<StoredExample> examples = DatasetStore(project).examples(d.id, Split::Test, 0, 5);
        for (size_t i = 0; i < examples.size(); ++i) {
            const StoredExample& ex = examples[i];
            engine::SamplingOptions so;
            so.temperature = s.temperature;
            so.seed = s.seed + uint64_t(ex.id);
            so.maxTokens = s.maxNewTokens;
            so.stop = {"\nUser:"};
            so.truncatePrompt = true;
            engine::Session session(m);
            const engine::GenerateResult g = engine::generate(
                session, std::vector<int32_t>(ex.ids.begin(), ex.ids.begin() + ex.promptLen), so);
            const std::string answer = g.text.rfind(" ", 0) == 0 ? g.text.substr(1) : g.text;
            for (const auto& rows : byBatch) {
                QCOMPARE(rows[i].exampleId, ex.id);
                QCOMPARE(rows[i].output, answer);
                QCOMPARE(rows[i].outputTokens, int(g.tokens.size()));
                QCOMPARE(rows[i].promptTokens, g.promptTokens);
                QCOMPARE(rows[i].finish, std::string(engine::finishReasonName(g.finish)));
                QCOMPARE(rows[i].scores.at("ref_loss"), byBatch[0][i].scores.at("ref_loss"));
            }
        }
    }

    void comparisonAndReports() {
        ProjectStore project = ProjectStore::open(projectPath_);
        eval::EvalSettings s = small(6);
        s.maxNewTokens = 5;
        s.batchSize = 2;
        const eval::EvalRunInfo b = eval::evaluate(project, modelB_, "sql", s);   // reused from the resume test
        QVERIFY(b.reused);
        const eval::EvalRunInfo a = eval::evaluate(project, modelA_, "sql", s);
        const eval::EvalRunInfo a16 = eval::evaluate(project, modelA16_, "sql", s);
        const eval::EvalRunInfo q8 = eval::evaluate(project, ggufA_, "sql", s);
        QCOMPARE(q8.modelKind, std::string("gguf"));
        QCOMPARE(q8.status, std::string("done"));
        eval::CostSettings cost{100, 0.5};
        eval::Comparison c = eval::compareRuns(project, {a.id, b.id, a16.id, q8.id}, 0, cost);
        QCOMPARE(c.models.size(), size_t(4));
        QCOMPARE(c.primary, std::string("sql_exec"));
        QCOMPARE(c.examples.size(), size_t(6));
        QVERIFY(c.models[0].deltas.empty());
        for (size_t i = 1; i < 4; ++i)
            for (auto& [k, v] : c.models[i].values) {
                QVERIFY2(c.models[i].deltas.count(k), k.c_str());
                QCOMPARE(c.models[i].deltas[k], v - c.models[0].values[k]);
            }
        // Cost: 1e6 tokens at R tok/s take 1e6/R s at 100 W and 0.5 per kWh.
        const double r = c.models[0].decodeTokS;
        QVERIFY(r > 0);
        QVERIFY(std::fabs(c.models[0].costPerMTokDecode - 1e6 / r / 3600.0 * 0.1 * 0.5) < 1e-9);
        QCOMPARE(eval::costPerMillionTokens(1000, {1000, 1.0}), 1000.0 / 3600.0);

        // Filters.
        eval::ExampleFilter dis;
        dis.onlyDisagreements = true;
        const std::vector<size_t> d = eval::filterExamples(c, dis);
        for (size_t i : d) QVERIFY(c.examples[i].disagree);
        size_t nd = 0;
        for (const auto& e : c.examples) nd += e.disagree ? 1 : 0;
        QCOMPARE(d.size(), nd);
        eval::ExampleFilter fails;
        fails.failuresOf = 0;
        for (size_t i : eval::filterExamples(c, fails)) QCOMPARE(c.examples[i].scores[0].at("sql_exec"), 0.0);
        eval::ExampleFilter byScore;
        byScore.metric = "sql_valid";
        byScore.minScore = 1;
        for (size_t i : eval::filterExamples(c, byScore)) QCOMPARE(c.examples[i].scores[0].at("sql_valid"), 1.0);

        // Quantisation regression of the bf16 copy against its f32 source.
        eval::QuantRegression q = eval::quantisationRegression(c, 0, 2);
        QCOMPARE(q.compared, int64_t(6));
        QVERIFY(q.agreement >= 0 && q.agreement <= 1);
        QVERIFY(std::isfinite(q.lossDelta));
        QVERIFY(std::fabs(q.lossDelta) < 0.5);
        // And of the Q8_0 GGUF export against its f32 source.
        eval::QuantRegression g = eval::quantisationRegression(c, 0, 3);
        QCOMPARE(g.compared, int64_t(6));
        QVERIFY(std::isfinite(g.lossDelta));
        QVERIFY(std::fabs(g.lossDelta) < 0.5);
        QCOMPARE(g.toJson()["compared"].get<int64_t>(), int64_t(6));

        // Reports.
        const std::string html = dir_ + "/r.html", md = dir_ + "/r.md", csvPath = dir_ + "/r.csv";
        eval::writeReport(c, html);
        eval::writeReport(c, md);
        eval::writeReport(c, csvPath);
        QVERIFY_THROWS_EXCEPTION(Error, eval::writeReport(c, dir_ + "/r.pdf"));
        const std::string h = slurp(html);
        QVERIFY(h.rfind("<!DOCTYPE html>", 0) == 0);
        QVERIFY(h.find("</html>") != std::string::npos);
        QVERIFY(h.find("<svg") != std::string::npos);
        for (const char* external : {"<script", "<link", "src=", "href=", "@import", "url("})
            QVERIFY2(h.find(external) == std::string::npos, external);
        QCOMPARE(std::count(h.begin(), h.end(), '<') > 0, true);
        size_t opens = 0, closes = 0;
        for (size_t p = h.find("<svg"); p != std::string::npos; p = h.find("<svg", p + 1)) ++opens;
        for (size_t p = h.find("</svg>"); p != std::string::npos; p = h.find("</svg>", p + 1)) ++closes;
        QCOMPARE(opens, closes);
        const std::string m = slurp(md);
        QVERIFY(m.find("| metric |") != std::string::npos);
        QVERIFY(m.find("sql_exec") != std::string::npos);
        QVERIFY(m.find("(baseline)") != std::string::npos);
        std::istringstream cs(slurp(csvPath));
        std::string line;
        std::vector<size_t> fields;
        while (std::getline(cs, line)) {
            size_t n = 1;
            bool q2 = false;
            for (char ch : line) {
                if (ch == '"') q2 = !q2;
                else if (ch == ',' && !q2) ++n;
            }
            fields.push_back(n);
        }
        QCOMPARE(fields.size(), size_t(5));
        for (size_t f : fields) QCOMPARE(f, fields[0]);
        QVERIFY(c.toJson()["models"].size() == 4);
    }

    // The quantisation regression of a q4_k export (llama.cpp's Q4_K_M mix, as `swarm export
    // --dtype q4_k` writes and re-checks it) against its source, evaluated and compared like the
    // Q8_0 file above, on a model whose rows k-quants can hold.
    void q4kExportInRegression() {
        ProjectStore project = ProjectStore::open(projectPath_);
        ModelConfig c = enginetest::kquantConfig();
        c.block_size = 256;
        const std::string src = dir_ + "/model-k", out = dir_ + "/model-k-q4_k.gguf";
        enginetest::saveModel(src, c, enginetest::randomWeights(c, 5, 0.3), DType::F32, true);
        exporter::ExportOptions o;
        o.source = src;
        o.format = exporter::Format::Gguf;
        o.dtype = exporter::ExportDType::Q4_K;
        o.out = out;
        o.threads = 1;
        const exporter::ExportResult res = exporter::exportModel(o);
        QVERIFY(res.rechecked);
        QVERIFY2(res.tensorMix.find("Q4_K x ") != std::string::npos, res.tensorMix.c_str());
        eval::EvalSettings s = small(6);
        s.maxNewTokens = 5;
        s.batchSize = 2;
        const eval::EvalRunInfo a = eval::evaluate(project, src, "sql", s);
        const eval::EvalRunInfo k = eval::evaluate(project, out, "sql", s);
        QCOMPARE(k.modelKind, std::string("gguf"));
        QCOMPARE(k.status, std::string("done"));
        const eval::Comparison cmp = eval::compareRuns(project, {a.id, k.id}, 0, eval::CostSettings{100, 0.5});
        const eval::QuantRegression q = eval::quantisationRegression(cmp, 0, 1);
        qInfo("q4_k export vs its source: %s", q.toJson().dump().c_str());
        QVERIFY(q.compared > 0);
        QCOMPARE(q.compared, int64_t(cmp.examples.size()));
        QVERIFY(q.agreement >= 0 && q.agreement <= 1);
        QVERIFY(q.regressions + q.improvements <= q.compared);
        QVERIFY(std::isfinite(q.lossDelta));
        QVERIFY(std::fabs(q.lossDelta) < 0.5);
    }

    void datasetWithoutReferences() {
        ProjectStore project = ProjectStore::open(projectPath_);
        eval::EvalSettings s = small(0);
        eval::EvalRunInfo r = eval::evaluate(project, modelA_, "noref", s);
        QCOMPARE(r.status, std::string("done"));
        QCOMPARE(r.done, int64_t(3));
        QVERIFY(r.summary["notes"].size() >= 2);
        QVERIFY(r.summary["notes"][0].get<std::string>().find("needs references") != std::string::npos);
        eval::EvalStore store(project);
        for (const auto& e : store.examples(r.id)) {
            QVERIFY(!e.hasReference);
            QVERIFY(e.scores.empty());
        }
    }

    // A model whose weights do not load: the run is left 'failed' with the error, not 'running'.
    void failedRunIsMarkedFailed() {
        const fs::path broken = fs::path(dir_) / "broken-model";
        fs::copy(modelA_, broken, fs::copy_options::recursive);
        const fs::path weights = broken / "model.safetensors";
        fs::resize_file(weights, fs::file_size(weights) / 2);
        ProjectStore project = ProjectStore::open(projectPath_);
        QString message;
        try {
            eval::evaluate(project, broken.string(), "sql", small());
        } catch (const Error& e) {
            message = QString::fromUtf8(e.what());
        }
        QVERIFY2(message.contains("model.safetensors"), qPrintable(message));
        const eval::ModelRef ref = eval::resolveModel(broken.string());
        bool found = false;
        for (const eval::EvalRunInfo& r : eval::EvalStore(project).runs())
            if (r.fingerprint == ref.fingerprint) {
                found = true;
                QCOMPARE(QString::fromStdString(r.status), QString("failed"));
                QCOMPARE(QString::fromStdString(r.message), message);
            }
        QVERIFY(found);
    }

    void resolveModels() {
        const fs::path run = fs::path(dir_) / "run1";
        fs::create_directories(run / "checkpoints");
        fs::copy(modelA_, run / "checkpoints" / "step-5", fs::copy_options::recursive);
        fs::copy(modelA_, run / "checkpoints" / "step-10", fs::copy_options::recursive);
        // What the trainer writes (training/run_folder.h): the manifest, and a state file last in
        // each complete checkpoint.
        test::writeFile((run / "run.json").string(), R"({"format": "swarm-run", "version": 1, "status": "running"})");
        for (const char* step : {"step-5", "step-10"}) test::writeFile((run / "checkpoints" / step / "trainer_state.json").string(), "{}");
        fs::create_directories(run / "checkpoints" / "step-20");      // unfinished: no state file
        fs::copy(modelA_ + "/config.json", run / "checkpoints" / "step-20" / "config.json");
        eval::ModelRef m = eval::resolveModel(run.string());
        QCOMPARE(m.kind, std::string("checkpoint"));
        QCOMPARE(m.name, std::string("run1@step-10"));
        fs::copy(modelA_, run / "final", fs::copy_options::recursive);
        m = eval::resolveModel(run.string());
        QCOMPARE(m.kind, std::string("run"));
        QCOMPARE(m.name, std::string("run1"));
        QCOMPARE(m.path, (run / "final").string());
        QVERIFY(m.bytes > 0);
        m = eval::resolveModel((run / "checkpoints" / "step-5").string());
        QCOMPARE(m.kind, std::string("checkpoint"));
        QVERIFY_THROWS_EXCEPTION(Error, eval::resolveModel(dir_ + "/nope"));
        QVERIFY_THROWS_EXCEPTION(Error, eval::resolveModel(dir_ + "/nl2sql.jsonl"));
        ProjectStore project = ProjectStore::open(projectPath_);
        QVERIFY_THROWS_EXCEPTION(Error, eval::evaluate(project, modelA_, "no-such-dataset", small()));
        eval::EvalSettings bad = small();
        bad.metrics = "sql,bogus";
        QVERIFY_THROWS_EXCEPTION(Error, eval::evaluate(project, modelA_, "sql", bad));
    }
};

QTEST_GUILESS_MAIN(TestEvalHarness)
#include "test_eval_harness.moc"
