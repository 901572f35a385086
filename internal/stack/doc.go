// Package stack starts the embedded Sluice stack that `sluice dev` and the
// integration tests run on: the real Temporal dev server and Debian's
// clickhouse-server as child processes, and franz-go's kfake (a Kafka test
// broker speaking the real wire protocol) in-process.
//
// The type to know is [Stack]: [Start] brings every component up and waits
// until each answers; [Stack.Close] stops them all. Child processes run in
// their own process group with a parent-death signal, so they die with the
// parent even when it panics or is killed.
package stack
