#include "serve/metrics.h"

#include "core/error.h"

#include <cmath>
#include <cstdio>

namespace swarm::prom {
namespace {

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void checkArity(const std::string& name, const std::vector<std::string>& names, const std::vector<std::string>& values) {
    if (names.size() != values.size())
        throw Error("metric " + name + ": " + std::to_string(values.size()) + " label values for " +
                    std::to_string(names.size()) + " labels");
}

} // namespace

std::string escapeLabelValue(const std::string& value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string labelSet(const std::vector<std::string>& names, const std::vector<std::string>& values) {
    if (names.empty()) return "";
    std::string out = "{";
    for (size_t i = 0; i < names.size(); ++i) {
        if (i) out += ",";
        out += names[i] + "=\"" + escapeLabelValue(i < values.size() ? values[i] : "") + "\"";
    }
    return out + "}";
}

std::string formatValue(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    if (v == std::floor(v) && std::fabs(v) < 9e15) std::snprintf(buf, sizeof buf, "%.0f", v);
    else std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<std::string> labelNames)
    : name_(std::move(name)), help_(std::move(help)), labelNames_(std::move(labelNames)) {}

void CounterFamily::add(const std::vector<std::string>& labelValues, double amount) {
    checkArity(name_, labelNames_, labelValues);
    std::lock_guard<std::mutex> lock(mutex_);
    values_[labelValues] += amount;
}

double CounterFamily::value(const std::vector<std::string>& labelValues) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = values_.find(labelValues);
    return it == values_.end() ? 0.0 : it->second;
}

void CounterFamily::render(std::string& out) const {
    header(out, name_, help_, "counter");
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [labels, v] : values_) out += name_ + labelSet(labelNames_, labels) + " " + formatValue(v) + "\n";
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> labelNames,
                                 std::vector<double> upperBounds)
    : name_(std::move(name)), help_(std::move(help)), labelNames_(std::move(labelNames)), bounds_(std::move(upperBounds)) {}

void HistogramFamily::observe(const std::vector<std::string>& labelValues, double x) {
    checkArity(name_, labelNames_, labelValues);
    std::lock_guard<std::mutex> lock(mutex_);
    Series& s = series_[labelValues];
    if (s.buckets.empty()) s.buckets.assign(bounds_.size(), 0);
    for (size_t i = 0; i < bounds_.size(); ++i)
        if (x <= bounds_[i]) {
            ++s.buckets[i];
            break;
        }
    ++s.count;
    s.sum += x;
}

unsigned long long HistogramFamily::count(const std::vector<std::string>& labelValues) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = series_.find(labelValues);
    return it == series_.end() ? 0 : it->second.count;
}

void HistogramFamily::render(std::string& out) const {
    header(out, name_, help_, "histogram");
    std::vector<std::string> names = labelNames_;
    names.push_back("le");
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [labels, s] : series_) {
        std::vector<std::string> values = labels;
        values.push_back("");
        unsigned long long cumulative = 0;
        for (size_t i = 0; i < bounds_.size(); ++i) {
            cumulative += s.buckets[i];
            values.back() = formatValue(bounds_[i]);
            out += name_ + "_bucket" + labelSet(names, values) + " " + std::to_string(cumulative) + "\n";
        }
        values.back() = "+Inf";
        out += name_ + "_bucket" + labelSet(names, values) + " " + std::to_string(s.count) + "\n";
        out += name_ + "_sum" + labelSet(labelNames_, labels) + " " + formatValue(s.sum) + "\n";
        out += name_ + "_count" + labelSet(labelNames_, labels) + " " + std::to_string(s.count) + "\n";
    }
}

void renderGauge(std::string& out, const std::string& name, const std::string& help,
                 const std::vector<std::string>& labelNames,
                 const std::vector<std::pair<std::vector<std::string>, double>>& samples) {
    header(out, name, help, "gauge");
    for (const auto& [labels, v] : samples) out += name + labelSet(labelNames, labels) + " " + formatValue(v) + "\n";
}

void renderGauge(std::string& out, const std::string& name, const std::string& help, double value) {
    header(out, name, help, "gauge");
    out += name + " " + formatValue(value) + "\n";
}

void renderCounter(std::string& out, const std::string& name, const std::string& help, double value) {
    header(out, name, help, "counter");
    out += name + " " + formatValue(value) + "\n";
}

} // namespace swarm::prom
