// Package geodns turns a list of edges into the configuration of a GeoDNS
// server that answers each client with the addresses of its nearest
// healthy edge: for gdnsd 3 (Gdnsd), its geoip plugin in City auto mode
// placing clients (by EDNS Client Subnet when their resolver sends it) and
// edges (by their coordinates), http_status health checks of each edge's
// /readyz, and a last-resort answer when every edge a client may fail
// over to is down.
//
// It renders only: it reads no flags, no database and no files, and must
// never import a role or the registry; the command line gives it the
// edges and writes what it renders.
package geodns
