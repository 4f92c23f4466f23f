package main

import "time"

// progressLogInterval is how often a long command (import, stores
// maintain) logs its progress when standard error is not a terminal, where
// it draws a progress bar instead.
const progressLogInterval = 10 * time.Second
