#include "eval/compare.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "datasets/dataset_store.h"
#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace swarm::eval {

using nlohmann::json;

double costPerMillionTokens(double tokensPerSecond, const CostSettings& cost) {
    if (!(tokensPerSecond > 0)) return 0;
    const double hours = 1e6 / tokensPerSecond / 3600.0;
    return hours * cost.watts / 1000.0 * cost.pricePerKwh;
}

json QuantRegression::toJson() const {
    return json{{"metric", metric},     {"source", source},       {"exported", exported},
                {"delta", delta},       {"agreement", agreement}, {"regressions", regressions},
                {"improvements", improvements}, {"compared", compared},
                {"ref_loss_delta", std::isfinite(lossDelta) ? json(lossDelta) : json(nullptr)}};
}

json Comparison::toJson() const {
    json models_ = json::array();
    for (const ModelColumn& m : models)
        models_.push_back({{"run_id", m.run.id},
                           {"model", m.run.modelName},
                           {"path", m.run.modelPath},
                           {"values", m.values},
                           {"deltas", m.deltas},
                           {"prefill_tok_s", m.prefillTokS},
                           {"decode_tok_s", m.decodeTokS},
                           {"peak_rss_mib", m.peakRssMiB},
                           {"cost_per_mtok_prefill", m.costPerMTokPrefill},
                           {"cost_per_mtok_decode", m.costPerMTokDecode},
                           {"kind", m.run.modelKind},
                           {"cost_basis", m.costBasis}});
    return json{{"dataset", datasetName}, {"split", split},   {"baseline", baseline}, {"primary", primary},
                {"metrics", metricNames}, {"models", models_}, {"notes", notes},
                {"watts", cost.watts},    {"price_per_kwh", cost.pricePerKwh}};
}

Comparison compareRuns(ProjectStore& project, const std::vector<int64_t>& runIds, size_t baseline,
                       const CostSettings& cost) {
    if (runIds.empty()) throw Error("nothing to compare");
    if (baseline >= runIds.size()) throw Error("the baseline index is out of range");
    EvalStore store(project);
    Comparison c;
    c.baseline = baseline;
    c.cost = cost;
    std::map<int64_t, size_t> byExample;
    std::set<std::string> names;
    for (size_t i = 0; i < runIds.size(); ++i) {
        auto run = store.run(runIds[i]);
        if (!run) throw Error("no evaluation run " + std::to_string(runIds[i]));
        if (i == 0) {
            c.datasetName = run->datasetName;
            c.split = run->split;
        } else if (run->datasetId != store.run(runIds[0])->datasetId || run->split != c.split) {
            throw Error("run " + std::to_string(run->id) + " is on another dataset or split than run " +
                        std::to_string(runIds[0]));
        }
        ModelColumn col;
        col.run = *run;
        if (run->summary.contains("values"))
            for (auto it = run->summary["values"].begin(); it != run->summary["values"].end(); ++it)
                if (it->is_number()) {
                    col.values[it.key()] = it->get<double>();
                    names.insert(it.key());
                }
        col.prefillTokS = run->perf.value("prefill_tok_s", 0.0);
        col.decodeTokS = run->perf.value("decode_tok_s", 0.0);
        col.peakRssMiB = double(run->perf.value("peak_rss_bytes", int64_t(0))) / (1024.0 * 1024.0);
        col.costPerMTokPrefill = costPerMillionTokens(col.prefillTokS, cost);
        col.costPerMTokDecode = costPerMillionTokens(col.decodeTokS, cost);
        // Perplexity on raw text stored for the same model files (swarm eval --perplexity): a column each.
        for (const auto& [name, value] : perplexityValues(project, run->fingerprint)) {
            col.values[name] = value;
            names.insert(name);
        }
        if (run->status != "done") c.notes.push_back(run->modelName + ": run " + std::to_string(run->id) + " is " + run->status);
        if (i > 0 && run->settings.value("max_new_tokens", 0) != c.models[0].run.settings.value("max_new_tokens", 0))
            c.notes.push_back(run->modelName + ": evaluated with other settings than " + c.models[0].run.modelName);
        for (EvalExampleRow& e : store.examples(run->id)) {
            auto it = byExample.find(e.exampleId);
            if (it == byExample.end()) {
                ComparedExample ce;
                ce.exampleId = e.exampleId;
                ce.position = e.position;
                ce.prompt = e.prompt;
                ce.reference = e.reference;
                ce.outputs.resize(runIds.size());
                ce.scores.resize(runIds.size());
                ce.present.assign(runIds.size(), false);
                it = byExample.emplace(e.exampleId, c.examples.size()).first;
                c.examples.push_back(std::move(ce));
            }
            ComparedExample& ce = c.examples[it->second];
            ce.outputs[i] = std::move(e.output);
            ce.scores[i] = std::move(e.scores);
            ce.present[i] = true;
        }
        c.models.push_back(std::move(col));
    }
    c.primary = metrics::primaryMetric(c.models[baseline].run.metrics);
    if (names.count(c.primary)) c.metricNames.push_back(c.primary);
    for (const std::string& n : names)
        if (n != c.primary) c.metricNames.push_back(n);
    for (size_t i = 0; i < c.models.size(); ++i) {
        if (i == baseline) continue;
        for (auto& [k, v] : c.models[i].values) {
            auto b = c.models[baseline].values.find(k);
            if (b != c.models[baseline].values.end()) c.models[i].deltas[k] = v - b->second;
        }
    }
    std::sort(c.examples.begin(), c.examples.end(),
              [](const ComparedExample& a, const ComparedExample& b) { return a.position < b.position; });
    for (ComparedExample& e : c.examples) {
        std::string first;
        bool any = false;
        for (size_t i = 0; i < e.outputs.size(); ++i) {
            if (!e.present[i]) continue;
            const std::string norm = metrics::normalizeAnswer(e.outputs[i]);
            if (!any) first = norm;
            else if (norm != first) e.disagree = true;
            any = true;
        }
    }
    return c;
}

void addAnswerColumn(Comparison& c, const AnswerColumn& column, bool makeBaseline, const metrics::SqlOptions& sql) {
    if (c.models.empty()) throw Error("an answer column needs at least one evaluation run to compare with");
    const EvalRunInfo& base = c.models[c.baseline].run;
    std::vector<std::string> families;
    for (const std::string& f : base.metrics)
        if (f != "loss") families.push_back(f);
    const bool byId = column.datasetId != 0 && column.datasetId == base.datasetId;
    std::vector<metrics::ScoredExample> scored;
    for (ComparedExample& e : c.examples) {
        const std::string* answer = nullptr;
        if (byId) {
            auto it = column.byExampleId.find(e.exampleId);
            if (it != column.byExampleId.end()) answer = &it->second;
        } else {
            auto it = column.byPrompt.find(e.prompt);
            if (it != column.byPrompt.end()) answer = &it->second;
        }
        e.outputs.push_back(answer ? *answer : std::string());
        e.present.push_back(answer != nullptr);
        e.scores.emplace_back();
        if (!answer) continue;
        const metrics::ExampleInput in{e.prompt, e.reference, *answer, !e.reference.empty()};
        e.scores.back() = metrics::scoreExample(families, in, sql);
        scored.push_back(metrics::ScoredExample{*answer, e.reference, !e.reference.empty(), e.scores.back()});
    }
    const metrics::Summary summary = metrics::aggregate(families, scored);

    ModelColumn col;
    col.run.modelName = column.name;
    col.run.modelPath = column.path;
    col.run.modelKind = column.kind;
    col.run.datasetId = base.datasetId;
    col.run.datasetName = base.datasetName;
    col.run.split = base.split;
    col.run.metrics = families;
    col.run.status = "done";
    col.run.total = int64_t(c.examples.size());
    col.run.done = int64_t(scored.size());
    col.run.summary = summary.toJson();
    for (const auto& [k, v] : summary.values) col.values[k] = v;
    col.decodeTokS = column.decodeTokS;
    col.costPerMTokPrefill = column.costPerMTokPrefill;
    col.costPerMTokDecode = column.costPerMTokDecode;
    col.costBasis = column.costBasis;
    c.models.push_back(std::move(col));
    const size_t added = c.models.size() - 1;

    for (const auto& [k, v] : c.models[added].values)
        if (std::find(c.metricNames.begin(), c.metricNames.end(), k) == c.metricNames.end()) c.metricNames.push_back(k);
    if (makeBaseline) c.baseline = added;
    for (size_t i = 0; i < c.models.size(); ++i) {
        c.models[i].deltas.clear();
        if (i == c.baseline) continue;
        for (auto& [k, v] : c.models[i].values) {
            auto b = c.models[c.baseline].values.find(k);
            if (b != c.models[c.baseline].values.end()) c.models[i].deltas[k] = v - b->second;
        }
    }
    for (ComparedExample& e : c.examples) {
        e.disagree = false;
        std::string first;
        bool any = false;
        for (size_t i = 0; i < e.outputs.size(); ++i) {
            if (!e.present[i]) continue;
            const std::string norm = metrics::normalizeAnswer(e.outputs[i]);
            if (!any) first = norm;
            else if (norm != first) e.disagree = true;
            any = true;
        }
    }

    char buf[160];
    c.notes.push_back(column.name + " answered " + std::to_string(scored.size()) + " of the " + std::to_string(c.examples.size()) +
                      " examples" + (scored.size() < c.examples.size() ? " (its values are over those it answered)" : ""));
    std::snprintf(buf, sizeof buf, "%.4f per million prompt tokens, %.4f per million completion tokens", column.costPerMTokPrefill,
                  column.costPerMTokDecode);
    c.notes.push_back(column.name + ": the cost is its " + column.costBasis + " (" + buf + "), not electricity");
    for (size_t i = 0; i < added; ++i) {
        const ModelColumn& m = c.models[i];
        if (!(m.costPerMTokDecode > 0) || !(column.costPerMTokDecode > 0)) continue;
        std::snprintf(buf, sizeof buf, "%.4f per million decoded tokens against %.4f: %.0fx less", m.costPerMTokDecode,
                      column.costPerMTokDecode, column.costPerMTokDecode / m.costPerMTokDecode);
        c.notes.push_back(m.run.modelName + ": " + buf + " than " + column.name);
    }
}

std::string exampleMetric(const Comparison& c) {
    if (c.models.empty()) return "";
    const auto& f = c.models[c.baseline].run.metrics;
    auto has = [&](const char* x) { return std::find(f.begin(), f.end(), x) != f.end(); };
    if (has("sql")) return "sql_exec";
    if (has("json")) return "json_exact";
    if (has("classification")) return "label_correct";
    if (has("exact")) return "exact_match";
    if (has("rouge")) return "rouge_l";
    if (has("chrf")) return "chrf";
    if (has("commit")) return "commit_valid";
    return "";
}

namespace {

// 1: right, 0: wrong, -1: not scored. Continuous scores count as right at >= 0.5 (chrF: 50).
int rightness(const ComparedExample& e, size_t model, const std::string& metric) {
    if (model >= e.scores.size() || !e.present[model]) return -1;
    auto it = e.scores[model].find(metric);
    if (it == e.scores[model].end()) return -1;
    return it->second >= (metric == "chrf" ? 50.0 : 0.5) ? 1 : 0;
}

} // namespace

std::vector<size_t> filterExamples(const Comparison& c, const ExampleFilter& f) {
    const std::string metric = exampleMetric(c);
    std::vector<size_t> out;
    for (size_t i = 0; i < c.examples.size(); ++i) {
        const ComparedExample& e = c.examples[i];
        if (f.onlyDisagreements && !e.disagree) continue;
        if (f.failuresOf >= 0 && rightness(e, size_t(f.failuresOf), metric) != 0) continue;
        if (!f.metric.empty()) {
            if (size_t(f.scoreOf) >= e.scores.size()) continue;
            auto it = e.scores[size_t(f.scoreOf)].find(f.metric);
            if (it == e.scores[size_t(f.scoreOf)].end() || it->second < f.minScore || it->second > f.maxScore) continue;
        }
        out.push_back(i);
    }
    return out;
}

QuantRegression quantisationRegression(const Comparison& c, size_t src, size_t exp) {
    QuantRegression q;
    if (src >= c.models.size() || exp >= c.models.size()) throw Error("quantisation regression: no such model");
    q.metric = exampleMetric(c);
    int64_t same = 0;
    double sumS = 0, sumE = 0;
    for (const ComparedExample& e : c.examples) {
        if (!e.present[src] || !e.present[exp]) continue;
        ++q.compared;
        if (e.outputs[src] == e.outputs[exp]) ++same;
        const int a = rightness(e, src, q.metric), b = rightness(e, exp, q.metric);
        if (a == 1 && b == 0) ++q.regressions;
        if (a == 0 && b == 1) ++q.improvements;
        auto sa = e.scores[src].find(q.metric), sb = e.scores[exp].find(q.metric);
        if (sa != e.scores[src].end()) sumS += sa->second;
        if (sb != e.scores[exp].end()) sumE += sb->second;
    }
    if (q.compared) {
        q.agreement = double(same) / double(q.compared);
        q.source = sumS / double(q.compared);
        q.exported = sumE / double(q.compared);
        q.delta = q.exported - q.source;
    }
    auto ls = c.models[src].values.find("ref_loss"), le = c.models[exp].values.find("ref_loss");
    if (ls != c.models[src].values.end() && le != c.models[exp].values.end()) q.lossDelta = le->second - ls->second;
    return q;
}

// ---------------------------------------------------------------------------------------------
// Reports

namespace {

std::string fmt(double v, int prec = 4) {
    if (!std::isfinite(v)) return "n/a";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return buf;
}

std::string signedFmt(double v, int prec = 4) { return (v >= 0 ? "+" : "") + fmt(v, prec); }

std::string oneLine(std::string_view s, size_t max) {
    std::string out;
    for (char ch : s.substr(0, std::min(s.size(), max))) {
        const unsigned char c = static_cast<unsigned char>(ch);
        out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : (c < 0x20 ? '?' : ch);
    }
    if (s.size() > max) out += "...";
    return out;
}

std::string mdCell(std::string_view s, size_t max = 160) {
    std::string out;
    for (char ch : oneLine(s, max)) {
        if (ch == '|') out += "\\|";
        else if (ch == '`') out += "'";
        else out += ch;
    }
    return out;
}

std::string html(std::string_view s) {
    std::string out;
    for (char ch : s) {
        switch (ch) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default:
            if (static_cast<unsigned char>(ch) < 0x20 && ch != '\n' && ch != '\t') out += "&#xFFFD;";
            else out += ch;
        }
    }
    return out;
}

std::string csv(std::string_view s) {
    std::string out = "\"";
    for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return out + "\"";
}

std::string modelLabel(const Comparison& c, size_t i) {
    return c.models[i].run.modelName + (i == c.baseline ? " (baseline)" : "");
}

// A horizontal bar chart as inline SVG.
std::string svgBars(const std::string& title, const std::vector<std::string>& labels, const std::vector<double>& values,
                    const std::string& unit) {
    const int rowH = 26, left = 220, width = 640, top = 30;
    const int height = top + int(labels.size()) * rowH + 10;
    double mx = 0;
    for (double v : values)
        if (std::isfinite(v)) mx = std::max(mx, std::fabs(v));
    if (mx <= 0) mx = 1;
    std::ostringstream o;
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" role=\"img\" aria-label=\"" << html(title) << "\">"
      << "<text x=\"4\" y=\"18\" font-size=\"14\" font-weight=\"bold\">" << html(title) << "</text>";
    for (size_t i = 0; i < labels.size(); ++i) {
        const double v = std::isfinite(values[i]) ? values[i] : 0;
        const int y = top + int(i) * rowH;
        const int w = int(std::fabs(v) / mx * (width - left - 90));
        o << "<text x=\"4\" y=\"" << y + 16 << "\" font-size=\"12\">" << html(oneLine(labels[i], 30)) << "</text>"
          << "<rect x=\"" << left << "\" y=\"" << y + 4 << "\" width=\"" << std::max(w, 1) << "\" height=\"16\" fill=\""
          << (i == 0 ? "#4c72b0" : "#55a868") << "\"/>"
          << "<text x=\"" << left + std::max(w, 1) + 6 << "\" y=\"" << y + 16 << "\" font-size=\"12\">"
          << html(fmt(values[i], 3) + unit) << "</text>";
    }
    o << "</svg>";
    return o.str();
}

} // namespace

std::string renderMarkdown(const Comparison& c, size_t maxExamples) {
    std::ostringstream o;
    o << "# Evaluation: " << c.datasetName << " (" << c.split << ")\n\n";
    o << "Headline metric: **" << c.primary << "**. Deltas are against " << modelLabel(c, c.baseline) << ".\n\n";
    o << "| metric |";
    for (size_t i = 0; i < c.models.size(); ++i) o << " " << mdCell(modelLabel(c, i)) << " |";
    o << "\n|---|";
    for (size_t i = 0; i < c.models.size(); ++i) o << "---|";
    o << "\n";
    for (const std::string& m : c.metricNames) {
        o << "| " << m << " |";
        for (size_t i = 0; i < c.models.size(); ++i) {
            auto v = c.models[i].values.find(m);
            if (v == c.models[i].values.end()) {
                o << " - |";
                continue;
            }
            o << " " << fmt(v->second);
            auto d = c.models[i].deltas.find(m);
            if (d != c.models[i].deltas.end()) o << " (" << signedFmt(d->second) << ")";
            o << " |";
        }
        o << "\n";
    }
    o << "\n## Cost on this machine\n\n"
      << "Power " << fmt(c.cost.watts, 1) << " W, electricity " << fmt(c.cost.pricePerKwh, 3) << " per kWh.\n\n"
      << "| model | prefill tok/s | decode tok/s | peak RSS MiB | cost / 1M prefill tok | cost / 1M decode tok |\n"
      << "|---|---|---|---|---|---|\n";
    for (size_t i = 0; i < c.models.size(); ++i) {
        const ModelColumn& m = c.models[i];
        o << "| " << mdCell(modelLabel(c, i)) << " | " << fmt(m.prefillTokS, 1) << " | " << fmt(m.decodeTokS, 1) << " | "
          << fmt(m.peakRssMiB, 1) << " | " << fmt(m.costPerMTokPrefill, 4) << " | " << fmt(m.costPerMTokDecode, 4)
          << " |\n";
    }
    if (!c.notes.empty()) {
        o << "\n## Notes\n\n";
        for (const std::string& n : c.notes) o << "- " << mdCell(n, 400) << "\n";
    }
    ExampleFilter f;
    f.onlyDisagreements = c.models.size() > 1;
    const std::vector<size_t> shown = filterExamples(c, f);
    o << "\n## Examples" << (f.onlyDisagreements ? " where the outputs differ" : "") << " (" << shown.size()
      << ", first " << std::min(shown.size(), maxExamples) << " shown)\n\n| # | reference |";
    for (size_t i = 0; i < c.models.size(); ++i) o << " " << mdCell(c.models[i].run.modelName) << " |";
    o << "\n|---|---|";
    for (size_t i = 0; i < c.models.size(); ++i) o << "---|";
    o << "\n";
    const std::string metric = exampleMetric(c);
    for (size_t k = 0; k < shown.size() && k < maxExamples; ++k) {
        const ComparedExample& e = c.examples[shown[k]];
        o << "| " << e.position << " | " << mdCell(e.reference) << " |";
        for (size_t i = 0; i < c.models.size(); ++i) {
            o << " " << mdCell(e.outputs[i]);
            auto s = e.scores[i].find(metric);
            if (s != e.scores[i].end()) o << " [" << fmt(s->second, 2) << "]";
            o << " |";
        }
        o << "\n";
    }
    return o.str();
}

std::string renderCsv(const Comparison& c) {
    std::ostringstream o;
    o << "model,path,run_id,baseline,status,examples";
    for (const std::string& m : c.metricNames) o << "," << m << ",delta_" << m;
    o << ",prefill_tok_s,decode_tok_s,peak_rss_mib,cost_per_mtok_prefill,cost_per_mtok_decode\n";
    for (size_t i = 0; i < c.models.size(); ++i) {
        const ModelColumn& m = c.models[i];
        o << csv(m.run.modelName) << "," << csv(m.run.modelPath) << "," << m.run.id << "," << (i == c.baseline ? 1 : 0)
          << "," << m.run.status << "," << m.run.done;
        for (const std::string& n : c.metricNames) {
            auto v = m.values.find(n);
            auto d = m.deltas.find(n);
            o << "," << (v != m.values.end() ? fmt(v->second, 6) : "") << ","
              << (d != m.deltas.end() ? fmt(d->second, 6) : "");
        }
        o << "," << fmt(m.prefillTokS, 3) << "," << fmt(m.decodeTokS, 3) << "," << fmt(m.peakRssMiB, 3) << ","
          << fmt(m.costPerMTokPrefill, 6) << "," << fmt(m.costPerMTokDecode, 6) << "\n";
    }
    return o.str();
}

std::string renderHtml(const Comparison& c, size_t maxExamples) {
    std::ostringstream o;
    o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evaluation: " << html(c.datasetName)
      << "</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}"
         "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}"
         "th{background:#f0f0f0}.up{color:#1a7f37}.down{color:#c62828}pre{white-space:pre-wrap;margin:0;"
         "max-width:420px;font-size:12px}</style></head><body>\n";
    o << "<h1>Evaluation: " << html(c.datasetName) << " (" << html(c.split) << ")</h1>\n";
    o << "<p>Headline metric: <b>" << html(c.primary) << "</b>; deltas against " << html(modelLabel(c, c.baseline))
      << ".</p>\n<table><tr><th>metric</th>";
    for (size_t i = 0; i < c.models.size(); ++i) o << "<th>" << html(modelLabel(c, i)) << "</th>";
    o << "</tr>\n";
    for (const std::string& m : c.metricNames) {
        o << "<tr><td>" << html(m) << "</td>";
        for (size_t i = 0; i < c.models.size(); ++i) {
            auto v = c.models[i].values.find(m);
            o << "<td>";
            if (v != c.models[i].values.end()) {
                o << fmt(v->second);
                auto d = c.models[i].deltas.find(m);
                if (d != c.models[i].deltas.end()) {
                    const bool better = metrics::higherIsBetter(m) ? d->second > 0 : d->second < 0;
                    o << " <span class=\"" << (d->second == 0 ? "" : better ? "up" : "down") << "\">("
                      << signedFmt(d->second) << ")</span>";
                }
            } else {
                o << "-";
            }
            o << "</td>";
        }
        o << "</tr>\n";
    }
    o << "</table>\n";
    std::vector<std::string> labels;
    std::vector<double> primary, decode, cost;
    for (size_t i = 0; i < c.models.size(); ++i) {
        labels.push_back(c.models[i].run.modelName);
        auto v = c.models[i].values.find(c.primary);
        primary.push_back(v != c.models[i].values.end() ? v->second : 0.0);
        decode.push_back(c.models[i].decodeTokS);
        cost.push_back(c.models[i].costPerMTokDecode);
    }
    o << "<div>" << svgBars(c.primary, labels, primary, "") << "</div>\n";
    o << "<h2>Cost on this machine</h2><p>Power " << fmt(c.cost.watts, 1) << " W, electricity "
      << fmt(c.cost.pricePerKwh, 3) << " per kWh.</p>\n";
    o << "<div>" << svgBars("decode tokens/s", labels, decode, " tok/s") << "</div>\n";
    o << "<div>" << svgBars("cost per million decoded tokens", labels, cost, "") << "</div>\n";
    o << "<table><tr><th>model</th><th>prefill tok/s</th><th>decode tok/s</th><th>peak RSS MiB</th>"
         "<th>cost / 1M prefill tok</th><th>cost / 1M decode tok</th></tr>\n";
    for (size_t i = 0; i < c.models.size(); ++i) {
        const ModelColumn& m = c.models[i];
        o << "<tr><td>" << html(modelLabel(c, i)) << "</td><td>" << fmt(m.prefillTokS, 1) << "</td><td>"
          << fmt(m.decodeTokS, 1) << "</td><td>" << fmt(m.peakRssMiB, 1) << "</td><td>" << fmt(m.costPerMTokPrefill, 4)
          << "</td><td>" << fmt(m.costPerMTokDecode, 4) << "</td></tr>\n";
    }
    o << "</table>\n";
    if (!c.notes.empty()) {
        o << "<h2>Notes</h2><ul>";
        for (const std::string& n : c.notes) o << "<li>" << html(n) << "</li>";
        o << "</ul>\n";
    }
    ExampleFilter f;
    f.onlyDisagreements = c.models.size() > 1;
    const std::vector<size_t> shown = filterExamples(c, f);
    const std::string metric = exampleMetric(c);
    o << "<h2>Examples" << (f.onlyDisagreements ? " where the outputs differ" : "") << " (" << shown.size()
      << ", first " << std::min(shown.size(), maxExamples) << " shown)</h2>\n<table><tr><th>#</th><th>prompt</th>"
      << "<th>reference</th>";
    for (size_t i = 0; i < c.models.size(); ++i) o << "<th>" << html(c.models[i].run.modelName) << "</th>";
    o << "</tr>\n";
    for (size_t k = 0; k < shown.size() && k < maxExamples; ++k) {
        const ComparedExample& e = c.examples[shown[k]];
        o << "<tr><td>" << e.position << "</td><td><pre>" << html(oneLine(e.prompt, 400)) << "</pre></td><td><pre>"
          << html(e.reference.substr(0, 2000)) << "</pre></td>";
        for (size_t i = 0; i < c.models.size(); ++i) {
            o << "<td><pre>" << html(e.outputs[i].substr(0, 2000)) << "</pre>";
            auto s = e.scores[i].find(metric);
            if (s != e.scores[i].end()) o << "<small>" << html(metric) << " = " << fmt(s->second, 2) << "</small>";
            o << "</td>";
        }
        o << "</tr>\n";
    }
    o << "</table>\n</body></html>\n";
    return o.str();
}

void writeReport(const Comparison& c, const std::string& path) {
    auto endsWith = [&](const char* ext) {
        const std::string e(ext);
        return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
    };
    std::string content;
    if (endsWith(".html") || endsWith(".htm")) content = renderHtml(c);
    else if (endsWith(".md")) content = renderMarkdown(c);
    else if (endsWith(".csv")) content = renderCsv(c);
    else throw Error("report '" + path + "': the extension must be .html, .md or .csv");
    writeFileAtomically(path, content);
}

} // namespace swarm::eval
