#include "serve/swarm.h"

#include "core/error.h"
#include "core/hf_hub.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace swarm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

double msSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct FieldReader {
    const std::string& where;
    [[noreturn]] void fail(const std::string& field, const std::string& why) const {
        throw Error(where + ": field '" + field + "': " + why);
    }
    const json* get(const json& obj, const std::string& key) const {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) return nullptr;
        return &*it;
    }
    std::string str(const json& obj, const std::string& key, const std::string& field, bool required,
                    const std::string& fallback = "") const {
        const json* v = get(obj, key);
        if (!v) {
            if (required) fail(field, "missing");
            return fallback;
        }
        if (!v->is_string()) fail(field, "must be a string");
        return v->get<std::string>();
    }
    double number(const json& obj, const std::string& key, const std::string& field, double fallback) const {
        const json* v = get(obj, key);
        if (!v) return fallback;
        if (!v->is_number()) fail(field, "must be a number");
        const double d = v->get<double>();
        if (!std::isfinite(d)) fail(field, "must be finite");
        return d;
    }
    long long integer(const json& obj, const std::string& key, const std::string& field, long long fallback,
                      long long min, long long max) const {
        const json* v = get(obj, key);
        if (!v) return fallback;
        if (!v->is_number_integer() && !v->is_number_unsigned()) fail(field, "must be an integer");
        const long long n = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(max) ? max + 1 : v->get<long long>();
        if (n < min || n > max)
            fail(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
        return n;
    }
    bool boolean(const json& obj, const std::string& key, const std::string& field, bool fallback) const {
        const json* v = get(obj, key);
        if (!v) return fallback;
        if (!v->is_boolean()) fail(field, "must be true or false");
        return v->get<bool>();
    }
    std::vector<std::string> strings(const json& obj, const std::string& key, const std::string& field) const {
        std::vector<std::string> out;
        const json* v = get(obj, key);
        if (!v) return out;
        if (!v->is_array()) fail(field, "must be a list of strings");
        for (size_t i = 0; i < v->size(); ++i) {
            if (!(*v)[i].is_string()) fail(field + "[" + std::to_string(i) + "]", "must be a string");
            out.push_back((*v)[i].get<std::string>());
        }
        return out;
    }
    void onlyKnown(const json& obj, const std::string& prefix, const std::set<std::string>& known) const {
        for (auto it = obj.begin(); it != obj.end(); ++it)
            if (!known.count(it.key())) fail(prefix + it.key(), "unknown field");
    }
};

// A model path relative to the definition's folder; org/name[@rev] with no such local path stays a
// Hugging Face repo id (resolved when the model is loaded: localModel).
std::string resolvePath(const std::string& p, const std::string& baseDir) {
    if (baseDir.empty() || p.empty() || fs::path(p).is_absolute()) return p;
    const fs::path local = (fs::path(baseDir) / p).lexically_normal();
    std::error_code ec;
    if (!fs::exists(local, ec) && hub::looksLikeRepoId(p)) return p;
    return local.string();
}

// The folder or file to load: a repo id through the standard Hugging Face cache (downloaded into
// it when missing and not offline).
std::string localModel(const std::string& model) {
    std::error_code ec;
    if (fs::exists(model, ec) || !hub::looksLikeRepoId(model)) return model;
    return hub::resolveModel(hub::parseRepoId(model, hub::RepoType::Model), hub::hubOptionsFromEnvironment()).dir;
}

void checkTemplate(const FieldReader& r, const std::string& text, const std::string& field) {
    TextTemplate t;
    try {
        t = TextTemplate::parse(text);
    } catch (const Error& e) {
        r.fail(field, e.what());
    }
    for (const std::string& f : t.rootFields())
        if (f != "input") r.fail(field, "unknown placeholder {" + f + "} (only {input})");
}

void checkDtype(const FieldReader& r, const std::string& dtype, const std::string& field) {
    engine::WType w;
    if (!dtype.empty() && !engine::parseWType(dtype, w)) r.fail(field, "'" + dtype + "' is not f32, bf16, f16 or q8_0");
}

SpecialistDef parseSpecialist(const FieldReader& r, const json& j, const std::string& label,
                              const std::string& prefix, const std::string& baseDir) {
    if (!j.is_object()) r.fail(prefix, "must be an object");
    r.onlyKnown(j, prefix + ".", {"model", "prompt", "max_tokens", "temperature", "top_k", "top_p",
                                  "repetition_penalty", "seed", "stop", "dtype"});
    SpecialistDef s;
    s.label = label;
    s.model = r.str(j, "model", prefix + ".model", true);
    if (s.model.empty()) r.fail(prefix + ".model", "is empty");
    s.model = resolvePath(s.model, baseDir);
    s.prompt = r.str(j, "prompt", prefix + ".prompt", false, s.prompt);
    checkTemplate(r, s.prompt, prefix + ".prompt");
    s.sampling.maxTokens = int(r.integer(j, "max_tokens", prefix + ".max_tokens", 128, 1, 1 << 20));
    s.sampling.temperature = float(r.number(j, "temperature", prefix + ".temperature", 0.0));
    if (s.sampling.temperature < 0) r.fail(prefix + ".temperature", "must be >= 0");
    s.sampling.topK = int(r.integer(j, "top_k", prefix + ".top_k", 0, 0, 1 << 20));
    s.sampling.topP = float(r.number(j, "top_p", prefix + ".top_p", 1.0));
    if (!(s.sampling.topP > 0 && s.sampling.topP <= 1)) r.fail(prefix + ".top_p", "must be in (0, 1]");
    s.sampling.repetitionPenalty = float(r.number(j, "repetition_penalty", prefix + ".repetition_penalty", 1.0));
    if (!(s.sampling.repetitionPenalty > 0)) r.fail(prefix + ".repetition_penalty", "must be > 0");
    s.sampling.seed = uint64_t(r.integer(j, "seed", prefix + ".seed", 0, 0, std::numeric_limits<long long>::max()));
    s.sampling.stop = r.strings(j, "stop", prefix + ".stop");
    for (size_t i = 0; i < s.sampling.stop.size(); ++i)
        if (s.sampling.stop[i].empty()) r.fail(prefix + ".stop[" + std::to_string(i) + "]", "is empty");
    s.sampling.truncatePrompt = true;
    s.dtype = r.str(j, "dtype", prefix + ".dtype", false);
    checkDtype(r, s.dtype, prefix + ".dtype");
    return s;
}

engine::LoadOptions loadOptions(const std::string& dtype, int threads) {
    engine::LoadOptions o;
    o.threads = threads;
    if (!dtype.empty()) {
        engine::WType w;
        engine::parseWType(dtype, w);
        o.dtype = w;
    }
    return o;
}

std::string renderPrompt(const TextTemplate& t, const std::string& input, const std::string& what) {
    std::string out;
    TemplateFailure failure;
    if (!t.render(json{{"input", input}}, out, failure)) throw Error(what + ": prompt: " + failure.detail);
    return out;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Definition

SwarmDefinition SwarmDefinition::fromJson(const json& j, const std::string& baseDir, const std::string& where) {
    const FieldReader r{where};
    if (!j.is_object()) throw Error(where + ": must be a JSON object");
    r.onlyKnown(j, "", {"name", "router", "specialists", "fallback", "memory_budget_mb", "threads"});
    SwarmDefinition d;
    d.name = r.str(j, "name", "name", false, d.name);

    const json* router = r.get(j, "router");
    if (!router) r.fail("router", "missing");
    if (!router->is_object()) r.fail("router", "must be an object");
    r.onlyKnown(*router, "router.", {"model", "prompt", "labels", "label_prefix", "score_eos", "min_confidence", "dtype"});
    d.router.model = resolvePath(r.str(*router, "model", "router.model", true), baseDir);
    if (d.router.model.empty()) r.fail("router.model", "is empty");
    d.router.prompt = r.str(*router, "prompt", "router.prompt", false, d.router.prompt);
    checkTemplate(r, d.router.prompt, "router.prompt");
    d.router.extraLabels = r.strings(*router, "labels", "router.labels");
    d.router.labelPrefix = r.str(*router, "label_prefix", "router.label_prefix", false, d.router.labelPrefix);
    d.router.scoreEos = r.boolean(*router, "score_eos", "router.score_eos", true);
    d.router.minConfidence = r.number(*router, "min_confidence", "router.min_confidence", 0.0);
    if (d.router.minConfidence < 0 || d.router.minConfidence > 1) r.fail("router.min_confidence", "must be in [0, 1]");
    d.router.dtype = r.str(*router, "dtype", "router.dtype", false);
    checkDtype(r, d.router.dtype, "router.dtype");

    const json* specs = r.get(j, "specialists");
    if (!specs) r.fail("specialists", "missing");
    if (!specs->is_object()) r.fail("specialists", "must be an object mapping labels to specialists");
    if (specs->empty()) r.fail("specialists", "is empty: a swarm needs at least one specialist");
    for (auto it = specs->begin(); it != specs->end(); ++it) {
        const std::string& label = it.key();
        if (label.empty()) r.fail("specialists", "a label is empty");
        if (label == "fallback" || label == "swarm") r.fail("specialists." + label, "'" + label + "' is reserved");
        d.specialists.push_back(parseSpecialist(r, it.value(), label, "specialists." + label, baseDir));
    }
    if (const json* fb = r.get(j, "fallback")) d.fallback = parseSpecialist(r, *fb, "fallback", "fallback", baseDir);

    std::set<std::string> seen;
    for (const SpecialistDef& s : d.specialists) seen.insert(s.label);
    for (size_t i = 0; i < d.router.extraLabels.size(); ++i) {
        const std::string& l = d.router.extraLabels[i];
        const std::string field = "router.labels[" + std::to_string(i) + "]";
        if (l.empty()) r.fail(field, "is empty");
        if (!seen.insert(l).second) r.fail(field, "'" + l + "' is listed twice (or is also a specialist)");
    }
    if (!d.fallback && !d.router.extraLabels.empty())
        r.fail("fallback", "missing: router.labels routes labels without a specialist to the fallback");
    if (!d.fallback && d.router.minConfidence > 0)
        r.fail("fallback", "missing: router.min_confidence routes unsure requests to the fallback");

    const long long mb = r.integer(j, "memory_budget_mb", "memory_budget_mb", 0, 0, 1LL << 30);
    d.memoryBudgetBytes = uint64_t(mb) << 20;
    d.threads = int(r.integer(j, "threads", "threads", 0, 0, 1024));
    return d;
}

SwarmDefinition SwarmDefinition::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the swarm definition");
    std::stringstream ss;
    ss << in.rdbuf();
    json j = json::parse(ss.str(), nullptr, false);
    if (j.is_discarded()) throw Error(path + ": not valid JSON");
    return fromJson(j, fs::absolute(path).parent_path().string(), path);
}

json SwarmDefinition::toJson() const {
    auto spec = [](const SpecialistDef& s) {
        json o{{"model", s.model}, {"prompt", s.prompt}, {"max_tokens", s.sampling.maxTokens},
               {"temperature", s.sampling.temperature}, {"top_k", s.sampling.topK}, {"top_p", s.sampling.topP},
               {"repetition_penalty", s.sampling.repetitionPenalty}, {"seed", s.sampling.seed},
               {"stop", s.sampling.stop}};
        if (!s.dtype.empty()) o["dtype"] = s.dtype;
        return o;
    };
    json j;
    j["name"] = name;
    j["router"] = {{"model", router.model}, {"prompt", router.prompt}, {"labels", router.extraLabels},
                   {"label_prefix", router.labelPrefix}, {"score_eos", router.scoreEos},
                   {"min_confidence", router.minConfidence}};
    if (!router.dtype.empty()) j["router"]["dtype"] = router.dtype;
    j["specialists"] = json::object();
    for (const SpecialistDef& s : specialists) j["specialists"][s.label] = spec(s);
    if (fallback) j["fallback"] = spec(*fallback);
    j["memory_budget_mb"] = memoryBudgetBytes >> 20;
    j["threads"] = threads;
    return j;
}

std::vector<std::string> SwarmDefinition::routeLabels() const {
    std::vector<std::string> out;
    for (const SpecialistDef& s : specialists) out.push_back(s.label);
    for (const std::string& l : router.extraLabels) out.push_back(l);
    return out;
}

const SpecialistDef* SwarmDefinition::specialist(const std::string& label) const {
    if (label == "fallback") return fallback ? &*fallback : nullptr;
    for (const SpecialistDef& s : specialists)
        if (s.label == label) return &s;
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Swarm

Swarm::Swarm(SwarmDefinition def) : def_(std::move(def)) {
    router_ = engine::Model::load(localModel(def_.router.model), loadOptions(def_.router.dtype, def_.threads));
    routerPrompt_ = TextTemplate::parse(def_.router.prompt);
    labels_ = def_.routeLabels();
    for (const std::string& l : labels_) {
        std::vector<int32_t> t = router_.tokenizer().encode(def_.router.labelPrefix + l, false);
        if (def_.router.scoreEos) t.push_back(engine::kEndOfText);
        if (t.empty()) throw Error("swarm '" + def_.name + "': label '" + l + "' has no tokens");
        labelTokens_.push_back(std::move(t));
    }
}

uint64_t Swarm::modelBytes(const engine::Model& m) { return m.stats().mappedBytes + m.stats().ownedBytes; }

RouteResult Swarm::route(const std::string& input) const {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> prompt = router_.tokenizer().encode(renderPrompt(routerPrompt_, input, "router"), false);
    if (prompt.empty()) prompt.push_back(engine::kEndOfText);
    size_t longest = 0;
    for (const auto& t : labelTokens_) longest = std::max(longest, t.size());
    const int block = router_.config().block_size;
    if (int(longest) >= block) throw Error("router: a label is longer than the router's context");
    // Keep the end of the prompt when prompt + label would not fit.
    const size_t keep = size_t(block) - longest;
    if (prompt.size() > keep) prompt.erase(prompt.begin(), prompt.end() - std::ptrdiff_t(keep));

    engine::SessionOptions so;
    so.context = int(prompt.size() + longest);
    so.maxBatch = std::max<int>(int(longest), std::min<int>(128, int(prompt.size())));
    engine::Session s(router_, so);
    s.prefill(prompt);
    const int vocab = s.vocabSize();
    const int limit = std::min(vocab, engine::kTokenizerVocab);

    auto logSoftmaxAt = [&](const float* row, int32_t token) {
        float mx = -std::numeric_limits<float>::infinity();
        for (int i = 0; i < limit; ++i) mx = std::max(mx, row[i]);
        double sum = 0;
        for (int i = 0; i < limit; ++i) sum += std::exp(double(row[i]) - mx);
        return double(row[token]) - mx - std::log(sum);
    };
    const std::vector<float> first(s.logits(), s.logits() + vocab);
    const int base = s.position();

    RouteResult r;
    r.scores.resize(labels_.size());
    for (size_t li = 0; li < labels_.size(); ++li) {
        const std::vector<int32_t>& t = labelTokens_[li];
        double score = logSoftmaxAt(first.data(), t[0]);
        if (t.size() > 1) {
            s.truncate(base);
            s.prefill(t.data(), int(t.size()) - 1, true);
            const std::vector<float>& all = s.allLogits();
            for (size_t k = 1; k < t.size(); ++k) score += logSoftmaxAt(all.data() + (k - 1) * size_t(vocab), t[k]);
        }
        r.scores[li] = score;
    }
    const double best = *std::max_element(r.scores.begin(), r.scores.end());
    double z = 0;
    for (double sc : r.scores) z += std::exp(sc - best);
    size_t argmax = 0;
    for (size_t li = 0; li < labels_.size(); ++li) {
        const double p = std::exp(r.scores[li] - best) / z;
        r.probabilities.emplace_back(labels_[li], p);
        if (r.scores[li] > r.scores[argmax]) argmax = li;
    }
    r.label = labels_[argmax];
    r.confidence = r.probabilities[argmax].second;
    r.ms = msSince(t0);
    return r;
}

const SpecialistDef& Swarm::specialistDef(const std::string& label) const {
    const SpecialistDef* s = def_.specialist(label);
    if (!s) throw Error("swarm '" + def_.name + "': no specialist '" + label + "'");
    return *s;
}

std::shared_ptr<const engine::Model> Swarm::specialistModel(const std::string& label) {
    const SpecialistDef& def = specialistDef(label);
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < lru_.size(); ++i)
        if (lru_[i].label == label) {
            std::rotate(lru_.begin(), lru_.begin() + std::ptrdiff_t(i), lru_.begin() + std::ptrdiff_t(i) + 1);
            return lru_.front().model;
        }
    auto model = std::make_shared<const engine::Model>(engine::Model::load(localModel(def.model), loadOptions(def.dtype, def_.threads)));
    ++loads_;
    lru_.insert(lru_.begin(), Loaded{label, model, modelBytes(*model)});
    if (def_.memoryBudgetBytes > 0) {
        uint64_t total = 0;
        for (const Loaded& l : lru_) total += l.bytes;
        // Unload the least recently used others (requests still running keep their copy alive).
        while (total > def_.memoryBudgetBytes && lru_.size() > 1) {
            total -= lru_.back().bytes;
            lru_.pop_back();
        }
    }
    return model;
}

std::vector<std::string> Swarm::warmFrom(const Swarm& previous) {
    std::vector<std::string> labels = previous.loadedSpecialists();
    std::reverse(labels.begin(), labels.end());
    std::vector<std::string> loaded;
    for (const std::string& label : labels)
        if (def_.specialist(label)) {
            specialistModel(label);
            loaded.push_back(label);
        }
    return loaded;
}

std::vector<std::string> Swarm::loadedSpecialists() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const Loaded& l : lru_) out.push_back(l.label);
    return out;
}

uint64_t Swarm::loadedBytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    uint64_t total = 0;
    for (const Loaded& l : lru_) total += l.bytes;
    return total;
}

int Swarm::loads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return loads_;
}

DispatchResult Swarm::dispatch(const DispatchRequest& request) {
    DispatchResult out;
    std::string label = request.label;
    if (label.empty()) {
        out.routed = true;
        out.route = route(request.input);
        out.routerMs = out.route.ms;
        label = out.route.label;
        if (!def_.specialist(label) || out.route.confidence < def_.router.minConfidence) label = "fallback";
        if (request.onRouted) request.onRouted(out.route);
    }
    const SpecialistDef& def = specialistDef(label);
    out.specialist = label;

    const auto t0 = std::chrono::steady_clock::now();
    std::shared_ptr<const engine::Model> model = specialistModel(label);
    engine::SamplingOptions sampling = def.sampling;
    if (request.maxTokens > 0) sampling.maxTokens = std::min(request.maxTokens, def.sampling.maxTokens);
    if (request.temperature) sampling.temperature = *request.temperature;
    for (const std::string& s : request.stop)
        if (!s.empty()) sampling.stop.push_back(s);
    engine::validateSamplingOptions(sampling);

    const TextTemplate tmpl = TextTemplate::parse(def.prompt);
    std::vector<int32_t> prompt = model->tokenizer().encode(renderPrompt(tmpl, request.input, "specialist '" + label + "'"), false);
    if (prompt.empty()) prompt.push_back(engine::kEndOfText);
    const int block = model->config().block_size;
    sampling.maxTokens = std::min(sampling.maxTokens, std::max(1, block - 1));

    engine::SessionOptions so;
    so.context = std::min(block, int(prompt.size()) + sampling.maxTokens);
    so.maxBatch = std::max(1, std::min(128, int(prompt.size())));
    engine::GenerateResult g = decoder_.generate(model, prompt, sampling, request.onToken, so);
    out.answer = std::move(g.text);
    out.finish = g.finish;
    out.promptTokens = g.promptTokens;
    out.completionTokens = int(g.tokens.size());
    out.specialistMs = msSince(t0);
    return out;
}

} // namespace swarm
