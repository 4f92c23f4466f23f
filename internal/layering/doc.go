// Package layering holds no code: its tests turn the import rules that
// package docs state ("never imports …") into checks over the module's real
// dependency graph, and fail a package that has no doc comment. It must
// never be imported.
package layering
