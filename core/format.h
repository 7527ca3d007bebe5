#pragma once
// Numbers as people read them, one spelling for the CLI, the reports and the GUI.
#include <cstdint>
#include <string>

namespace swarm {

std::string withThousands(int64_t n);              // 271970816 -> "271,970,816"
std::string formatBytes(uint64_t bytes);           // "812 bytes", "3.4 KiB", "12.5 MiB", "1.02 GiB"
std::string formatDuration(double seconds);        // "42s", "3m05s", "1h02m"; "?" for negative or NaN
// printf into a std::string (for one number with a format: formatNumber("%.3f", x)).
std::string formatNumber(const char* format, double value);
// printf into a std::string of any length.
std::string formatText(const char* format, ...) __attribute__((format(printf, 1, 2)));
// The current time as ISO 8601 UTC ("2024-05-01T12:00:00Z").
std::string utcTimestamp();

} // namespace swarm
