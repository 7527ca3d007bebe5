// `swarm dataset mask-preview`: one example's tokens, the masked prompt and the trained response
// told apart.
#include "app/cmd_dataset.h"

#include "core/error.h"
#include "datasets/dataset_import.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

namespace swarm::cli::datasetcmd {

using nlohmann::json;

namespace {

// A token's bytes as readable text: \n, \t, control bytes and broken UTF-8 escaped.
std::string tokenText(const std::string& bytes) {
    std::string out;
    size_t i = 0;
    while (i < bytes.size()) {
        const unsigned char c = static_cast<unsigned char>(bytes[i]);
        if (c == '\n') { out += "\\n"; ++i; continue; }
        if (c == '\t') { out += "\\t"; ++i; continue; }
        if (c == '\r') { out += "\\r"; ++i; continue; }
        char buf[8];
        if (c < 0x20 || c == 0x7f) {
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
            ++i;
            continue;
        }
        if (c < 0x80) { out += char(c); ++i; continue; }
        const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (len > 1 && i + len <= bytes.size() && isValidUtf8(std::string_view(bytes).substr(i, len))) {
            out += bytes.substr(i, len);
            i += len;
            continue;
        }
        std::snprintf(buf, sizeof buf, "\\x%02x", c);   // part of a character split across tokens
        out += buf;
        ++i;
    }
    return out;
}

bool useColour(const std::string& mode) {
    if (mode == "always") return true;
    if (mode == "never") return false;
    if (mode != "auto") throw Error("unknown --color '" + mode + "' (expected auto, always or never)");
    const char* term = std::getenv("TERM");
    return isatty(1) && !std::getenv("NO_COLOR") && term && std::string(term) != "dumb";
}

// The example --example ID names, or the --index N-th (of --split S when given).
StoredExample chosenExample(const Args& args, const ProjectStore& store, const DatasetInfo& d) {
    if (args.has("example")) {
        std::optional<StoredExample> ex = DatasetStore(store).example(args.integer("example", 0, 1, 1LL << 62));
        if (!ex || ex->datasetId != d.id)
            throw Error("dataset '" + d.name + "' has no example " + args.value("example"));
        return *ex;
    }
    const long long index = args.integer("index", 1, 1, 1LL << 40);
    auto v = DatasetStore(store).examples(d.id, splitOption(args), index - 1, 1);
    if (v.empty())
        throw Error("dataset '" + d.name + "' has fewer than " + std::to_string(index) + " examples" +
                    (args.has("split") ? " in split " + args.value("split") : ""));
    return v.front();
}

// --table: one token per line.
void printTokenTable(const StoredExample& ex, const std::vector<int32_t>& labels, const Gpt2Tokenizer& tok, bool colour) {
    std::printf("%5s %6s %6s  %-7s %s\n", "pos", "id", "label", "", "token");
    for (size_t i = 0; i < ex.ids.size(); ++i) {
        const bool masked = labels[i] == -100;
        const std::string text = tokenText(tok.tokenBytes(ex.ids[i]));
        if (colour) std::cout << (masked ? "\x1b[2m" : "\x1b[32m");
        std::printf("%5zu %6d %6d  %-7s '%s'", i, ex.ids[i], labels[i], masked ? "masked" : "trained", text.c_str());
        std::fflush(stdout);
        if (colour) std::cout << "\x1b[0m";
        std::cout << "\n";
    }
}

// The tokens as running text, [masked] {trained} or in colours, then the trained text decoded.
void printTokenText(const StoredExample& ex, const std::vector<int32_t>& labels, const Gpt2Tokenizer& tok, bool colour) {
    if (colour)
        std::cout << "legend: \x1b[2;48;5;236mmasked\x1b[0m \x1b[1;32;48;5;22mtrained\x1b[0m\n";
    else
        std::cout << "legend: [masked] {trained}\n";
    std::string line;
    for (size_t i = 0; i < ex.ids.size(); ++i) {
        const bool masked = labels[i] == -100;
        const std::string text = tokenText(tok.tokenBytes(ex.ids[i]));
        if (colour) {
            const bool alt = i % 2;
            if (masked) line += alt ? "\x1b[2;48;5;238m" : "\x1b[2;48;5;236m";
            else line += alt ? "\x1b[1;32;48;5;28m" : "\x1b[1;32;48;5;22m";
            line += text + "\x1b[0m";
        } else {
            line += (masked ? "[" : "{") + text + (masked ? "]" : "}");
        }
        // Break the display after a newline token, as the text would.
        if (text.size() >= 2 && text.compare(text.size() - 2, 2, "\\n") == 0) {
            std::cout << line << "\n";
            line.clear();
        }
    }
    if (!line.empty()) std::cout << line << "\n";
    const std::vector<int32_t> trainedIds(ex.ids.begin() + ex.promptLen, ex.ids.end());
    std::cout << "trained text: " << json(tok.decode(trainedIds)).dump(-1, ' ', false, json::error_handler_t::replace)
              << "\n";
}

} // namespace

int cmdMaskPreview(const Argv& argv) {
    Args args(argv, {"project", "example", "index", "split", "color", "tokenizer"}, {"table"});
    if (args.help()) {
        std::cout << "usage: swarm dataset mask-preview NAME --project P [--example ID | --index N] [--split S]\n"
                     "                                  [--color auto|always|never] [--table]\n"
                     "Shows one example's token sequence with the masked tokens (the prompt: label -100, no loss)\n"
                     "and the trained tokens (the response and <|endoftext|>) told apart. Without colour, masked\n"
                     "tokens are written [like this] and trained ones {like this}; with colour, masked tokens are\n"
                     "dim and trained ones green, alternating shades marking token boundaries.\n"
                     "  --example ID  the example with this id (see dataset preview)\n"
                     "  --index N     the N-th example (1-based, default 1), of --split S when given\n"
                     "  --table       one token per line: position, id, label, text\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("dataset mask-preview: expected one dataset NAME (see --help)");
    ProjectStore store = ProjectStore::open(args.required("project"));
    const DatasetInfo d = DatasetStore(store).dataset(args.positionals()[0]);
    const StoredExample ex = chosenExample(args, store, d);
    const Gpt2Tokenizer tok = tokenizerFrom(args);
    const bool colour = useColour(args.value("color", "auto"));
    const std::vector<int32_t> labels = labelsFor(ex.ids, ex.promptLen);
    const size_t trained = ex.ids.size() - size_t(ex.promptLen);
    std::cout << "example " << ex.id << " (record " << ex.recordNumber << ", " << splitName(ex.split) << ", dataset '"
              << d.name << "'): " << ex.ids.size() << " tokens: " << ex.promptLen
              << " masked (prompt, label -100), " << trained << " trained (response + <|endoftext|>)";
    if (ex.truncatedTokens) std::cout << "; " << ex.truncatedTokens << " prompt tokens were truncated";
    std::cout << "\n";
    if (args.flag("table")) printTokenTable(ex, labels, tok, colour);
    else printTokenText(ex, labels, tok, colour);
    return 0;
}

} // namespace swarm::cli::datasetcmd
