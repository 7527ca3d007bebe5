#pragma once
// A command's progress on stderr: one line rewritten in place on a terminal (at most every
// `interval` seconds), else one line per tenth of the work so that logs stay short.
#include <chrono>
#include <iostream>
#include <string>
#include <unistd.h>

namespace swarm::cli {

class ProgressLine {
public:
    explicit ProgressLine(bool tty = ::isatty(2) != 0, double interval = 0.25) : tty_(tty), interval_(interval) {}

    // Whether a line at `percent` of the work is due now; the end of the work always is.
    bool due(int percent, bool done = false) {
        const auto now = std::chrono::steady_clock::now();
        if (!done) {
            if (tty_ ? printed_ && std::chrono::duration<double>(now - last_).count() < interval_ : percent / 10 == lastTenth_)
                return false;
        }
        last_ = now;
        lastTenth_ = percent / 10;
        return true;
    }
    void print(const std::string& text) {
        std::cerr << (tty_ ? "\r" : "") << text << (tty_ ? "\033[K" : "\n") << std::flush;
        printed_ = true;
    }
    // Ends the rewritten line, when one was shown.
    void finish() const {
        if (printed_ && tty_) std::cerr << "\n";
    }
    bool printed() const { return printed_; }

private:
    bool tty_;
    double interval_;
    std::chrono::steady_clock::time_point last_{};
    int lastTenth_ = -1;
    bool printed_ = false;
};

} // namespace swarm::cli
