// `swarm project create | info`: the project file (one SQLite database).
#include "app/cli_args.h"
#include "app/commands.h"

#include "core/error.h"
#include "core/project_store.h"
#include "core/format.h"
#include "datasets/dataset_store.h"

#include <iostream>

namespace swarm::cli {

namespace {

const char* kProjectUsage =
    "usage: swarm project create FILE\n"
    "       swarm project info FILE [--json]\n"
    "A project is one SQLite file holding datasets, their examples and validation reports, training\n"
    "runs and evaluations. Opening a project made by an older workbench migrates it in place.\n";

} // namespace

int runProject(const Argv& argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
        std::cout << kProjectUsage;
        return argv.empty() ? 2 : 0;
    }
    const std::string sub = argv[0];
    const Argv rest(argv.begin() + 1, argv.end());
    if (sub == "create") {
        Args args(rest, {}, {});
        if (args.help()) {
            std::cout << "usage: swarm project create FILE\n"
                         "Creates a new, empty project file (refuses to overwrite an existing file).\n";
            return 0;
        }
        if (args.positionals().size() != 1) throw Error("project create: expected one FILE (see --help)");
        ProjectStore store = ProjectStore::create(args.positionals()[0]);
        std::cout << "created project " << store.path() << " (schema version " << store.schemaVersion() << ")\n";
        return 0;
    }
    if (sub == "info") {
        Args args(rest, {}, {"json"});
        if (args.help()) {
            std::cout << "usage: swarm project info FILE [--json]\n"
                         "Prints the schema versions (migrating an older file first) and the datasets.\n";
            return 0;
        }
        if (args.positionals().size() != 1) throw Error("project info: expected one FILE (see --help)");
        ProjectStore store = ProjectStore::open(args.positionals()[0]);
        const std::vector<DatasetInfo> datasets = DatasetStore(store).datasets();
        if (args.flag("json")) {
            nlohmann::json j;
            j["path"] = store.path();
            j["created_at"] = store.metaValue("created_at");
            j["migrations"] = store.appliedMigrations();
            j["datasets"] = nlohmann::json::array();
            for (const DatasetInfo& d : datasets)
                j["datasets"].push_back({{"id", d.id}, {"name", d.name}, {"examples", d.rowsImported}});
            std::cout << j.dump(2) << "\n";
            return 0;
        }
        std::cout << "project " << store.path() << "\n";
        std::cout << "created " << store.metaValue("created_at") << "\n";
        std::cout << "schema:\n";
        for (const nlohmann::json& m : store.appliedMigrations())
            std::cout << "  " << m["module"].get<std::string>() << " v" << m["version"].get<int>() << "  "
                      << m["name"].get<std::string>() << "  (" << m["applied_at"].get<std::string>() << ")\n";
        std::cout << datasets.size() << " dataset" << (datasets.size() == 1 ? "" : "s") << "\n";
        for (const DatasetInfo& d : datasets)
            std::cout << "  " << d.name << "  " << withThousands(d.rowsImported) << " examples\n";
        return 0;
    }
    throw Error("project: unknown subcommand '" + sub + "' (expected create or info)");
}

} // namespace swarm::cli
