// `swarm dataset ...`: the sub-commands, and those that inspect, export and manage the datasets
// of a project (list, stats, export, delete, presets, samples). Import and preview are in
// cmd_dataset_import.cpp, mask-preview in cmd_dataset_mask.cpp.
#include "app/cmd_dataset.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/format.h"
#include "core/hf_folder.h"
#include "datasets/dataset_import.h"
#include "datasets/sample_generators.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

namespace swarm::cli::datasetcmd {

using nlohmann::json;

std::string oneLine(const std::string& s, size_t max) {
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

json readPresetFile(const std::string& path) {
    try {
        return json::parse(readTextFile(path, size_t(1) << 20));
    } catch (const json::exception& e) {
        throw Error(path + ": malformed JSON: " + e.what());
    }
}

Gpt2Tokenizer tokenizerFrom(const Args& args) {
    return args.has("tokenizer") ? loadTokenizerFor(locateHfModel(args.value("tokenizer"))) : Gpt2Tokenizer::bundled();
}

std::optional<Split> splitOption(const Args& args) {
    if (!args.has("split")) return std::nullopt;
    Split s;
    if (!parseSplit(args.value("split"), s))
        throw Error("unknown split '" + args.value("split") + "' (expected train, validation or test)");
    return s;
}

namespace {

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

} // namespace

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
        const json j = readPresetFile(file);
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

} // namespace swarm::cli::datasetcmd

namespace swarm::cli {

int runDataset(const Argv& argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
        std::cout << datasetcmd::kDatasetUsage;
        return argv.empty() ? 2 : 0;
    }
    const std::string sub = argv[0];
    const Argv rest(argv.begin() + 1, argv.end());
    if (sub == "import") return datasetcmd::cmdImport(rest);
    if (sub == "list") return datasetcmd::cmdList(rest);
    if (sub == "stats") return datasetcmd::cmdStats(rest);
    if (sub == "preview") return datasetcmd::cmdPreview(rest);
    if (sub == "mask-preview") return datasetcmd::cmdMaskPreview(rest);
    if (sub == "export") return datasetcmd::cmdExport(rest);
    if (sub == "delete") return datasetcmd::cmdDelete(rest);
    if (sub == "presets") return datasetcmd::cmdPresets(rest);
    if (sub == "samples") return datasetcmd::cmdSamples(rest);
    throw Error("dataset: unknown subcommand '" + sub + "' (see swarm dataset --help)");
}

} // namespace swarm::cli
