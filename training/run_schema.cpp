#include "training/run_schema.h"

#include "core/project_store.h"

namespace swarm {

void registerTrainingSchema() {
    ProjectStore::registerMigration("training", 1, "runs, metrics, events, checkpoints", R"SQL(
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            run_dir TEXT NOT NULL UNIQUE,
            dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
            base_model TEXT NOT NULL,
            config_json TEXT NOT NULL,
            model_config_json TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            steps_done INTEGER NOT NULL DEFAULT 0,
            total_steps INTEGER NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0,
            train_loss REAL,
            validation_loss REAL,
            final_model TEXT,
            device TEXT,
            message TEXT
        );
        CREATE TABLE run_metrics (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            step INTEGER NOT NULL,
            epoch INTEGER NOT NULL,
            loss REAL,
            aux_loss REAL,
            lr REAL,
            grad_norm REAL,
            tokens INTEGER,
            tokens_per_s REAL,
            elapsed_s REAL,
            n_layer INTEGER,
            n_expert INTEGER,
            expert_share BLOB,
            router_entropy BLOB,
            PRIMARY KEY (run_id, kind, step)
        ) WITHOUT ROWID;
        CREATE TABLE run_events (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            kind TEXT NOT NULL,
            message TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX run_events_by_run ON run_events(run_id, id);
        CREATE TABLE run_checkpoints (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            path TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, step)
        ) WITHOUT ROWID;
    )SQL");
}

} // namespace swarm
