// The Eve-2 forward pass over a batch of tokens (prefill chunks and batched decode share it), and
// Session / Model::decodeBatch around it. Each matrix product is a list of MatJobs split into row
// chunks over the thread pool; the per-token path allocates nothing.
#include "engine/model.h"

#include "core/error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

namespace swarm::engine {

namespace {

// x * rsqrt(mean(x^2) + eps) * w, as the reference (float32 statistics).
void rmsnorm(const float* x, const float* w, float* out, int64_t n, float eps) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) s[l] += x[i + l] * x[i + l];
    for (; i < n; ++i) s[0] += x[i] * x[i];
    const float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    const float r = 1.0f / std::sqrt(sum / float(n) + eps);
    for (int64_t j = 0; j < n; ++j) out[j] = (x[j] * r) * w[j];
}

inline float silu(float g) { return g / (1.0f + std::exp(-g)); }

using Clock = std::chrono::steady_clock;
double secondsBetween(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Times consecutive phases into the attached profile (does nothing without one).
struct PhaseClock {
    OpProfile* profile;
    Clock::time_point last;
    explicit PhaseClock(const Model::Impl& m) : profile(m.profile) {
        if (profile) last = Clock::now();
    }
    void lap(Op op) {
        if (!profile) return;
        const Clock::time_point now = Clock::now();
        profile->add(op, secondsBetween(last, now));
        last = now;
    }
};

Act floatRows(const float* base, int64_t cols) {
    Act a;
    a.base = reinterpret_cast<const uint8_t*>(base);
    a.stride = size_t(cols) * sizeof(float);
    return a;
}

Act q8Rows(const BlockQ8A* base, int64_t cols) {
    Act a;
    a.base = reinterpret_cast<const uint8_t*>(base);
    a.stride = size_t(cols / kQK) * sizeof(BlockQ8A);
    return a;
}

// Runs s.jobs[0..nJobs) over the pool: each job's weight rows are cut into chunks of a multiple
// of 4 rows (the kernels' row tile), about 8 chunks per thread overall.
void runJobs(const Model::Impl& m, Scratch& s, int nJobs) {
    const int threads = m.pool->size();
    int64_t totalRows = 0;
    for (int j = 0; j < nJobs; ++j)
        if (s.jobs[size_t(j)].n > 0) totalRows += s.jobs[size_t(j)].w->rows;
    int64_t chunk = totalRows / (int64_t(threads) * 8);
    chunk = std::clamp<int64_t>((chunk + 3) / 4 * 4, 4, 512);
    s.jobTaskStart[0] = 0;
    for (int j = 0; j < nJobs; ++j) {
        const MatJob& job = s.jobs[size_t(j)];
        const int64_t tasks = job.n > 0 ? (job.w->rows + chunk - 1) / chunk : 0;
        s.jobTaskStart[size_t(j) + 1] = s.jobTaskStart[size_t(j)] + int32_t(tasks);
    }
    const int total = s.jobTaskStart[size_t(nJobs)];
    const Kernels& kr = *m.kernels;
    const bool q8 = m.q8Acts;
    auto run = [&](int task) {
        size_t j = 0;
        while (task >= s.jobTaskStart[j + 1]) ++j;
        const MatJob& job = s.jobs[j];
        const int64_t r0 = int64_t(task - s.jobTaskStart[j]) * chunk;
        const int64_t r1 = std::min(job.w->rows, r0 + chunk);
        if (q8 && isQuantized(job.w->type)) kr.gemmQ[int(job.w->type)](*job.w, r0, r1, job.xq, job.n, job.y, job.ldy);
        else kr.gemm[int(job.w->type)](*job.w, r0, r1, job.x, job.n, job.y, job.ldy);
    };
    if (!m.profile) {
        m.pool->parallelFor(total, [&](int task, int) { run(task); });
        return;
    }
    // Profiled: the region's wall time against the threads' busy time gives the idle share.
    std::vector<double> busy(size_t(threads), 0.0);
    const Clock::time_point t0 = Clock::now();
    m.pool->parallelFor(total, [&](int task, int thread) {
        const Clock::time_point a = Clock::now();
        run(task);
        busy[size_t(thread)] += secondsBetween(a, Clock::now());
    });
    const double wall = secondsBetween(t0, Clock::now());
    double busySum = 0;
    for (double b : busy) busySum += b;
    m.profile->syncSeconds += std::max(0.0, wall - busySum / double(threads));
}

void setJob(Scratch& s, int j, const Mat& w, Act x, Act xq, int n, float* y, int64_t ldy) {
    MatJob& job = s.jobs[size_t(j)];
    job.w = &w;
    job.x = x;
    job.xq = xq;
    job.n = n;
    job.y = y;
    job.ldy = ldy;
}

void quantizeRows(const Model::Impl& m, const float* x, int64_t cols, int n, BlockQ8A* out) {
    if (!m.q8Acts) return;
    for (int i = 0; i < n; ++i) m.kernels->quantizeQ8A(x + int64_t(i) * cols, out + int64_t(i) * (cols / kQK), cols);
}

} // namespace

void allocateScratch(const Model::Impl& m, Scratch& s, int cap) {
    const ModelConfig& c = m.config;
    const size_t n = size_t(cap), E = size_t(c.n_embd), X = size_t(c.num_experts), K = size_t(c.top_k);
    const size_t FF = size_t(c.expert_intermediate_size), FS = size_t(c.shared_expert_intermediate_size);
    s.cap = cap;
    s.x.assign(n * E, 0.0f);
    s.xn.assign(n * E, 0.0f);
    s.qkv.assign(n * 3 * E, 0.0f);
    s.att.assign(n * E, 0.0f);
    s.proj.assign(n * E, 0.0f);
    s.routerLogits.assign(n * X, 0.0f);
    s.chosen.assign(n * K, 0);
    s.chosenWeight.assign(n * K, 0.0f);
    s.expertCount.assign(X, 0);
    s.expertStart.assign(X + 1, 0);
    s.slotToken.assign(n * K, 0);
    s.tokenSlot.assign(n * K, 0);
    s.shGate.assign(n * FS, 0.0f);
    s.shUp.assign(n * FS, 0.0f);
    s.shOut.assign(n * E, 0.0f);
    s.exGate.assign(n * K * FF, 0.0f);
    s.exUp.assign(n * K * FF, 0.0f);
    s.exOut.assign(n * K * E, 0.0f);
    if (m.q8Acts) {
        s.xq.assign(n * E / kQK, BlockQ8A{});
        s.shq.assign(n * FS / kQK, BlockQ8A{});
        s.exq.assign(n * K * FF / kQK, BlockQ8A{});
    }
    s.scores.assign(size_t(m.pool->size()) * size_t(c.block_size), 0.0f);
    s.logits.clear();
    s.pos.assign(n, 0);
    s.seq.assign(n, nullptr);
    s.outIdx.assign(n, 0);
    s.jobs.assign(2 * (X + 1) + 4, MatJob{});
    s.jobTaskStart.assign(s.jobs.size() + 1, 0);
}

void forwardTokens(const Model::Impl& m, Scratch& s, int n, const int32_t* tokens, int nOut,
                   const int32_t* outIdx, float* out, int64_t ldOut) {
    const ModelConfig& c = m.config;
    const int64_t E = c.n_embd, H = c.n_head, D = c.head_dim, X = c.num_experts, K = c.top_k;
    const int64_t FF = c.expert_intermediate_size, FS = c.shared_expert_intermediate_size;
    const int64_t half = D / 2;
    const Kernels& kr = *m.kernels;
    const float eps = m.eps;
    const float attScale = float(1.0 / std::sqrt(double(D)));

    float* x = s.x.data();
    float* xn = s.xn.data();
    float* qkv = s.qkv.data();
    float* att = s.att.data();
    float* proj = s.proj.data();

    PhaseClock clock(m);
    if (m.profile) {
        m.profile->forwards += 1;
        m.profile->tokens += n;
    }
    for (int i = 0; i < n; ++i) rowToFloat(m.embd.type, m.embd.row(tokens[i]), x + i * E, E);
    clock.lap(Op::Embed);

    for (int64_t l = 0; l < c.n_layer; ++l) {
        const LayerWeights& lw = m.layers[size_t(l)];

        // ---- attention: x += c_proj(attn(rmsnorm_1(x)))
        for (int i = 0; i < n; ++i) rmsnorm(x + i * E, lw.ln1.data(), xn + i * E, E, eps);
        quantizeRows(m, xn, E, n, s.xq.data());
        clock.lap(Op::Norms);
        setJob(s, 0, lw.wq, floatRows(xn, E), q8Rows(s.xq.data(), E), n, qkv, 3 * E);
        setJob(s, 1, lw.wk, floatRows(xn, E), q8Rows(s.xq.data(), E), n, qkv + E, 3 * E);
        setJob(s, 2, lw.wv, floatRows(xn, E), q8Rows(s.xq.data(), E), n, qkv + 2 * E, 3 * E);
        runJobs(m, s, 3);
        clock.lap(Op::Qkv);

        // Interleaved RoPE on q and k (pairs 2j, 2j+1), then k and v into the session's cache.
        for (int i = 0; i < n; ++i) {
            Session::State& st = *s.seq[size_t(i)];
            const int p = s.pos[size_t(i)];
            const float* cs = m.ropeCos.data() + int64_t(p) * half;
            const float* sn = m.ropeSin.data() + int64_t(p) * half;
            float* q = qkv + i * 3 * E;
            float* k = q + E;
            const float* v = q + 2 * E;
            for (int64_t h = 0; h < H; ++h)
                for (int64_t j = 0; j < half; ++j) {
                    float* qp = q + h * D + 2 * j;
                    float* kp = k + h * D + 2 * j;
                    const float q0 = qp[0], q1 = qp[1], k0 = kp[0], k1 = kp[1];
                    qp[0] = q0 * cs[j] - q1 * sn[j];
                    qp[1] = q0 * sn[j] + q1 * cs[j];
                    kp[0] = k0 * cs[j] - k1 * sn[j];
                    kp[1] = k0 * sn[j] + k1 * cs[j];
                }
            for (int64_t h = 0; h < H; ++h) {
                const size_t at = (size_t(l * H + h) * size_t(st.ctx) + size_t(p)) * st.kvRowBytes;
                rowFromFloat(m.kvType, k + h * D, st.k.get() + at, D);
                rowFromFloat(m.kvType, v + h * D, st.v.get() + at, D);
            }
        }

        // Causal attention, one task per (token, head): scores over positions 0..pos.
        m.pool->parallelFor(int(n * H), [&](int task, int thread) {
            const int i = task / int(H);
            const int64_t h = task % H;
            const Session::State& st = *s.seq[size_t(i)];
            const int p = s.pos[size_t(i)];
            const float* q = qkv + i * 3 * E + h * D;
            const size_t head = size_t(l * H + h) * size_t(st.ctx) * st.kvRowBytes;
            const uint8_t* vc = st.v.get() + head;
            float* sc = s.scores.data() + size_t(thread) * size_t(c.block_size);
            // Scores: the cached keys 0..p of this head are a [p + 1, D] matrix of the cache's type.
            Mat keys;
            keys.type = m.kvType;
            keys.rows = p + 1;
            keys.cols = D;
            keys.rowBytes = st.kvRowBytes;
            keys.data = st.k.get() + head;
            kr.gemm[int(m.kvType)](keys, 0, p + 1, floatRows(q, D), 1, sc, p + 1);
            float mx = -std::numeric_limits<float>::infinity();
            for (int t = 0; t <= p; ++t) {
                sc[t] *= attScale;
                mx = std::max(mx, sc[t]);
            }
            float sum = 0.0f;
            for (int t = 0; t <= p; ++t) {
                sc[t] = std::exp(sc[t] - mx);
                sum += sc[t];
            }
            float* o = att + i * E + h * D;
            std::memset(o, 0, size_t(D) * sizeof(float));
            const RowAxpyFn axpyRow = kr.rowAxpy[int(m.kvType)];
            for (int t = 0; t <= p; ++t) axpyRow(sc[t] / sum, vc + size_t(t) * st.kvRowBytes, o, D);
        });

        clock.lap(Op::Attention);
        quantizeRows(m, att, E, n, s.xq.data());
        setJob(s, 0, lw.wo, floatRows(att, E), q8Rows(s.xq.data(), E), n, proj, E);
        runJobs(m, s, 1);
        clock.lap(Op::AttnOut);
        for (int64_t i = 0; i < n * E; ++i) x[i] += proj[i];

        // ---- MoE: x += shared(xn) + sum over the top-k of weight * expert(xn), xn = rmsnorm_2(x)
        for (int i = 0; i < n; ++i) rmsnorm(x + i * E, lw.ln2.data(), xn + i * E, E, eps);
        quantizeRows(m, xn, E, n, s.xq.data());

        clock.lap(Op::Norms);
        // Router: softmax over all experts, top-k, renormalise the chosen probabilities.
        float* rl = s.routerLogits.data();
        kr.gemm[int(WType::F32)](lw.router, 0, X, floatRows(xn, E), n, rl, X);
        for (int64_t e = 0; e < X; ++e) s.expertCount[size_t(e)] = 0;
        for (int i = 0; i < n; ++i) {
            float* pr = rl + i * X;
            float mx = pr[0];
            for (int64_t e = 1; e < X; ++e) mx = std::max(mx, pr[e]);
            float sum = 0.0f;
            for (int64_t e = 0; e < X; ++e) {
                pr[e] = std::exp(pr[e] - mx);
                sum += pr[e];
            }
            for (int64_t e = 0; e < X; ++e) pr[e] /= sum;
            int32_t* ch = s.chosen.data() + i * K;
            float* cw = s.chosenWeight.data() + i * K;
            float chosenSum = 0.0f;
            for (int64_t j = 0; j < K; ++j) {
                int32_t best = -1;
                for (int64_t e = 0; e < X; ++e) {
                    bool taken = false;
                    for (int64_t q = 0; q < j; ++q) taken = taken || ch[q] == e;
                    if (!taken && (best < 0 || pr[e] > pr[best])) best = int32_t(e);
                }
                ch[j] = best;
                cw[j] = pr[best];
                chosenSum += pr[best];
                s.expertCount[size_t(best)]++;
            }
            for (int64_t j = 0; j < K; ++j) cw[j] /= chosenSum;
            Session::State& st = *s.seq[size_t(i)];
            std::memcpy(st.chosen.data() + l * K, ch, size_t(K) * sizeof(int32_t));
            std::memcpy(st.chosenWeight.data() + l * K, cw, size_t(K) * sizeof(float));
        }
        // Group the (token, choice) slots by expert (counting sort, tokens in order).
        s.expertStart[0] = 0;
        for (int64_t e = 0; e < X; ++e) {
            s.expertStart[size_t(e) + 1] = s.expertStart[size_t(e)] + s.expertCount[size_t(e)];
            s.expertCount[size_t(e)] = 0;
        }
        for (int i = 0; i < n; ++i)
            for (int64_t j = 0; j < K; ++j) {
                const int32_t e = s.chosen[size_t(i * K + j)];
                const int32_t slot = s.expertStart[size_t(e)] + s.expertCount[size_t(e)]++;
                s.slotToken[size_t(slot)] = i;
                s.tokenSlot[size_t(i * K + j)] = slot;
            }

        clock.lap(Op::Router);
        // Gate and up projections of the shared expert and of every expert that got tokens.
        int nj = 0;
        setJob(s, nj++, lw.shGate, floatRows(xn, E), q8Rows(s.xq.data(), E), n, s.shGate.data(), FS);
        setJob(s, nj++, lw.shUp, floatRows(xn, E), q8Rows(s.xq.data(), E), n, s.shUp.data(), FS);
        for (int64_t e = 0; e < X; ++e) {
            const int32_t start = s.expertStart[size_t(e)], count = s.expertCount[size_t(e)];
            if (count == 0) continue;
            Act ax = floatRows(xn, E), aq = q8Rows(s.xq.data(), E);
            ax.idx = aq.idx = s.slotToken.data() + start;
            setJob(s, nj++, lw.gate[size_t(e)], ax, aq, count, s.exGate.data() + start * FF, FF);
            setJob(s, nj++, lw.up[size_t(e)], ax, aq, count, s.exUp.data() + start * FF, FF);
        }
        runJobs(m, s, nj);
        clock.lap(Op::ExpertUpGate);

        // SwiGLU: h = silu(gate) * up, in place in the gate buffers.
        const int64_t slots = int64_t(n) * K;
        for (int64_t i = 0; i < n * FS; ++i) s.shGate[size_t(i)] = silu(s.shGate[size_t(i)]) * s.shUp[size_t(i)];
        for (int64_t i = 0; i < slots * FF; ++i) s.exGate[size_t(i)] = silu(s.exGate[size_t(i)]) * s.exUp[size_t(i)];
        quantizeRows(m, s.shGate.data(), FS, n, s.shq.data());
        quantizeRows(m, s.exGate.data(), FF, int(slots), s.exq.data());

        clock.lap(Op::MoeCombine);
        // Down projections.
        nj = 0;
        setJob(s, nj++, lw.shDown, floatRows(s.shGate.data(), FS), q8Rows(s.shq.data(), FS), n, s.shOut.data(), E);
        for (int64_t e = 0; e < X; ++e) {
            const int32_t start = s.expertStart[size_t(e)], count = s.expertCount[size_t(e)];
            if (count == 0) continue;
            setJob(s, nj++, lw.down[size_t(e)], floatRows(s.exGate.data() + start * FF, FF),
                   q8Rows(s.exq.data() + (m.q8Acts ? start * (FF / kQK) : 0), FF), count, s.exOut.data() + start * E, E);
        }
        runJobs(m, s, nj);
        clock.lap(Op::ExpertDown);

        // x += shared + routed, the routed sum taken in increasing expert order (as the reference).
        for (int i = 0; i < n; ++i) {
            int32_t order[64];
            const int64_t kk = std::min<int64_t>(K, 64);
            for (int64_t j = 0; j < kk; ++j) order[j] = int32_t(j);
            const int32_t* ch = s.chosen.data() + i * K;
            std::sort(order, order + kk, [&](int32_t a, int32_t b) { return ch[a] < ch[b]; });
            float* xi = x + i * E;
            const float* sh = s.shOut.data() + i * E;
            for (int64_t d = 0; d < E; ++d) {
                float routed = 0.0f;
                for (int64_t j = 0; j < kk; ++j) {
                    const int64_t jj = order[j];
                    routed += s.chosenWeight[size_t(i * K + jj)] * s.exOut[size_t(s.tokenSlot[size_t(i * K + jj)] * E + d)];
                }
                xi[d] += sh[d] + routed;
            }
        }
        clock.lap(Op::MoeCombine);
    }

    if (nOut <= 0) return;
    // Final norm and the tied LM head, only for the rows whose logits are wanted.
    for (int j = 0; j < nOut; ++j) {
        const int i = outIdx ? outIdx[j] : j;
        rmsnorm(x + i * E, m.lnf.data(), xn + int64_t(j) * E, E, eps);
    }
    quantizeRows(m, xn, E, nOut, s.xq.data());
    clock.lap(Op::Norms);
    setJob(s, 0, m.head, floatRows(xn, E), q8Rows(s.xq.data(), E), nOut, out, ldOut);
    runJobs(m, s, 1);
    clock.lap(Op::LmHead);
}

// =============================================================================================
// Session

Session::Session(const Model& model, const SessionOptions& options) : s_(std::make_unique<State>()) {
    if (!model.impl_) throw Error("engine: the model is not loaded");
    const Model::Impl& m = *model.impl_;
    const ModelConfig& c = m.config;
    State& st = *s_;
    st.model = model.impl_;
    st.ctx = options.context > 0 ? options.context : int(c.block_size);
    if (st.ctx > c.block_size)
        throw Error("engine: a context of " + std::to_string(st.ctx) + " tokens exceeds the model's block_size (" +
                    std::to_string(c.block_size) + ")");
    if (options.maxBatch < 1 || options.maxBatch > 4096)
        throw Error("engine: maxBatch must be between 1 and 4096, got " + std::to_string(options.maxBatch));
    st.kvRowBytes = rowBytes(m.kvType, c.head_dim);
    const size_t cache = size_t(c.n_layer) * size_t(c.n_head) * size_t(st.ctx) * st.kvRowBytes;
    st.k.reset(new uint8_t[cache]);   // not zeroed: only rows below pos are read
    st.v.reset(new uint8_t[cache]);
    st.logits.assign(size_t(c.vocab_size), 0.0f);
    st.chosen.assign(size_t(c.n_layer * c.top_k), 0);
    st.chosenWeight.assign(size_t(c.n_layer * c.top_k), 0.0f);
    allocateScratch(m, st.scratch, options.maxBatch);
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

namespace {
Session::State& state(const std::unique_ptr<Session::State>& s) {
    if (!s) throw Error("engine: the session was moved from");
    return *s;
}
} // namespace

const ModelConfig& Session::config() const { return state(s_).model->config; }
const Gpt2Tokenizer& Session::tokenizer() const { return state(s_).model->tokenizer; }
int Session::context() const { return state(s_).ctx; }
int Session::position() const { return state(s_).pos; }
int Session::maxBatch() const { return state(s_).scratch.cap; }
int Session::vocabSize() const { return int(state(s_).model->config.vocab_size); }
void Session::reset() { state(s_).pos = 0; }
void Session::truncate(int position) {
    State& st = state(s_);
    if (position < 0 || position > st.pos)
        throw Error("engine: cannot truncate a session of " + std::to_string(st.pos) + " tokens to " +
                    std::to_string(position));
    st.pos = position;
}
const float* Session::logits() const { return state(s_).logits.data(); }
const std::vector<float>& Session::allLogits() const { return state(s_).allLogits; }
const int32_t* Session::chosenExperts() const { return state(s_).chosen.data(); }
const float* Session::expertWeights() const { return state(s_).chosenWeight.data(); }

void Session::prefill(const int32_t* tokens, int n, bool allLogits) {
    State& st = state(s_);
    const Model::Impl& m = *st.model;
    const int64_t V = m.config.vocab_size;
    if (n <= 0 || !tokens) throw Error("engine: prefill needs at least one token");
    if (n > st.ctx - st.pos)
        throw Error("engine: " + std::to_string(n) + " tokens do not fit the context: " + std::to_string(st.pos) +
                    " of " + std::to_string(st.ctx) + " positions are used");
    for (int i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= V)
            throw Error("engine: token id " + std::to_string(tokens[i]) + " is outside the vocabulary (0.." +
                        std::to_string(V - 1) + ")");
    if (allLogits) st.allLogits.resize(size_t(n) * size_t(V));
    Scratch& s = st.scratch;
    for (int c0 = 0; c0 < n; c0 += s.cap) {
        const int cn = std::min(s.cap, n - c0);
        for (int i = 0; i < cn; ++i) {
            s.seq[size_t(i)] = &st;
            s.pos[size_t(i)] = st.pos + i;
        }
        if (allLogits) {
            forwardTokens(m, s, cn, tokens + c0, cn, nullptr, st.allLogits.data() + size_t(c0) * size_t(V), V);
        } else if (c0 + cn == n) {
            s.outIdx[0] = cn - 1;
            forwardTokens(m, s, cn, tokens + c0, 1, s.outIdx.data(), st.logits.data(), V);
        } else {
            forwardTokens(m, s, cn, tokens + c0, 0, nullptr, nullptr, 0);
        }
        st.pos += cn;
    }
    if (allLogits) std::memcpy(st.logits.data(), st.allLogits.data() + size_t(n - 1) * size_t(V), size_t(V) * sizeof(float));
}

void Model::decodeBatch(Session* const* sessions, const int32_t* tokens, int n) const {
    if (!impl_) throw Error("engine: the model is not loaded");
    const Impl& m = *impl_;
    const int64_t V = m.config.vocab_size;
    if (n <= 0 || !sessions || !tokens) throw Error("engine: decodeBatch needs at least one session");
    for (int i = 0; i < n; ++i) {
        if (!sessions[i] || !sessions[i]->s_) throw Error("engine: decodeBatch got an empty session");
        const Session::State& st = *sessions[i]->s_;
        if (st.model.get() != impl_.get()) throw Error("engine: decodeBatch got a session of another model");
        if (st.pos >= st.ctx)
            throw Error("engine: session " + std::to_string(i) + " is full (" + std::to_string(st.ctx) + " tokens)");
        if (tokens[i] < 0 || tokens[i] >= V)
            throw Error("engine: token id " + std::to_string(tokens[i]) + " is outside the vocabulary");
        for (int j = 0; j < i; ++j)
            if (sessions[j] == sessions[i]) throw Error("engine: decodeBatch got the same session twice");
    }
    Scratch& s = sessions[0]->s_->scratch;
    if (n > s.cap)
        throw Error("engine: decodeBatch of " + std::to_string(n) + " sequences exceeds the first session's maxBatch (" +
                    std::to_string(s.cap) + ")");
    if (s.logits.size() < size_t(n) * size_t(V)) s.logits.resize(size_t(n) * size_t(V));   // grows once per wider batch
    for (int i = 0; i < n; ++i) {
        s.seq[size_t(i)] = sessions[i]->s_.get();
        s.pos[size_t(i)] = sessions[i]->s_->pos;
    }
    forwardTokens(m, s, n, tokens, n, nullptr, s.logits.data(), V);
    for (int i = 0; i < n; ++i) {
        Session::State& st = *sessions[i]->s_;
        std::memcpy(st.logits.data(), s.logits.data() + size_t(i) * size_t(V), size_t(V) * sizeof(float));
        st.pos += 1;
    }
}

} // namespace swarm::engine
