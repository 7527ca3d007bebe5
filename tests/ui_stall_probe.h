#pragma once
// Measures how long the UI thread stays busy: a 5 ms timer on it records the longest gap between
// two of its ticks while the probe runs.
#include <QElapsedTimer>
#include <QTimer>

#include <algorithm>

class UiStallProbe {
public:
    UiStallProbe() {
        timer_.setInterval(5);
        QObject::connect(&timer_, &QTimer::timeout, [this] {
            const qint64 now = clock_.elapsed();
            worst_ = std::max(worst_, now - last_);
            last_ = now;
        });
    }
    void start() {
        last_ = worst_ = 0;
        clock_.start();
        timer_.start();
    }
    void stop() { timer_.stop(); }
    qint64 worstMs() const { return worst_; }

private:
    QTimer timer_;
    QElapsedTimer clock_;
    qint64 last_ = 0, worst_ = 0;
};
