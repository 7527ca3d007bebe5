#include "eval/metrics.h"

#include "core/error.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <unordered_map>

namespace swarm::metrics {

using nlohmann::json;

namespace {

std::string_view capped(std::string_view s) { return s.size() > kMaxScoredBytes ? s.substr(0, kMaxScoredBytes) : s; }

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trimView(std::string_view s) {
    while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
    while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
    return s;
}

std::string lowerAscii(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::vector<std::string> words(std::string_view s, size_t maxWords) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < s.size() && out.size() < maxWords) {
        while (i < s.size() && isSpace(s[i])) ++i;
        size_t j = i;
        while (j < s.size() && !isSpace(s[j])) ++j;
        if (j > i) out.push_back(lowerAscii(s.substr(i, j - i)));
        i = j;
    }
    return out;
}

double f1(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

} // namespace

// ---------------------------------------------------------------------------------------------

std::string normalizeAnswer(std::string_view text) {
    text = trimView(capped(text));
    while (!text.empty() && (text.back() == ';' || isSpace(text.back()))) text.remove_suffix(1);
    std::string out;
    out.reserve(text.size());
    char quote = 0;
    bool pendingSpace = false;
    for (char c : text) {
        if (quote) {
            out += c;
            if (c == quote) quote = 0;
            continue;
        }
        if (isSpace(c)) {
            pendingSpace = true;
            continue;
        }
        if (pendingSpace && !out.empty()) out += ' ';
        pendingSpace = false;
        if (c == '\'' || c == '"') quote = c;
        out += char(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

bool exactMatch(std::string_view output, std::string_view reference) {
    return normalizeAnswer(output) == normalizeAnswer(reference);
}

// ---------------------------------------------------------------------------------------------
// JSON

bool parseJsonSafe(std::string_view text, json& out) {
    text = trimView(text);
    if (text.empty() || text.size() > (1u << 20)) return false;
    int depth = 0;
    bool inString = false, escape = false;
    for (char c : text) {
        if (inString) {
            if (escape) escape = false;
            else if (c == '\\') escape = true;
            else if (c == '"') inString = false;
            continue;
        }
        if (c == '"') inString = true;
        else if (c == '{' || c == '[') {
            if (++depth > 128) return false;
        } else if (c == '}' || c == ']') --depth;
    }
    out = json::parse(text.begin(), text.end(), nullptr, false);
    return !out.is_discarded();
}

namespace {

// Model outputs and references in the function-calling datasets may carry a marker before the
// JSON ("<functioncall> {...}"); the JSON starts at the first { or [.
bool parseJsonLenient(std::string_view text, json& out) {
    text = trimView(capped(text));
    if (parseJsonSafe(text, out)) return true;
    size_t start = text.find_first_of("{[");
    if (start == std::string_view::npos || start == 0 || start > 64) return false;
    // Only a short printable marker may precede the JSON ("<functioncall> ").
    for (char c : text.substr(0, start))
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
    return parseJsonSafe(text.substr(start), out);
}

void collectLeaves(const json& j, const std::string& path, std::vector<std::string>& out) {
    if (j.is_object()) {
        if (j.empty()) out.push_back(path + "={}");
        for (auto it = j.begin(); it != j.end(); ++it) collectLeaves(it.value(), path + "/" + it.key(), out);
    } else if (j.is_array()) {
        if (j.empty()) out.push_back(path + "=[]");
        for (size_t i = 0; i < j.size(); ++i) collectLeaves(j[i], path + "/" + std::to_string(i), out);
    } else {
        out.push_back(path + "=" + j.dump(-1, ' ', false, json::error_handler_t::replace));
    }
}

// Function-call objects: the value itself, or the elements of an array, or {"tool_calls": [...]}.
std::vector<const json*> calls(const json& j) {
    std::vector<const json*> out;
    if (j.is_array()) {
        for (const json& e : j)
            if (e.is_object()) out.push_back(&e);
    } else if (j.is_object()) {
        auto tc = j.find("tool_calls");
        if (tc != j.end() && tc->is_array()) return calls(*tc);
        out.push_back(&j);
    }
    return out;
}

json argumentsOf(const json& call) {
    for (const char* key : {"arguments", "parameters", "args"}) {
        auto it = call.find(key);
        if (it == call.end()) continue;
        if (it->is_string()) {
            json inner;
            if (parseJsonSafe(it->get<std::string>(), inner)) return inner;
        }
        return *it;
    }
    return json();
}

// Replaces string-valued "arguments" that hold JSON by the parsed value, so that equality and
// the leaves compare values, not their spelling.
json canonicalJson(const json& j) {
    if (j.is_array()) {
        json out = json::array();
        for (const json& e : j) out.push_back(canonicalJson(e));
        return out;
    }
    if (!j.is_object()) return j;
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
        if ((it.key() == "arguments" || it.key() == "parameters") && it->is_string()) {
            json inner;
            if (parseJsonSafe(it->get<std::string>(), inner)) {
                out[it.key()] = canonicalJson(inner);
                continue;
            }
        }
        out[it.key()] = canonicalJson(it.value());
    }
    return out;
}

} // namespace

std::vector<std::string> jsonLeaves(const json& j) {
    std::vector<std::string> out;
    collectLeaves(j, "", out);
    std::sort(out.begin(), out.end());
    return out;
}

JsonScore scoreJson(std::string_view output, std::string_view reference) {
    JsonScore s;
    json pred, ref;
    s.valid = parseJsonLenient(output, pred);
    if (!parseJsonLenient(reference, ref)) return s;
    ref = canonicalJson(ref);
    const std::vector<std::string> refLeaves = jsonLeaves(ref);
    s.expected = double(refLeaves.size());
    if (!s.valid) return s;
    pred = canonicalJson(pred);
    s.exact = pred == ref;
    const std::vector<std::string> predLeaves = jsonLeaves(pred);
    s.predicted = double(predLeaves.size());
    std::vector<std::string> common;
    std::set_intersection(predLeaves.begin(), predLeaves.end(), refLeaves.begin(), refLeaves.end(),
                          std::back_inserter(common));
    s.truePositive = double(common.size());
    const auto pc = calls(pred), rc = calls(ref);
    if (!rc.empty() && pc.size() == rc.size()) {
        bool names = true, args = true;
        for (size_t i = 0; i < rc.size(); ++i) {
            auto rn = rc[i]->find("name"), pn = pc[i]->find("name");
            if (rn == rc[i]->end() || pn == pc[i]->end() || *rn != *pn) names = false;
            if (argumentsOf(*rc[i]) != argumentsOf(*pc[i])) args = false;
        }
        s.nameMatch = names;
        s.argumentsMatch = names && args;
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// Classification

json ClassificationReport::toJson() const {
    return json{{"n", n}, {"accuracy", accuracy}, {"macro_f1", macroF1}, {"labels", labels}, {"confusion", confusion}};
}

ClassificationReport classificationReport(const std::vector<std::string>& outputs,
                                          const std::vector<std::string>& references) {
    ClassificationReport r;
    const size_t n = std::min(outputs.size(), references.size());
    std::vector<std::string> out(n), ref(n);
    std::set<std::string> refLabels, other;
    for (size_t i = 0; i < n; ++i) {
        out[i] = normalizeAnswer(outputs[i]).substr(0, 200);
        ref[i] = normalizeAnswer(references[i]).substr(0, 200);
        refLabels.insert(ref[i]);
    }
    for (size_t i = 0; i < n; ++i)
        if (!refLabels.count(out[i])) other.insert(out[i]);
    r.labels.assign(refLabels.begin(), refLabels.end());
    r.labels.insert(r.labels.end(), other.begin(), other.end());
    std::unordered_map<std::string, size_t> index;
    for (size_t i = 0; i < r.labels.size(); ++i) index[r.labels[i]] = i;
    r.confusion.assign(r.labels.size(), std::vector<int64_t>(r.labels.size(), 0));
    int64_t correct = 0;
    for (size_t i = 0; i < n; ++i) {
        ++r.confusion[index[ref[i]]][index[out[i]]];
        if (out[i] == ref[i]) ++correct;
    }
    r.n = int64_t(n);
    r.accuracy = n ? double(correct) / double(n) : 0.0;
    double sumF1 = 0;
    for (size_t c = 0; c < refLabels.size(); ++c) {
        int64_t tp = r.confusion[c][c], predicted = 0, actual = 0;
        for (size_t k = 0; k < r.labels.size(); ++k) {
            predicted += r.confusion[k][c];
            actual += r.confusion[c][k];
        }
        const double p = predicted ? double(tp) / double(predicted) : 0.0;
        const double rc = actual ? double(tp) / double(actual) : 0.0;
        sumF1 += f1(p, rc);
    }
    r.macroF1 = refLabels.empty() ? 0.0 : sumF1 / double(refLabels.size());
    return r;
}

// ---------------------------------------------------------------------------------------------
// PII

namespace {

// Placeholder spans [start, end) with their type.
struct Span {
    size_t start, end;
    std::string type;
};

std::vector<Span> placeholderSpans(std::string_view text) {
    std::vector<Span> out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '[') continue;
        size_t j = i + 1;
        while (j < text.size() && j - i <= 40 &&
               (std::isupper(static_cast<unsigned char>(text[j])) || std::isdigit(static_cast<unsigned char>(text[j])) ||
                text[j] == '_'))
            ++j;
        if (j < text.size() && text[j] == ']' && j > i + 1 && std::isupper(static_cast<unsigned char>(text[i + 1]))) {
            out.push_back({i, j + 1, std::string(text.substr(i + 1, j - i - 1))});
            i = j;
        }
    }
    return out;
}

} // namespace

std::vector<std::string> piiPlaceholders(std::string_view text) {
    std::vector<std::string> out;
    for (const Span& s : placeholderSpans(capped(text))) out.push_back(s.type);
    return out;
}

std::vector<std::string> piiOriginalValues(std::string_view source, std::string_view reference) {
    source = capped(source);
    reference = capped(reference);
    std::vector<std::string> values;
    const std::vector<Span> spans = placeholderSpans(reference);
    size_t srcPos = 0, refPos = 0;
    for (size_t k = 0; k < spans.size(); ++k) {
        // The literal before this placeholder must follow in the source.
        std::string_view before = reference.substr(refPos, spans[k].start - refPos);
        size_t at = source.find(before, srcPos);
        if (at == std::string_view::npos) break;
        size_t valueStart = at + before.size();
        // The value runs to the literal after the placeholder (or to the end).
        size_t nextStart = k + 1 < spans.size() ? spans[k + 1].start : reference.size();
        std::string_view after = reference.substr(spans[k].end, nextStart - spans[k].end);
        size_t valueEnd = after.empty() ? (k + 1 < spans.size() ? valueStart : source.size())
                                        : source.find(after, valueStart);
        if (valueEnd == std::string_view::npos) break;
        std::string_view v = trimView(source.substr(valueStart, valueEnd - valueStart));
        if (!v.empty()) values.emplace_back(v);
        srcPos = valueEnd;
        refPos = spans[k].end;
    }
    return values;
}

PiiScore scorePii(std::string_view source, std::string_view output, std::string_view reference) {
    PiiScore s;
    output = capped(output);
    std::map<std::string, int64_t> refCount, outCount;
    for (const std::string& t : piiPlaceholders(reference)) ++refCount[t];
    for (const std::string& t : piiPlaceholders(output)) ++outCount[t];
    std::set<std::string> types;
    for (auto& [t, c] : refCount) types.insert(t);
    for (auto& [t, c] : outCount) types.insert(t);
    for (const std::string& t : types) {
        const int64_t r = refCount[t], o = outCount[t], tp = std::min(r, o);
        s.byType[t] = {tp, o - tp, r - tp};
        s.truePositive += tp;
        s.falsePositive += o - tp;
        s.falseNegative += r - tp;
    }
    for (const std::string& v : piiOriginalValues(source, reference)) {
        ++s.values;
        if (output.find(v) != std::string_view::npos) ++s.leaked;
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// Text

double rougeL(std::string_view output, std::string_view reference) {
    const auto a = words(capped(output), 2000), b = words(capped(reference), 2000);
    if (a.empty() && b.empty()) return 1.0;
    if (a.empty() || b.empty()) return 0.0;
    std::vector<int> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
        std::swap(prev, cur);
    }
    const double lcs = prev[b.size()];
    return f1(lcs / double(a.size()), lcs / double(b.size()));
}

double chrF(std::string_view output, std::string_view reference) {
    auto chars = [](std::string_view s) {
        std::string out;
        for (char c : s.substr(0, std::min<size_t>(s.size(), 8192)))
            if (!isSpace(c)) out += c;
        return out;
    };
    const std::string a = chars(output), b = chars(reference);
    if (a.empty() && b.empty()) return 100.0;
    if (a.empty() || b.empty()) return 0.0;
    double sumP = 0, sumR = 0;
    int orders = 0;
    for (size_t n = 1; n <= 6; ++n) {
        if (a.size() < n || b.size() < n) break;
        std::unordered_map<std::string_view, int> ca, cb;
        for (size_t i = 0; i + n <= a.size(); ++i) ++ca[std::string_view(a).substr(i, n)];
        for (size_t i = 0; i + n <= b.size(); ++i) ++cb[std::string_view(b).substr(i, n)];
        double match = 0;
        for (auto& [g, c] : ca) {
            auto it = cb.find(g);
            if (it != cb.end()) match += std::min(c, it->second);
        }
        sumP += match / double(a.size() - n + 1);
        sumR += match / double(b.size() - n + 1);
        ++orders;
    }
    if (orders == 0) return 0.0;
    const double p = sumP / orders, r = sumR / orders, beta2 = 4.0;
    if (p + r <= 0) return 0.0;
    return 100.0 * (1 + beta2) * p * r / (beta2 * p + r);
}

bool conventionalCommit(std::string_view message, std::string* why) {
    auto fail = [&](const char* w) {
        if (why) *why = w;
        return false;
    };
    message = capped(message);
    std::string_view header = message.substr(0, message.find('\n'));
    if (!header.empty() && header.back() == '\r') header.remove_suffix(1);
    if (header.empty()) return fail("empty header");
    static const std::set<std::string> types = {"feat", "fix", "docs", "style", "refactor", "perf",
                                                "test", "build", "ci", "chore", "revert"};
    size_t i = 0;
    while (i < header.size() && std::isalpha(static_cast<unsigned char>(header[i]))) ++i;
    if (!types.count(lowerAscii(header.substr(0, i)))) return fail("unknown type");
    if (i < header.size() && header[i] == '(') {
        size_t close = header.find(')', i);
        if (close == std::string_view::npos || close == i + 1) return fail("bad scope");
        i = close + 1;
    }
    if (i < header.size() && header[i] == '!') ++i;
    if (i + 1 >= header.size() || header[i] != ':' || header[i + 1] != ' ') return fail("no ': ' after the type");
    if (trimView(header.substr(i + 2)).empty()) return fail("empty subject");
    if (header.size() > 72) return fail("header longer than 72 characters");
    if (why) why->clear();
    return true;
}

// ---------------------------------------------------------------------------------------------
// Suites

const std::vector<std::string>& metricFamilies() {
    static const std::vector<std::string> f = {"exact", "sql",   "json",   "classification", "pii",
                                               "rouge", "chrf",  "commit", "loss"};
    return f;
}

std::vector<std::string> autoMetrics(const std::string& preset) {
    const std::string p = lowerAscii(preset);
    std::vector<std::string> f;
    if (p == "sql" || p == "nanosql") f = {"exact", "sql"};
    else if (p == "function" || p == "extract" || p == "nanofunction" || p == "nanoextract") f = {"exact", "json"};
    else if (p == "router" || p == "nanorouter") f = {"exact", "classification"};
    else if (p == "pii" || p == "nanopii") f = {"exact", "pii"};
    else if (p == "commit" || p == "nanocommit") f = {"rouge", "chrf", "commit"};
    else if (p == "summary" || p == "prompt" || p == "nanosummary" || p == "nanoprompt") f = {"rouge", "chrf"};
    else f = {"exact", "rouge"};
    f.push_back("loss");
    return f;
}

std::vector<std::string> parseMetrics(const std::string& spec, const std::string& preset) {
    if (spec.empty() || spec == "auto") return autoMetrics(preset);
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= spec.size()) {
        size_t comma = spec.find(',', start);
        std::string name = lowerAscii(trimView(std::string_view(spec).substr(start, comma - start)));
        if (!name.empty()) {
            const auto& all = metricFamilies();
            if (std::find(all.begin(), all.end(), name) == all.end()) {
                std::string list;
                for (const auto& m : all) list += (list.empty() ? "" : ", ") + m;
                throw Error("unknown metric '" + name + "' (known: auto, " + list + ")");
            }
            if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (out.empty()) throw Error("--metrics names no metric");
    return out;
}

bool needsReference(const std::string& family) { return family != "commit"; }

ScoreMap scoreExample(const std::vector<std::string>& families, const ExampleInput& in, const SqlOptions& sql,
                      json* detail) {
    ScoreMap s;
    const std::string_view out = capped(in.output);
    for (const std::string& f : families) {
        if (f == "commit") {
            s["commit_valid"] = conventionalCommit(out) ? 1 : 0;
            continue;
        }
        if (f == "json" && !in.hasReference) {
            json j;
            s["json_valid"] = parseJsonLenient(out, j) ? 1 : 0;
            continue;
        }
        if (!in.hasReference || f == "loss") continue;
        if (f == "exact") {
            s["exact_match"] = exactMatch(out, in.reference) ? 1 : 0;
        } else if (f == "sql") {
            const std::string pred = extractSql(out);
            SqlScore r = scoreSql(pred, in.reference, in.prompt, in.prompt, sql);
            s["sql_syntax"] = r.syntax ? 1 : 0;
            s["sql_valid"] = r.parses ? 1 : 0;
            if (r.referenceOk) s["sql_exec"] = r.correct ? 1 : 0;
            if (detail && !r.error.empty()) (*detail)["sql_error"] = r.error;
        } else if (f == "json") {
            JsonScore j = scoreJson(out, in.reference);
            json ref;
            s["json_valid"] = j.valid ? 1 : 0;
            if (parseJsonLenient(in.reference, ref)) {
                s["json_exact"] = j.exact ? 1 : 0;
                bool named = false;
                for (const json* c : calls(ref)) named = named || c->contains("name");
                if (named) {
                    s["json_name"] = j.nameMatch ? 1 : 0;
                    s["json_args"] = j.argumentsMatch ? 1 : 0;
                }
                s["#json_tp"] = j.truePositive;
                s["#json_pred"] = j.predicted;
                s["#json_ref"] = j.expected;
            }
        } else if (f == "classification") {
            s["label_correct"] = normalizeAnswer(out) == normalizeAnswer(in.reference) ? 1 : 0;
        } else if (f == "pii") {
            PiiScore p = scorePii(in.prompt, out, in.reference);
            s["#pii_tp"] = double(p.truePositive);
            s["#pii_fp"] = double(p.falsePositive);
            s["#pii_fn"] = double(p.falseNegative);
            s["#pii_values"] = double(p.values);
            s["#pii_leaked"] = double(p.leaked);
            for (auto& [type, c] : p.byType) {
                s["#pii_tp." + type] = double(c[0]);
                s["#pii_fp." + type] = double(c[1]);
                s["#pii_fn." + type] = double(c[2]);
            }
        } else if (f == "rouge") {
            s["rouge_l"] = rougeL(out, in.reference);
        } else if (f == "chrf") {
            s["chrf"] = chrF(out, in.reference);
        }
    }
    return s;
}

json Summary::toJson() const {
    json j{{"values", values}, {"counts", counts}, {"notes", notes}};
    if (classification.n > 0) j["classification"] = classification.toJson();
    return j;
}

Summary aggregate(const std::vector<std::string>& families, const std::vector<ScoredExample>& examples) {
    Summary sum;
    std::map<std::string, double> total;
    std::map<std::string, int64_t> count;
    int64_t withReference = 0;
    for (const ScoredExample& e : examples) {
        if (e.hasReference) ++withReference;
        for (auto& [k, v] : e.scores) {
            if (!std::isfinite(v)) continue;
            total[k] += v;
            ++count[k];
        }
    }
    for (auto& [k, v] : total)
        if (k[0] != '#') {
            sum.values[k] = v / double(count[k]);
            sum.counts[k] = count[k];
        }
    auto has = [&](const std::string& f) { return std::find(families.begin(), families.end(), f) != families.end(); };
    auto get = [&](const std::string& k) { auto it = total.find(k); return it == total.end() ? 0.0 : it->second; };
    if (has("json") && count.count("#json_ref")) {
        const double tp = get("#json_tp"), p = get("#json_pred"), r = get("#json_ref");
        sum.values["json_field_p"] = p > 0 ? tp / p : 0.0;
        sum.values["json_field_r"] = r > 0 ? tp / r : 0.0;
        sum.values["json_field_f1"] = f1(sum.values["json_field_p"], sum.values["json_field_r"]);
        sum.counts["json_field_f1"] = count["#json_ref"];
    }
    if (has("pii") && count.count("#pii_tp")) {
        auto prf = [&](const std::string& suffix, const std::string& name) {
            const double tp = get("#pii_tp" + suffix), fp = get("#pii_fp" + suffix), fn = get("#pii_fn" + suffix);
            const double p = tp + fp > 0 ? tp / (tp + fp) : 0.0, r = tp + fn > 0 ? tp / (tp + fn) : 0.0;
            sum.values[name + "_p"] = p;
            sum.values[name + "_r"] = r;
            sum.values[name + "_f1"] = f1(p, r);
        };
        prf("", "pii");
        for (auto& [k, v] : total)
            if (k.rfind("#pii_tp.", 0) == 0) prf(k.substr(7), "pii." + k.substr(8));
        const double values = get("#pii_values");
        sum.values["pii_leaked"] = values > 0 ? get("#pii_leaked") / values : 0.0;
        sum.counts["pii_f1"] = count["#pii_tp"];
    }
    if (has("loss") && get("#ref_tokens") > 0) {
        sum.values["ref_loss"] = get("#ref_nll") / get("#ref_tokens");
        sum.values["ref_ppl"] = std::exp(std::min(sum.values["ref_loss"], 700.0));
        sum.counts["ref_loss"] = count["#ref_tokens"];
    }
    if (has("classification") && withReference > 0) {
        std::vector<std::string> outs, refs;
        for (const ScoredExample& e : examples)
            if (e.hasReference) {
                outs.push_back(e.output);
                refs.push_back(e.reference);
            }
        sum.classification = classificationReport(outs, refs);
        sum.values["accuracy"] = sum.classification.accuracy;
        sum.values["macro_f1"] = sum.classification.macroF1;
        sum.counts["macro_f1"] = sum.classification.n;
    }
    if (withReference == 0 && !examples.empty())
        for (const std::string& f : families)
            if (needsReference(f)) sum.notes.push_back(f + ": needs references (none in this split)");
    return sum;
}

bool higherIsBetter(const std::string& metric) {
    return !(metric == "ref_loss" || metric == "ref_ppl" || metric == "pii_leaked" || metric == "latency_ms" ||
             metric.rfind("ppl:", 0) == 0 || metric.rfind("peak_", 0) == 0 || metric.rfind("cost", 0) == 0);
}

std::string primaryMetric(const std::vector<std::string>& families) {
    auto has = [&](const char* f) { return std::find(families.begin(), families.end(), f) != families.end(); };
    if (has("sql")) return "sql_exec";
    if (has("json")) return "json_exact";
    if (has("classification")) return "macro_f1";
    if (has("pii")) return "pii_f1";
    if (has("exact")) return "exact_match";
    if (has("rouge")) return "rouge_l";
    if (has("chrf")) return "chrf";
    if (has("commit")) return "commit_valid";
    return "ref_loss";
}

} // namespace swarm::metrics
