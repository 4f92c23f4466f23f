// Package deploy holds what an operator installs beside the narthex
// binary: systemd units (systemd/), example settings for each unit
// (config/), the PostgreSQL settings of the origin and of regional relays
// (postgresql/), the relay's schema and subscription (relay/), the Grafana
// dashboard (grafana/) and the deployment guide (README.md).
//
// It has no code of its own: its tests hold the files to the binary they
// deploy (every unit passes systemd-analyze verify, every example file
// names exactly the variables its command reads, the PostgreSQL settings
// load, and an edge replicates through a relay set up as the guide says).
// It must never be imported.
package deploy
