// The LibTorch Eve model against the architecture doc, checked with an independent, deliberately
// naive reference (one token at a time, complex-number RoPE, experts called per token).
#include "model/eve_model.h"
#include "model/model_io.h"
#include "model/runtime.h"
#include "core/error.h"
#include "core/atomic_file.h"
#include "test_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using namespace swarm;

namespace {

ModelConfig smallConfig() { return test::smallConfig(48, 32, 64); }

torch::Tensor rmsnormRef(const torch::Tensor& x, const torch::Tensor& w) {
    return x / torch::sqrt(x.pow(2).mean() + 1e-5) * w;
}

torch::Tensor expertRef(const torch::Tensor& x, const std::string& prefix,
                        std::map<std::string, torch::Tensor>& p) {
    torch::Tensor g = torch::matmul(p[prefix + ".w1.weight"], x);
    torch::Tensor u = torch::matmul(p[prefix + ".w2.weight"], x);
    return torch::matmul(p[prefix + ".c_proj.weight"], g * torch::sigmoid(g) * u);
}

// Logits [T, vocab] for one sequence, computed token by token.
torch::Tensor referenceForward(const ModelConfig& c, std::map<std::string, torch::Tensor>& p,
                               const std::vector<int64_t>& ids, double* auxOut) {
    const int64_t T = int64_t(ids.size()), E = c.n_embd, H = c.n_head, D = c.head_dim;
    std::vector<torch::Tensor> x;
    for (int64_t id : ids) x.push_back(p["transformer.wte.weight"][id].clone());
    double auxTotal = 0;
    for (int64_t l = 0; l < c.n_layer; ++l) {
        const std::string h = "transformer.h." + std::to_string(l);
        std::vector<torch::Tensor> q(T), k(T), v(T);
        for (int64_t t = 0; t < T; ++t) {
            torch::Tensor qkv = torch::matmul(p[h + ".attn.c_attn.weight"], rmsnormRef(x[t], p[h + ".ln_1.weight"]));
            torch::Tensor qs = qkv.narrow(0, 0, E).view({H, D / 2, 2});
            torch::Tensor ks = qkv.narrow(0, E, E).view({H, D / 2, 2});
            // Interleaved RoPE as complex multiplication: (x0 + i x1) * e^{i pos theta^(-2j/D)}.
            torch::Tensor j = torch::arange(D / 2, torch::kFloat64);
            torch::Tensor angle = double(t) * torch::pow(c.rope_theta, -2.0 * j / double(D));
            torch::Tensor rot = torch::polar(torch::ones_like(angle), angle).to(torch::kComplexFloat);
            q[t] = torch::view_as_real(torch::view_as_complex(qs.contiguous()) * rot).reshape({H, D});
            k[t] = torch::view_as_real(torch::view_as_complex(ks.contiguous()) * rot).reshape({H, D});
            v[t] = qkv.narrow(0, 2 * E, E).view({H, D});
        }
        for (int64_t t = 0; t < T; ++t) {
            torch::Tensor y = torch::zeros({H, D});
            for (int64_t hh = 0; hh < H; ++hh) {
                torch::Tensor scores = torch::empty({t + 1});
                for (int64_t s = 0; s <= t; ++s) scores[s] = torch::dot(q[t][hh], k[s][hh]) / std::sqrt(double(D));
                torch::Tensor w = torch::softmax(scores, 0);
                for (int64_t s = 0; s <= t; ++s) y[hh] += w[s] * v[s][hh];
            }
            x[t] = x[t] + torch::matmul(p[h + ".attn.c_proj.weight"], y.reshape({E}));
        }
        torch::Tensor probSum = torch::zeros({c.num_experts});
        for (int64_t t = 0; t < T; ++t) {
            torch::Tensor xn = rmsnormRef(x[t], p[h + ".ln_2.weight"]);
            torch::Tensor prob = torch::softmax(torch::matmul(p[h + ".mlp.router.weight"], xn), 0);
            probSum += prob;
            auto [topP, topI] = prob.topk(c.top_k);
            topP = topP / topP.sum();
            torch::Tensor out = expertRef(xn, h + ".mlp.shared_expert", p);
            for (int64_t r = 0; r < c.top_k; ++r)
                out += topP[r] * expertRef(xn, h + ".mlp.experts." + std::to_string(topI[r].item<int64_t>()), p);
            x[t] = x[t] + out;
        }
        torch::Tensor meanP = probSum / double(T);
        auxTotal += double(c.num_experts) * meanP.pow(2).sum().item<double>();
    }
    if (auxOut) *auxOut = auxTotal;
    std::vector<torch::Tensor> logits;
    for (int64_t t = 0; t < T; ++t)
        logits.push_back(torch::matmul(p["transformer.wte.weight"], rmsnormRef(x[t], p["transformer.ln_f.weight"])));
    return torch::stack(logits);
}

std::map<std::string, torch::Tensor> paramMap(EveModel& m) {
    std::map<std::string, torch::Tensor> p;
    for (auto& [n, t] : m->namedWeights()) p[n] = t.detach();
    return p;
}

std::vector<int64_t> randomIds(int64_t n, int64_t vocab, uint64_t seed) {
    torch::manual_seed(seed);
    torch::Tensor t = torch::randint(vocab, {n}, torch::kInt64);
    return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
}

} // namespace

class TestEveModel : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { applyThreadCount(0); }

    void parameterCountsMatchConfig() {
        for (const char* preset : {"tiny", "eve-272m"}) {
            ModelConfig c = ModelConfig::preset(preset);
            EveModel m(c);
            int64_t n = 0;
            for (auto& [name, t] : m->namedWeights()) n += t.numel();
            QCOMPARE(n, c.totalParameters());
            if (std::string(preset) == "eve-272m") QCOMPARE(n, int64_t(271970816));
        }
    }

    void parameterNamesArePublishedNames() {
        ModelConfig c = smallConfig();
        EveModel m(c);
        std::vector<std::string> names;
        for (auto& [n, t] : m->namedWeights()) names.push_back(n);
        std::vector<ExpectedTensor> expected = expectedTensors(c);
        QCOMPARE(names.size(), expected.size());
        std::map<std::string, std::vector<int64_t>> shapes;
        for (auto& [n, t] : m->namedWeights()) shapes[n] = t.sizes().vec();
        for (const ExpectedTensor& e : expected) {
            QVERIFY2(shapes.count(e.name), e.name.c_str());
            QVERIFY2(shapes[e.name] == e.shape, e.name.c_str());
        }
    }

    void ropeRotatesInterleavedPairs() {
        // One head, D = 4, position 1: pair (x0, x1) rotates by 1 rad, pair (x2, x3) by theta^(-1/2).
        torch::Tensor x = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).view({1, 1, 1, 4}).repeat({1, 2, 1, 1});
        const double theta = 10000.0;
        torch::Tensor angles = torch::tensor({{0.0, 0.0}, {1.0, std::pow(theta, -0.5)}}, torch::kFloat64);
        torch::Tensor out = applyRope(x, angles.cos().to(torch::kFloat32), angles.sin().to(torch::kFloat32));
        QVERIFY(torch::allclose(out[0][0][0], x[0][0][0]));                       // position 0: unchanged
        double a = 1.0, b = std::pow(theta, -0.5);
        std::vector<double> want = {1 * std::cos(a) - 2 * std::sin(a), 1 * std::sin(a) + 2 * std::cos(a),
                                    3 * std::cos(b) - 4 * std::sin(b), 3 * std::sin(b) + 4 * std::cos(b)};
        for (int i = 0; i < 4; ++i) QVERIFY(std::fabs(out[0][1][0][i].item<double>() - want[size_t(i)]) < 1e-5);
    }

    void forwardMatchesNaiveReference() {
        ModelConfig c = smallConfig();
        EveModel m(c);
        m->initWeights(7);
        // Larger router weights make routing decisive, so top-k choices are not near ties.
        { torch::NoGradGuard g; for (auto& [n, t] : m->namedWeights()) if (n.find("router") != std::string::npos) t.mul_(20); }
        auto p = paramMap(m);
        torch::NoGradGuard noGrad;
        for (int64_t len : {1, 5, 17}) {
            std::vector<int64_t> ids = randomIds(len, 50257, uint64_t(len));
            double auxRef = 0;
            torch::Tensor ref = referenceForward(c, p, ids, &auxRef);
            EveOutput out = m->forward(torch::tensor(ids).unsqueeze(0));
            double maxDiff = (out.logits[0] - ref).abs().max().item<double>();
            double range = ref.abs().max().item<double>();
            QVERIFY2(maxDiff <= 1e-4 * std::max(1.0, range),
                     qPrintable(QString("len %1: max |diff| %2 (logit range %3)").arg(len).arg(maxDiff).arg(range)));
            QVERIFY(std::fabs(out.auxLoss.item<double>() - auxRef) < 1e-5);
        }
    }

    void batchRowsAreIndependentOfEachOther() {
        ModelConfig c = smallConfig();
        EveModel m(c);
        m->initWeights(3);
        torch::NoGradGuard noGrad;
        torch::Tensor a = torch::tensor(randomIds(12, 50257, 1)).unsqueeze(0);
        torch::Tensor b = torch::tensor(randomIds(12, 50257, 2)).unsqueeze(0);
        torch::Tensor both = m->forward(torch::cat({a, b})).logits;
        QVERIFY(torch::allclose(both[0], m->forward(a).logits[0], 1e-5, 1e-5));
        QVERIFY(torch::allclose(both[1], m->forward(b).logits[0], 1e-5, 1e-5));
        torch::Tensor last = m->forward(a, {}, /*lastPositionOnly=*/true).logits;
        QCOMPARE(last.size(1), int64_t(1));
        QVERIFY(torch::allclose(last[0][0], both[0][11], 1e-5, 1e-5));
    }

    void lossShiftsAndIgnoresMaskedLabels() {
        ModelConfig c = smallConfig();
        EveModel m(c);
        m->initWeights(5);
        torch::NoGradGuard noGrad;
        std::vector<int64_t> ids = randomIds(10, 50257, 9);
        torch::Tensor idx = torch::tensor(ids).unsqueeze(0);
        torch::Tensor labels = idx.clone();
        labels.narrow(1, 0, 4).fill_(-100);                 // the "prompt": positions 0..3 carry no loss
        EveOutput out = m->forward(idx, labels);
        torch::Tensor logp = torch::log_softmax(out.logits[0], -1);
        double sum = 0;
        int n = 0;
        for (int t = 0; t + 1 < 10; ++t) {
            if (t + 1 < 4) continue;                         // label at t+1 is masked
            sum -= logp[t][ids[size_t(t + 1)]].item<double>();
            ++n;
        }
        QCOMPARE(out.labelledTokens, int64_t(n));
        QVERIFY(std::fabs(out.ceLoss.item<double>() - sum / n) < 1e-5);
        QVERIFY(std::fabs(out.loss.item<double>() - (sum / n + c.router_aux_loss_coef * out.auxLoss.item<double>())) < 1e-5);

        EveOutput none = m->forward(idx, torch::full_like(idx, -100));
        QCOMPARE(none.labelledTokens, int64_t(0));
        QCOMPARE(none.ceLoss.item<double>(), 0.0);           // not NaN
    }

    void lossOnlyForwardMatchesFullForward() {
        ModelConfig c = smallConfig();
        EveModel a(c), b(c);
        a->initWeights(31);
        b->initWeights(31);
        torch::Tensor idx = torch::tensor(randomIds(40, 50257, 12)).view({2, 20});
        torch::Tensor labels = idx.clone();
        labels.narrow(1, 0, 12).fill_(-100);
        labels[1][19] = -100;                               // padding at the end of one row
        EveOutput full = a->forward(idx, labels);
        EveOutput part = b->forwardForLoss(idx, labels);
        QCOMPARE(part.labelledTokens, full.labelledTokens);
        QCOMPARE(part.logits.size(0), full.labelledTokens);
        QVERIFY(std::fabs(part.loss.item<double>() - full.loss.item<double>()) < 1e-6);
        full.loss.backward();
        part.loss.backward();
        auto pa = a->namedWeights(), pb = b->namedWeights();
        for (size_t i = 0; i < pa.size(); ++i) {
            if (!pa[i].second.grad().defined()) continue;
            QVERIFY2(torch::allclose(pa[i].second.grad(), pb[i].second.grad(), 1e-5, 1e-7), pa[i].first.c_str());
        }
    }

    void routingStatisticsAreConsistent() {
        ModelConfig c = smallConfig();
        EveModel m(c);
        m->initWeights(11);
        torch::NoGradGuard noGrad;
        EveOutput out = m->forward(torch::tensor(randomIds(24, 50257, 4)).view({2, 12}));
        QCOMPARE(int64_t(out.routing.size()), c.n_layer);
        for (const LayerRouting& r : out.routing) {
            QCOMPARE(r.expertTokens.sum().item<int64_t>(), int64_t(24 * c.top_k));
            QVERIFY(std::fabs(r.meanProb.sum().item<double>() - 1.0) < 1e-5);
            QCOMPARE(r.chosen.sizes().vec(), (std::vector<int64_t>{24, c.top_k}));
            torch::Tensor counted = torch::bincount(r.chosen.reshape({-1}), {}, c.num_experts);
            QVERIFY(torch::equal(counted, r.expertTokens));
        }
    }

    void gradientsReachRouterAndChosenExperts() {
        ModelConfig c = smallConfig();
        EveModel m(c);
        m->initWeights(13);
        torch::Tensor idx = torch::tensor(randomIds(32, 50257, 6)).view({2, 16});
        EveOutput out = m->forward(idx, idx);
        out.loss.backward();
        for (auto& [name, t] : m->namedWeights()) {
            QVERIFY2(t.grad().defined() || name.find(".experts.") != std::string::npos, name.c_str());
            if (name.find("router") != std::string::npos || name.find("shared_expert") != std::string::npos)
                QVERIFY2(t.grad().abs().sum().item<double>() > 0, name.c_str());
        }
        QVERIFY(m->transformer->wte->weight.grad().abs().sum().item<double>() > 0);
    }

    void bf16ForwardStaysCloseToF32() {
        ModelConfig c = smallConfig();
        EveModel m(c);
        m->initWeights(17);
        torch::NoGradGuard noGrad;
        torch::Tensor idx = torch::tensor(randomIds(16, 50257, 8)).unsqueeze(0);
        torch::Tensor f32 = m->forward(idx).logits;
        m->to(torch::kBFloat16);
        torch::Tensor bf = m->forward(idx).logits.to(torch::kFloat32);
        QVERIFY(bf.isfinite().all().item<bool>());
        // Measured ~0.01 of a logit range of ~0.5 here; bound it at 10% of the range.
        double range = f32.abs().max().item<double>();
        QVERIFY((bf - f32).abs().max().item<double>() < 0.1 * range);
    }

    void initIsDeterministicPerSeed() {
        ModelConfig c = smallConfig();
        EveModel a(c), b(c), d(c);
        a->initWeights(42);
        b->initWeights(42);
        d->initWeights(43);
        auto pa = a->namedWeights(), pb = b->namedWeights(), pd = d->namedWeights();
        bool anyDiff = false;
        for (size_t i = 0; i < pa.size(); ++i) {
            QVERIFY(torch::equal(pa[i].second, pb[i].second));
            anyDiff |= !torch::equal(pa[i].second, pd[i].second);
        }
        QVERIFY(anyDiff);
    }

    void saveLoadIsBitIdentical() {
        QTemporaryDir tmp;
        ModelConfig c = smallConfig();
        EveModel m(c);
        m->initWeights(21);
        for (DType storage : {DType::F32, DType::BF16}) {
            const std::string dir = tmp.filePath(dtypeName(storage)).toStdString();
            saveEveModel(dir, m, storage, nullptr);
            LoadedModel loaded = loadEveModel(dir);
            QCOMPARE(loaded.config.n_layer, c.n_layer);
            QCOMPARE(loaded.storedDTypes, std::vector<DType>{storage});
            auto want = modelTensors(m, storage);
            auto got = modelTensors(loaded.model, storage);
            QCOMPARE(got.size(), want.size());
            for (size_t i = 0; i < got.size(); ++i) {
                QCOMPARE(got[i].name, want[i].name);
                QVERIFY2(got[i].bytes == want[i].bytes, got[i].name.c_str());
            }
            // And a second save of the loaded model writes the same file, byte for byte.
            const std::string again = dir + "-again";
            saveEveModel(again, loaded.model, storage, nullptr);
            QCOMPARE(readTextFile(again + "/model.safetensors", size_t(1) << 30),
                     readTextFile(dir + "/model.safetensors", size_t(1) << 30));
        }
    }

    void loadRejectsMismatchedFolder() {
        QTemporaryDir tmp;
        ModelConfig c = smallConfig();
        EveModel m(c);
        const std::string dir = tmp.filePath("m").toStdString();
        saveEveModel(dir, m, DType::F32, nullptr);
        ModelConfig other = c;
        other.n_layer = 3;                      // config now promises a layer the file lacks
        other.save(dir + "/config.json");
        try {
            loadEveModel(dir);
            QFAIL("loading a folder whose config disagrees with its tensors must fail");
        } catch (const Error& e) {
            QString msg = e.what();
            QVERIFY2(msg.contains("transformer.h.2.ln_1.weight") && msg.contains("missing"), e.what());
        }
    }

    void greedyGenerationIsArgmaxOfForward() {
        ModelConfig c = smallConfig();
        EveModel m(c);
        m->initWeights(23);
        std::vector<int64_t> prompt = randomIds(5, 50257, 10);
        std::vector<int64_t> got = greedyGenerate(m, prompt, 6, torch::kCPU);
        QVERIFY(!got.empty() && got.size() <= 6);
        torch::NoGradGuard noGrad;
        std::vector<int64_t> seq = prompt;
        for (int64_t tok : got) {
            torch::Tensor logits = m->forward(torch::tensor(seq).unsqueeze(0)).logits[0][int64_t(seq.size()) - 1];
            QCOMPARE(logits.narrow(0, 0, 50257).argmax().item<int64_t>(), tok);
            seq.push_back(tok);
        }
    }

    void deviceSelection() {
        QCOMPARE(selectDevice("cpu").device.type(), torch::kCPU);
        QCOMPARE(selectDevice("").device.type(), torch::kCPU);
        DeviceChoice autoChoice = selectDevice("auto");
        QCOMPARE(autoChoice.device.type(), cudaAvailable() ? torch::kCUDA : torch::kCPU);
        for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "cudax"}) {
            bool threw = false;
            try { selectDevice(bad); } catch (const Error& e) { threw = QString(e.what()).contains(bad); }
            QVERIFY2(threw, bad);
        }
        if (!cudaAvailable()) {
            try {
                selectDevice("cuda:0");
                QFAIL("cuda without CUDA must fail");
            } catch (const Error& e) {
                QVERIFY2(QString(e.what()).contains("no usable CUDA"), e.what());
            }
        } else {
            QCOMPARE(selectDevice("cuda").device.type(), torch::kCUDA);
            // The same forward on the GPU agrees with the CPU.
            ModelConfig c = smallConfig();
            EveModel m(c);
            m->initWeights(1);
            torch::NoGradGuard g;
            torch::Tensor idx = torch::tensor(randomIds(9, 50257, 3)).unsqueeze(0);
            torch::Tensor cpu = m->forward(idx).logits;
            m->to(torch::kCUDA);
            torch::Tensor gpu = m->forward(idx.to(torch::kCUDA)).logits.to(torch::kCPU);
            QVERIFY((gpu - cpu).abs().max().item<double>() < 1e-3);
        }
    }

    void threadCountIsApplied() {
        QCOMPARE(applyThreadCount(1), 1);
        QCOMPARE(applyThreadCount(0), availableCores());
    }
};

QTEST_GUILESS_MAIN(TestEveModel)
#include "test_eve_model.moc"
