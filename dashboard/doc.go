// Package dashboard shows what the edges counted and how the cache is
// doing: statistics read from the origin database's fetch-count roll-ups,
// edges and stores (Overview, Edges, Countries, Top, NeverFetched,
// Stores), served as JSON under /api/stats/ and as one HTML page at
// /dashboard with its charts drawn on the server as SVG, so that it works
// with no network beyond the origin.
//
// It only reads: it must never write to the database, never load anything
// from another host into a page, and never import a role package (origin,
// edge).
package dashboard
