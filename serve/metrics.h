#pragma once
// Prometheus metrics in the text exposition format (version 0.0.4), for the server's GET /metrics:
// labelled counters and histograms that requests update as they finish, and gauges written
// at scrape time. Thread-safe; no dependency beyond the standard library.
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace swarm::prom {

// A label value as the format quotes it: backslash, double quote and newline escaped.
std::string escapeLabelValue(const std::string& value);

// name{a="x",b="y"} from label names and values of the same length ("" when there are none).
std::string labelSet(const std::vector<std::string>& names, const std::vector<std::string>& values);

// A number as Prometheus reads it (integers without a decimal point; +Inf, NaN).
std::string formatValue(double value);

class CounterFamily {
public:
    CounterFamily(std::string name, std::string help, std::vector<std::string> labelNames);
    void add(const std::vector<std::string>& labelValues, double amount = 1);   // values: one per label name
    double value(const std::vector<std::string>& labelValues) const;          // 0 when never added
    void render(std::string& out) const;

private:
    const std::string name_, help_;
    const std::vector<std::string> labelNames_;
    mutable std::mutex mutex_;
    std::map<std::vector<std::string>, double> values_;
};

class HistogramFamily {
public:
    // upperBounds: increasing, without +Inf (always added).
    HistogramFamily(std::string name, std::string help, std::vector<std::string> labelNames,
                    std::vector<double> upperBounds);
    void observe(const std::vector<std::string>& labelValues, double x);
    unsigned long long count(const std::vector<std::string>& labelValues) const;
    void render(std::string& out) const;

private:
    struct Series {
        std::vector<unsigned long long> buckets;   // per upper bound, not cumulative
        unsigned long long count = 0;
        double sum = 0;
    };
    const std::string name_, help_;
    const std::vector<std::string> labelNames_;
    const std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::map<std::vector<std::string>, Series> series_;
};

// A gauge family written at scrape time: one sample per label value set.
void renderGauge(std::string& out, const std::string& name, const std::string& help,
                 const std::vector<std::string>& labelNames,
                 const std::vector<std::pair<std::vector<std::string>, double>>& samples);
void renderGauge(std::string& out, const std::string& name, const std::string& help, double value);
// A counter whose value the caller keeps (e.g. the engine's decode passes).
void renderCounter(std::string& out, const std::string& name, const std::string& help, double value);

} // namespace swarm::prom
