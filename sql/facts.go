package sql

import "regexp"

// Publication is the name of the publication edges subscribe to, created by
// migrations/001_init.sql.
const Publication = "narthex"

// ValidEdgeName matches an edge name: 1 to 40 characters of [a-z0-9_], as
// the edge table's CHECK constraint says. The name is part of the edge's
// replication slot names.
var ValidEdgeName = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// slotPrefix starts the name of every replication slot an edge owns.
const slotPrefix = "narthex_"

// SlotGenerationLen is the length of the generation suffix of a slot name.
const SlotGenerationLen = 8

// SlotName is the name of edge's replication slot of the given generation,
// SlotGenerationLen characters of [0-9a-z]. The generation has no
// underscore, so the slots of edge "a" are never taken for those of "a_b".
func SlotName(edge, generation string) string { return slotPrefix + edge + "_" + generation }

// SlotPattern is a regular expression (for Go and for PostgreSQL's ~) that
// matches every slot name of edge, whatever its generation.
func SlotPattern(edge string) string {
	return "^" + slotPrefix + edge + "_[0-9a-z]{8}$"
}
