#pragma once
// The versioned schema of state.db. PRAGMA user_version holds the version; a
// database from an older drover-master is upgraded step by step, in one
// transaction, when the master opens it; one from a newer drover-master is
// refused (downgrades are not supported). Used by SqliteStore::open only.
#include <string>

#include "common/base/result.hpp"

struct sqlite3;

namespace drover::master {

// The version this binary writes. Raise it with every schema change and add
// the step that gets there from the previous version (schema.cpp).
inline constexpr int kSchemaVersion = 5;

// Databases written before versioning have user_version 0; they hold one of
// the schemas of versions 1..5 (the steps are written to be idempotent).
inline constexpr int kUnversioned = 0;

// Brings the database at `path` (open as `db`) to kSchemaVersion: creates it
// when empty, upgrades it when older, refuses it (conflict) when newer.
// Returns the version it had (kUnversioned for a pre-versioning or new one).
[[nodiscard]] Result<int> prepare_schema(sqlite3* db, const std::string& path);

// PRAGMA user_version of an open database.
[[nodiscard]] Result<int> schema_version(sqlite3* db);

}  // namespace drover::master
