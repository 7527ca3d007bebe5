// `swarm dataset ...`: import, inspect and export datasets of a project.
#include "app/cli_args.h"
#include "app/commands.h"

#include "core/atomic_file.h"
#include "datasets/dataset_import.h"
#include "core/error.h"
#include "core/hf_folder.h"
#include "core/model_config.h"
#include "datasets/sample_generators.h"
#include "core/format.h"
#include "datasets/dataset_store.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <unistd.h>

namespace swarm::cli {

using nlohmann::json;

namespace {

const char* kDatasetUsage =
    "usage: swarm dataset SUBCOMMAND ... (swarm dataset SUBCOMMAND --help for its options)\n"
    "  import        import a JSONL/JSON/CSV/TSV file into a project (mapping, tokenisation, split)\n"
    "  preview       the first rows of a file as they would be imported, or of an imported dataset\n"
    "  list          the datasets of a project\n"
    "  stats         a dataset's validation report: counts, rejected rows, token lengths, leakage\n"
    "  mask-preview  one example's tokens, masked (prompt) and trained (response + EOS) told apart\n"
    "  export        the processed pairs as JSONL\n"
    "  delete        remove a dataset from a project\n"
    "  presets       the mapping presets of the published specialist datasets (and a project's own)\n"
    "  samples       write the bundled sample datasets (NL->SQL, intent routing, PII masking)\n";

// Template options accept \n, \t and \\ as on the page.
std::string unescapeCli(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) {
            const char n = s[i + 1];
            if (n == 'n') { out += '\n'; ++i; continue; }
            if (n == 't') { out += '\t'; ++i; continue; }
            if (n == '\\') { out += '\\'; ++i; continue; }
        }
        out += s[i];
    }
    return out;
}

// A text on one line: newlines and tabs shown as \n and \t.
std::string oneLine(const std::string& s, size_t max = 0) {
    std::string out;
    for (char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else out += c;
    }
    if (max && out.size() > max) {
        size_t cut = max;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;   // whole characters
        out = out.substr(0, cut) + "...";
    }
    return out;
}


const std::set<std::string> kMappingOptions = {"preset", "preset-file", "prompt-template", "response-field",
                                               "response-template", "chat-format", "input-format", "json-key",
                                               "max-len", "overlong", "max-record-bytes"};

const char* kMappingHelp =
    "mapping (default: the preset detected from the columns):\n"
    "  --preset NAME             sql, function, extract, commit, summary, router, prompt, pii, or a preset\n"
    "                            saved in the project; auto (default) detects it\n"
    "  --preset-file FILE        a preset as JSON (an edited copy of `swarm dataset presets --json`)\n"
    "  --prompt-template T       the prompt from any fields, e.g. '{context}\\n\\nQuestion: {question}';\n"
    "                            nested fields by path: {chat[0].content}; filters: {tools|json}, |trim, ...\n"
    "  --response-field F        the field holding the response (or --response-template T)\n"
    "  --chat-format T           default 'User: {prompt}\\nAssistant: {response}<|endoftext|>'\n"
    "  --input-format F          jsonl, json, csv, tsv (default: from the name and content)\n"
    "  --json-key K              the key of a {\"K\": [...]} wrapper (default: the first array)\n"
    "  --max-len N               tokens per example, at most the model context 2048 (default 1024)\n"
    "  --overlong truncate|drop  over-long rows lose prompt tokens from the start, or are dropped\n"
    "  --max-record-bytes N      a larger record is rejected as too long (default 4 MiB)\n"
    "  (in templates, \\n and \\t are a newline and a tab)\n";

// Fills the mapping part of ImportOptions from the arguments.
void mappingFromArgs(const Args& args, ImportOptions& o, ProjectStore* store) {
    o.reader.format = parseSourceFormat(args.value("input-format", "auto"));
    o.reader.jsonKey = args.value("json-key");
    o.reader.maxRecordBytes = size_t(args.integer("max-record-bytes", 4 << 20, 1024, (long long)1 << 31));
    o.maxLen = int(args.integer("max-len", 1024, 8, ModelConfig{}.block_size));
    o.overlong = parseOverlong(args.value("overlong", "truncate"));
    if (args.has("preset-file")) {
        const std::string file = args.value("preset-file");
        json j;
        try {
            j = json::parse(readTextFile(file, size_t(1) << 20));
        } catch (const json::exception& e) {
            throw Error(file + ": malformed JSON: " + e.what());
        }
        o.preset = DatasetPreset::fromJson(j, file);
    }
    const std::string preset = args.value("preset");
    if (!preset.empty() && preset != "auto") {
        if (o.preset) throw Error("give --preset or --preset-file, not both");
        if (store)
            for (const auto& [name, j] : DatasetStore(*store).savedPresets())
                if (name == preset) o.preset = DatasetPreset::fromJson(j, store->path() + ": preset '" + name + "'");
        if (!o.preset) o.presetName = preset;
    }
    o.promptTemplate = unescapeCli(args.value("prompt-template"));
    if (args.has("response-field") && args.has("response-template"))
        throw Error("give --response-field or --response-template, not both");
    if (args.has("response-field")) o.responseTemplate = TextTemplate::forField(args.value("response-field")).text();
    else o.responseTemplate = unescapeCli(args.value("response-template"));
    o.chatFormat = unescapeCli(args.value("chat-format"));
}

Gpt2Tokenizer tokenizerFrom(const Args& args) {
    return args.has("tokenizer") ? loadTokenizerFor(locateHfModel(args.value("tokenizer"))) : Gpt2Tokenizer::bundled();
}

void printStats(const std::string& label, const json& s) {
    std::printf("  %-9s min %-5lld median %-5lld p95 %-5lld max %-5lld mean %.1f\n", label.c_str(),
                (long long)s.value("min", 0), (long long)s.value("median", 0), (long long)s.value("p95", 0),
                (long long)s.value("max", 0), s.value("mean", 0.0));
}

void printHistogram(const std::string& label, const json& s) {
    const json& h = s["histogram"];
    const int64_t width = h.value("bin_width", 1);
    int64_t peak = 1;
    for (const json& c : h["counts"]) peak = std::max<int64_t>(peak, c.get<int64_t>());
    std::printf("  %s tokens (bins of %lld):\n", label.c_str(), (long long)width);
    int64_t lo = 0;
    bool started = false;
    for (const json& c : h["counts"]) {
        const int64_t n = c.get<int64_t>();
        if (!started && n == 0) {   // leading empty bins say nothing
            lo += width;
            continue;
        }
        started = true;
        std::printf("    %5lld-%-5lld %7lld %s\n", (long long)lo, (long long)(lo + width - 1), (long long)n,
                    std::string(size_t((n * 50 + peak - 1) / peak), '#').c_str());
        lo += width;
    }
}

// The validation report as text.
void printReport(const json& r, const std::vector<RejectedRow>* allRejected, int maxRejected, bool histogram) {
    const json& src = r["source"];
    const json& c = r["counts"];
    std::cout << "source: " << src.value("path", "") << " (" << src.value("format", "") << ", "
              << formatBytes(src.value("bytes", uint64_t(0))) << (src.value("bom", false) ? ", UTF-8 BOM" : "")
              << (src.contains("json_key") ? ", records in \"" + src["json_key"].get<std::string>() + "\"" : "") << ")\n";
    const json& m = r["mapping"];
    std::cout << "mapping: " << m.value("explanation", "") << "\n"
              << "  prompt template:   " << oneLine(m.value("prompt_template", "")) << "\n"
              << "  response template: " << oneLine(m.value("response_template", "")) << "\n"
              << "  chat format:       " << oneLine(m.value("chat_format", "")) << "\n";
    std::cout << "rows: " << withThousands(c.value("read", 0)) << " read, " << withThousands(c.value("imported", 0))
              << " imported, " << withThousands(c.value("rejected", 0)) << " rejected\n";
    std::cout << "length: max_len " << r.value("max_len", 0) << ", over-long rows " << r.value("overlong", "") << "d; "
              << withThousands(c.value("truncated", 0)) << " truncated (" << withThousands(c.value("truncated_tokens", 0))
              << " prompt tokens removed)\n";
    const json& sp = r["split"];
    std::cout << "split: train " << withThousands(c.value("train", 0)) << ", validation "
              << withThousands(c.value("validation", 0)) << ", test " << withThousands(c.value("test", 0));
    if (sp.value("mode", "") == "column") std::cout << " (from column '" << sp.value("column", "") << "')\n";
    else
        std::printf(" (ratios %.3g/%.3g/%.3g, seed %llu)\n", sp.value("train", 0.0), sp.value("validation", 0.0),
                    sp.value("test", 0.0), (unsigned long long)r.value("seed", uint64_t(0)));
    std::cout << std::flush;
    std::cout << "tokens: " << withThousands(c.value("tokens", 0)) << " in all\n" << std::flush;
    printStats("prompt", r["tokens"]["prompt"]);
    printStats("response", r["tokens"]["response"]);
    printStats("total", r["tokens"]["total"]);
    std::fflush(stdout);
    if (histogram) {
        printHistogram("prompt", r["tokens"]["prompt"]);
        printHistogram("response", r["tokens"]["response"]);
        std::fflush(stdout);
    }
    const json& byReason = r["rejected_by_reason"];
    if (!byReason.empty()) {
        std::cout << "rejected by reason:";
        for (auto it = byReason.begin(); it != byReason.end(); ++it)
            std::cout << (it == byReason.begin() ? " " : ", ") << it.key() << " "
                      << withThousands(it.value().get<int64_t>());
        std::cout << "\n";
        const int64_t total = c.value("rejected", 0);
        if (allRejected) {
            std::cout << "rejected rows" << (int64_t(allRejected->size()) < total ? " (first " + std::to_string(allRejected->size()) + ")" : "")
                      << ":\n";
            for (const RejectedRow& row : *allRejected)
                std::cout << "  record " << row.recordNumber << " (line " << row.line << "): " << row.reason << ": "
                          << oneLine(row.detail, 200) << "\n";
        } else {
            int shown = 0;
            for (const json& row : r["rejected"]) {
                if (shown++ >= maxRejected) break;
                if (shown == 1) std::cout << "rejected rows:\n";
                std::cout << "  record " << row.value("record", 0) << " (line " << row.value("line", 0)
                          << "): " << row.value("reason", "") << ": " << oneLine(row.value("detail", ""), 200) << "\n";
            }
            if (total > shown) std::cout << "  ... " << total - shown << " more (swarm dataset stats --rejected N)\n";
        }
    }
    const json& d = r["duplicates"];
    std::cout << "duplicates: " << withThousands(d.value("count", 0))
              << (d.value("count", 0) ? (d.value("dropped", true) ? " (dropped, listed above)" : " (kept)") : "") << "\n";
    const json& l = r["leakage"];
    const int64_t leaks = l.value("train_test", 0) + l.value("train_validation", 0) + l.value("validation_test", 0);
    std::cout << "leakage (same prompt in two splits): "
              << (leaks ? "train/test " + std::to_string(l.value("train_test", 0)) + ", train/validation " +
                              std::to_string(l.value("train_validation", 0)) + ", validation/test " +
                              std::to_string(l.value("validation_test", 0))
                        : std::string("none"))
              << "\n";
    for (const json& e : l["examples"]) {
        std::cout << "  records";
        for (const json& n : e["records"]) std::cout << " " << n.get<int64_t>();
        std::cout << " in";
        for (const json& s : e["splits"]) std::cout << " " << s.get<std::string>();
        std::cout << "\n";
    }
    for (const json& w : r["warnings"]) std::cout << "warning: " << w.get<std::string>() << "\n";
}

// ---------------------------------------------------------------------------------------------

int cmdImport(const Argv& argv) {
    std::set<std::string> values = kMappingOptions;
    values.insert({"project", "name", "split", "split-column", "seed", "threads", "tokenizer"});
    Args args(argv, values, {"keep-duplicates", "dry-run", "quiet", "json"});
    if (args.help()) {
        std::cout << "usage: swarm dataset import FILE --project P --name N [--preset NAME | --prompt-template T\n"
                     "                            --response-field F] [--max-len N] [--overlong truncate|drop]\n"
                     "                            [--split 0.9,0.05,0.05 | --split-column COL] [--seed N] ...\n"
                     "Reads FILE (JSONL, JSON, CSV or TSV; UTF-8, BOM or not), maps each record to a prompt and a\n"
                     "response, tokenises it in the chat format with the prompt masked, splits, and stores it in the\n"
                     "project in one transaction (all or nothing). Prints the validation report.\n"
                  << kMappingHelp
                  << "split and checks:\n"
                     "  --split R,R[,R]        train,validation,test ratios (default 0.9,0.05,0.05); rows with the\n"
                     "                         same prompt stay together, so no prompt leaks between splits\n"
                     "  --split-column COL     take each row's split from a field (train, validation/val/dev, test)\n"
                     "  --seed N               the split's seed (default 42)\n"
                     "  --keep-duplicates      keep exact duplicates (same prompt and response); default: drop them\n"
                     "other:\n"
                     "  --dry-run              run everything and print the report, then leave the project unchanged\n"
                     "  --threads N            tokeniser threads (default: every core)\n"
                     "  --tokenizer MODEL_DIR  a model folder's tokenizer instead of the bundled GPT-2 one\n"
                     "  --quiet                no progress on stderr    --json  the report as JSON\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("dataset import: expected one FILE (see --help)");
    const std::string projectPath = args.required("project");
    ProjectStore store = ProjectStore::open(projectPath);
    ImportOptions o;
    o.sourcePath = args.positionals()[0];
    o.name = args.required("name");
    mappingFromArgs(args, o, &store);
    if (args.has("split") && args.has("split-column")) throw Error("give --split or --split-column, not both");
    if (args.has("split-column")) o.split = SplitSpec::fromColumn(args.value("split-column"));
    else if (args.has("split")) o.split = SplitSpec::parse(args.value("split"));
    o.seed = uint64_t(args.integer("seed", 42, 0, (long long)(~0ull >> 1)));
    o.dropDuplicates = !args.flag("keep-duplicates");
    o.threads = int(args.integer("threads", 0, 0, 256));
    o.dryRun = args.flag("dry-run");
    const Gpt2Tokenizer tok = tokenizerFrom(args);

    const bool tty = isatty(2);
    const auto start = std::chrono::steady_clock::now();
    auto lastShown = start;
    int lastTenth = -1;
    bool printed = false;
    if (!args.flag("quiet")) {
        o.progress = [&](const ImportProgress& p) {
            const auto now = std::chrono::steady_clock::now();
            const double elapsed = std::chrono::duration<double>(now - start).count();
            const bool done = p.bytesRead >= p.bytesTotal;
            // Short imports show no progress; files of several MiB, or anything slower than 0.5 s, do.
            if (elapsed < 0.5 && p.bytesTotal < (uint64_t(4) << 20) && !printed) return;
            const int pct = p.bytesTotal ? int(100.0 * double(p.bytesRead) / double(p.bytesTotal)) : 100;
            if (tty) {
                if (!done && std::chrono::duration<double>(now - lastShown).count() < 0.2) return;
            } else if (pct / 10 == lastTenth && !done) {
                return;
            }
            lastShown = now;
            lastTenth = pct / 10;
            char line[200];
            std::snprintf(line, sizeof line, "importing %s: %3d%%  %s records, %s imported, %s rejected, %.1f s",
                          o.name.c_str(), pct, withThousands(p.recordsRead).c_str(), withThousands(p.imported).c_str(),
                          withThousands(p.rejected).c_str(), elapsed);
            std::cerr << (tty ? "\r" : "") << line << (tty ? "" : "\n") << std::flush;
            printed = true;
        };
    }
    ImportResult result;
    try {
        result = importDataset(store, tok, o);
    } catch (...) {
        if (printed && tty) std::cerr << "\n";
        throw;
    }
    if (printed && tty) std::cerr << "\n";
    if (args.flag("json")) {
        std::cout << result.report.dump(2) << "\n";
        return 0;
    }
    if (o.dryRun) std::cout << "dry run: nothing was written to " << projectPath << "\n";
    else
        std::cout << "imported dataset '" << o.name << "' (id " << result.datasetId << ") into " << projectPath << "\n";
    printReport(result.report, nullptr, 20, false);
    return 0;
}

int cmdList(const Argv& argv) {
    Args args(argv, {"project"}, {"json"});
    if (args.help()) {
        std::cout << "usage: swarm dataset list --project P [--json]\n";
        return 0;
    }
    ProjectStore store = ProjectStore::open(args.required("project"));
    const std::vector<DatasetInfo> all = DatasetStore(store).datasets();
    if (args.flag("json")) {
        json out = json::array();
        for (const DatasetInfo& d : all)
            out.push_back({{"id", d.id},           {"name", d.name},          {"source", d.sourcePath},
                           {"format", d.sourceFormat}, {"preset", d.preset},  {"examples", d.rowsImported},
                           {"rejected", d.rowsRejected}, {"train", d.nTrain}, {"validation", d.nValidation},
                           {"test", d.nTest},      {"tokens", d.nTokens},     {"max_len", d.maxLen},
                           {"created_at", d.createdAt}});
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    if (all.empty()) {
        std::cout << "no datasets in " << store.path() << " (swarm dataset import FILE --project " << store.path()
                  << " --name NAME)\n";
        return 0;
    }
    std::printf("%-4s %-20s %-8s %10s %9s %19s %12s  %s\n", "id", "name", "preset", "examples", "rejected",
                "train/val/test", "tokens", "source");
    for (const DatasetInfo& d : all) {
        const std::string split = withThousands(d.nTrain) + "/" + withThousands(d.nValidation) + "/" + withThousands(d.nTest);
        std::printf("%-4lld %-20s %-8s %10s %9s %19s %12s  %s\n", (long long)d.id, d.name.c_str(),
                    d.preset.empty() ? "custom" : d.preset.c_str(), withThousands(d.rowsImported).c_str(),
                    withThousands(d.rowsRejected).c_str(), split.c_str(), withThousands(d.nTokens).c_str(),
                    d.sourcePath.c_str());
    }
    return 0;
}

int cmdStats(const Argv& argv) {
    Args args(argv, {"project", "rejected"}, {"json", "histogram"});
    if (args.help()) {
        std::cout << "usage: swarm dataset stats NAME --project P [--rejected N] [--histogram] [--json]\n"
                     "The validation report kept with the dataset: rows read/imported/rejected, every rejected row\n"
                     "with its record and line (the first N, default 20; --rejected all), token-length statistics\n"
                     "(--histogram adds the histograms), duplicates, train/test leakage and warnings.\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("dataset stats: expected one dataset NAME (see --help)");
    ProjectStore store = ProjectStore::open(args.required("project"));
    const DatasetInfo d = DatasetStore(store).dataset(args.positionals()[0]);
    json report = DatasetStore(store).validationReport(d.id);
    if (report.is_null()) throw Error("dataset '" + d.name + "' has no validation report");
    if (args.flag("json")) {
        std::vector<RejectedRow> rows = DatasetStore(store).rejectedRows(d.id);
        report["rejected"] = json::array();
        for (const RejectedRow& r : rows)
            report["rejected"].push_back({{"record", r.recordNumber}, {"line", r.line}, {"reason", r.reason}, {"detail", r.detail}});
        report["rejected_listed"] = rows.size();
        std::cout << report.dump(2) << "\n";
        return 0;
    }
    const std::string limitText = args.value("rejected", "20");
    const long long limit = limitText == "all" ? -1 : args.integer("rejected", 20, 0, 1LL << 40);
    const std::vector<RejectedRow> rows = DatasetStore(store).rejectedRows(d.id, limit);
    std::cout << "dataset '" << d.name << "' (id " << d.id << ", imported " << d.createdAt << ")\n";
    printReport(report, &rows, 0, args.flag("histogram"));
    return 0;
}

std::optional<Split> splitOption(const Args& args) {
    if (!args.has("split")) return std::nullopt;
    Split s;
    if (!parseSplit(args.value("split"), s))
        throw Error("unknown split '" + args.value("split") + "' (expected train, validation or test)");
    return s;
}

int cmdPreview(const Argv& argv) {
    std::set<std::string> values = kMappingOptions;
    values.insert({"project", "rows", "split", "offset", "tokenizer"});
    Args args(argv, values, {"json"});
    if (args.help()) {
        std::cout << "usage: swarm dataset preview FILE [--rows N] [mapping options] [--json]\n"
                     "       swarm dataset preview NAME --project P [--rows N] [--split S] [--offset K]\n"
                     "The first rows of FILE as the import would see them (format, columns, detected preset, the\n"
                     "rendered prompt and response with token counts, or why a row would be rejected), before\n"
                     "importing; with --project, the first examples of an imported dataset.\n"
                  << kMappingHelp;
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("dataset preview: expected one FILE or dataset NAME (see --help)");
    const int rows = int(args.integer("rows", 5, 1, 100000));
    if (args.has("project")) {
        ProjectStore store = ProjectStore::open(args.value("project"));
        const DatasetInfo d = DatasetStore(store).dataset(args.positionals()[0]);
        const auto examples = DatasetStore(store).examples(d.id, splitOption(args), args.integer("offset", 0, 0, 1LL << 40), rows);
        if (args.flag("json")) {
            json out = json::array();
            for (const StoredExample& e : examples)
                out.push_back({{"id", e.id}, {"record", e.recordNumber}, {"split", splitName(e.split)}, {"prompt", e.prompt},
                               {"response", e.response}, {"n_tokens", e.ids.size()}, {"prompt_len", e.promptLen},
                               {"truncated_tokens", e.truncatedTokens}});
            std::cout << out.dump(2) << "\n";
            return 0;
        }
        std::cout << "dataset '" << d.name << "': " << withThousands(d.rowsImported) << " examples\n";
        for (const StoredExample& e : examples) {
            std::cout << "\n#" << e.id << "  record " << e.recordNumber << ", " << splitName(e.split) << ", "
                      << e.ids.size() << " tokens (" << e.promptLen << " masked"
                      << (e.truncatedTokens ? ", " + std::to_string(e.truncatedTokens) + " truncated" : "") << ")\n"
                      << "  prompt:   " << oneLine(e.prompt, 400) << "\n"
                      << "  response: " << oneLine(e.response, 400) << "\n";
        }
        return 0;
    }
    ImportOptions o;
    o.sourcePath = args.positionals()[0];
    mappingFromArgs(args, o, nullptr);
    const Gpt2Tokenizer tok = tokenizerFrom(args);
    const DatasetPreview pv = previewDataset(o, &tok, rows);
    if (args.flag("json")) {
        json out;
        out["format"] = formatName(pv.format);
        out["columns"] = pv.columns;
        out["bom"] = pv.bom;
        out["bytes"] = pv.fileSize;
        if (!pv.wrapperKey.empty()) out["json_key"] = pv.wrapperKey;
        out["mapping"] = pv.mapping ? pv.mapping->toJson() : json();
        if (!pv.mappingError.empty()) out["mapping_error"] = pv.mappingError;
        out["rows"] = json::array();
        for (const PreviewRow& r : pv.rows) {
            json row{{"record", r.number}, {"line", r.line}, {"ok", r.ok}, {"fields", r.record}};
            if (r.ok) {
                row["prompt"] = r.prompt;
                row["response"] = r.response;
                row["prompt_tokens"] = r.promptTokens;
                row["response_tokens"] = r.responseTokens;
            } else {
                row["reason"] = r.reason;
                row["detail"] = r.detail;
            }
            out["rows"].push_back(row);
        }
        std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return 0;
    }
    std::cout << o.sourcePath << ": " << formatName(pv.format) << ", " << formatBytes(pv.fileSize)
              << (pv.bom ? ", UTF-8 BOM" : "") << (pv.wrapperKey.empty() ? "" : ", records in \"" + pv.wrapperKey + "\"")
              << "\n";
    std::cout << "columns:";
    for (const std::string& c : pv.columns) std::cout << " " << c;
    std::cout << "\n";
    if (pv.mapping) {
        std::cout << "mapping: " << pv.mapping->explanation << "\n"
                  << "  prompt template:   " << oneLine(pv.mapping->prompt.text()) << "\n"
                  << "  response template: " << oneLine(pv.mapping->response.text()) << "\n"
                  << "  chat format:       " << oneLine(pv.mapping->format.text()) << "\n";
    } else {
        std::cout << "mapping: none: " << pv.mappingError << "\n";
    }
    for (const PreviewRow& r : pv.rows) {
        std::cout << "\nrecord " << r.number << " (line " << r.line << ")";
        if (!pv.mapping && r.reason.empty()) {
            std::cout << "\n  " << oneLine(r.record.dump(-1, ' ', false, json::error_handler_t::replace), 600) << "\n";
            continue;
        }
        if (!r.ok) {
            std::cout << ": would be rejected: " << r.reason << ": " << oneLine(r.detail, 300) << "\n";
            continue;
        }
        std::cout << ": " << r.promptTokens << " prompt + " << r.responseTokens << " response tokens\n"
                  << "  prompt:   " << oneLine(r.prompt, 400) << "\n"
                  << "  response: " << oneLine(r.response, 400) << "\n";
    }
    return 0;
}

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
    std::optional<StoredExample> ex;
    if (args.has("example")) {
        ex = DatasetStore(store).example(args.integer("example", 0, 1, 1LL << 62));
        if (!ex || ex->datasetId != d.id)
            throw Error("dataset '" + d.name + "' has no example " + args.value("example"));
    } else {
        const long long index = args.integer("index", 1, 1, 1LL << 40);
        auto v = DatasetStore(store).examples(d.id, splitOption(args), index - 1, 1);
        if (v.empty())
            throw Error("dataset '" + d.name + "' has fewer than " + std::to_string(index) + " examples" +
                        (args.has("split") ? " in split " + args.value("split") : ""));
        ex = v.front();
    }
    const Gpt2Tokenizer tok = tokenizerFrom(args);
    const bool colour = useColour(args.value("color", "auto"));
    const std::vector<int32_t> labels = labelsFor(ex->ids, ex->promptLen);
    const size_t trained = ex->ids.size() - size_t(ex->promptLen);
    std::cout << "example " << ex->id << " (record " << ex->recordNumber << ", " << splitName(ex->split) << ", dataset '"
              << d.name << "'): " << ex->ids.size() << " tokens: " << ex->promptLen
              << " masked (prompt, label -100), " << trained << " trained (response + <|endoftext|>)";
    if (ex->truncatedTokens) std::cout << "; " << ex->truncatedTokens << " prompt tokens were truncated";
    std::cout << "\n";
    if (args.flag("table")) {
        std::printf("%5s %6s %6s  %-7s %s\n", "pos", "id", "label", "", "token");
        for (size_t i = 0; i < ex->ids.size(); ++i) {
            const bool masked = labels[i] == -100;
            const std::string text = tokenText(tok.tokenBytes(ex->ids[i]));
            if (colour) std::cout << (masked ? "\x1b[2m" : "\x1b[32m");
            std::printf("%5zu %6d %6d  %-7s '%s'", i, ex->ids[i], labels[i], masked ? "masked" : "trained", text.c_str());
            std::fflush(stdout);
            if (colour) std::cout << "\x1b[0m";
            std::cout << "\n";
        }
        return 0;
    }
    if (colour)
        std::cout << "legend: \x1b[2;48;5;236mmasked\x1b[0m \x1b[1;32;48;5;22mtrained\x1b[0m\n";
    else
        std::cout << "legend: [masked] {trained}\n";
    std::string line;
    for (size_t i = 0; i < ex->ids.size(); ++i) {
        const bool masked = labels[i] == -100;
        const std::string text = tokenText(tok.tokenBytes(ex->ids[i]));
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
    const std::vector<int32_t> trainedIds(ex->ids.begin() + ex->promptLen, ex->ids.end());
    std::cout << "trained text: " << json(tok.decode(trainedIds)).dump(-1, ' ', false, json::error_handler_t::replace)
              << "\n";
    return 0;
}

int cmdExport(const Argv& argv) {
    Args args(argv, {"project", "out", "split"}, {"with-tokens"});
    if (args.help()) {
        std::cout << "usage: swarm dataset export NAME --project P [--out FILE] [--split S] [--with-tokens]\n"
                     "Writes the processed pairs as JSONL (to FILE atomically, or standard output): id, record,\n"
                     "split, prompt, response, n_tokens, prompt_len, truncated_tokens; --with-tokens adds\n"
                     "input_ids and labels (-100 over the prompt).\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("dataset export: expected one dataset NAME (see --help)");
    ProjectStore store = ProjectStore::open(args.required("project"));
    const DatasetInfo d = DatasetStore(store).dataset(args.positionals()[0]);
    const bool withTokens = args.flag("with-tokens");
    const std::string out = args.value("out");
    std::unique_ptr<AtomicFile> file;
    if (!out.empty() && out != "-") file = std::make_unique<AtomicFile>(out);
    std::string buf;
    int64_t n = 0;
    auto flush = [&]() {
        if (file) file->write(buf);
        else std::cout << buf;
        buf.clear();
    };
    DatasetStore(store).forEachExample(d.id, splitOption(args), [&](const StoredExample& e) {
        json j{{"id", e.id},           {"record", e.recordNumber}, {"split", splitName(e.split)},
               {"prompt", e.prompt},   {"response", e.response},   {"n_tokens", e.ids.size()},
               {"prompt_len", e.promptLen}, {"truncated_tokens", e.truncatedTokens}};
        if (withTokens) {
            j["input_ids"] = e.ids;
            j["labels"] = labelsFor(e.ids, e.promptLen);
        }
        buf += j.dump();
        buf += '\n';
        ++n;
        if (buf.size() > (1 << 20)) flush();
        return true;
    });
    flush();
    if (file) {
        file->commit();
        std::cerr << "wrote " << withThousands(n) << " examples to " << out << "\n";
    }
    return 0;
}

int cmdDelete(const Argv& argv) {
    Args args(argv, {"project"}, {});
    if (args.help()) {
        std::cout << "usage: swarm dataset delete NAME --project P\nRemoves the dataset, its examples and report.\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("dataset delete: expected one dataset NAME (see --help)");
    ProjectStore store = ProjectStore::open(args.required("project"));
    const DatasetInfo d = DatasetStore(store).dataset(args.positionals()[0]);
    DatasetStore(store).deleteDataset(d.id);
    std::cout << "deleted dataset '" << d.name << "' (" << withThousands(d.rowsImported) << " examples)\n";
    return 0;
}

int cmdPresets(const Argv& argv) {
    Args args(argv, {"project", "save", "delete"}, {"json"});
    if (args.help()) {
        std::cout << "usage: swarm dataset presets [--json] [--project P [--save FILE.json | --delete NAME]]\n"
                     "Lists the built-in presets (the eight published specialist datasets) and, with --project, the\n"
                     "project's own. To edit one: save `--json` output, change a preset's templates or name, and\n"
                     "store it with --save (or use it directly: dataset import --preset-file FILE.json).\n";
        return 0;
    }
    std::optional<ProjectStore> store;
    if (args.has("project")) store.emplace(ProjectStore::open(args.value("project")));
    if (args.has("save") || args.has("delete")) {
        if (!store) throw Error("--save and --delete need --project");
        if (args.has("delete")) {
            DatasetStore(*store).deletePreset(args.value("delete"));
            std::cout << "deleted preset '" << args.value("delete") << "'\n";
            return 0;
        }
        const std::string file = args.value("save");
        json j;
        try {
            j = json::parse(readTextFile(file, size_t(1) << 20));
        } catch (const json::exception& e) {
            throw Error(file + ": malformed JSON: " + e.what());
        }
        std::vector<json> items = j.is_array() ? std::vector<json>(j.begin(), j.end()) : std::vector<json>{j};
        for (const json& item : items) {
            DatasetPreset p = DatasetPreset::fromJson(item, file);
            DatasetStore(*store).savePreset(p.name, p.toJson());
            std::cout << "saved preset '" << p.name << "' in " << store->path() << "\n";
        }
        return 0;
    }
    std::vector<DatasetPreset> presets = builtinPresets();
    std::vector<bool> saved(presets.size(), false);
    if (store)
        for (const auto& [name, j] : DatasetStore(*store).savedPresets()) {
            presets.push_back(DatasetPreset::fromJson(j, store->path()));
            saved.push_back(true);
        }
    if (args.flag("json")) {
        json out = json::array();
        for (const DatasetPreset& p : presets) out.push_back(p.toJson());
        std::cout << out.dump(2) << "\n";
        return 0;
    }
    for (size_t i = 0; i < presets.size(); ++i) {
        const DatasetPreset& p = presets[i];
        std::string req;
        for (const std::string& f : p.requiredFields) req += (req.empty() ? "" : ", ") + f;
        std::cout << p.name << (saved[i] ? " (saved in the project)" : "") << ": " << p.specialist
                  << (p.source.empty() ? "" : ", " + p.source) << "\n"
                  << "  " << p.description << "\n"
                  << "  fields:   " << req << "\n"
                  << "  prompt:   " << oneLine(p.promptTemplate) << "\n"
                  << "  response: " << oneLine(p.responseTemplate) << "\n";
    }
    return 0;
}

int cmdSamples(const Argv& argv) {
    Args args(argv, {"out", "count"}, {});
    if (args.help()) {
        std::cout << "usage: swarm dataset samples --out DIR [--count N]\n"
                     "Writes the bundled sample datasets, generated deterministically (same bytes every time):\n"
                     "nl2sql.jsonl (question, context, answer), support-routing.jsonl (instruction, intent,\n"
                     "category, response) and pii-masking.jsonl (source_text, target_text, privacy_mask),\n"
                     "10,000 pairs each by default.\n";
        return 0;
    }
    const std::string dir = args.required("out");
    const long long count = args.integer("count", (long long)samples::kDefaultCount, 1, 1000000);
    for (const samples::SampleFile& f : samples::writeSampleDatasets(dir, size_t(count)))
        std::cout << dir << "/" << f.fileName << ": " << withThousands(int64_t(f.rows)) << " pairs (preset "
                  << f.preset << ")\n";
    return 0;
}

} // namespace

int runDataset(const Argv& argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
        std::cout << kDatasetUsage;
        return argv.empty() ? 2 : 0;
    }
    const std::string sub = argv[0];
    const Argv rest(argv.begin() + 1, argv.end());
    if (sub == "import") return cmdImport(rest);
    if (sub == "list") return cmdList(rest);
    if (sub == "stats") return cmdStats(rest);
    if (sub == "preview") return cmdPreview(rest);
    if (sub == "mask-preview") return cmdMaskPreview(rest);
    if (sub == "export") return cmdExport(rest);
    if (sub == "delete") return cmdDelete(rest);
    if (sub == "presets") return cmdPresets(rest);
    if (sub == "samples") return cmdSamples(rest);
    throw Error("dataset: unknown subcommand '" + sub + "' (see swarm dataset --help)");
}

} // namespace swarm::cli
