package sql

// MigrateTo migrates to one version, for tests of a later migration's
// upgrade of existing rows.
var MigrateTo = migrateTo
