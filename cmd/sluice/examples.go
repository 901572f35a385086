package main

import (
	"flag"
	"fmt"
)

// examples are shown by `sluice <command> -h` for commands whose usage text
// does not already show them; TestHelpShowsRunnableExamples checks every
// example's flags exist.
var examples = map[string][]string{
	"bench": {
		"sluice bench --events 30000",
		"sluice bench --events 100000 --entities 2000 --markdown",
	},
	"bridge": {
		"sluice bridge --brokers kafka:9092 --temporal temporal:7233 --create-topics --admin-addr 0.0.0.0:9464",
		"sluice bridge --routes routes.yaml --max-batch-events 200 --linger 20ms",
		"SLUICE_KAFKA_PASSWORD_FILE=/run/secrets/kafka sluice bridge --kafka-sasl SCRAM-SHA-512 --kafka-user sluice --kafka-tls",
	},
	"worker": {
		"sluice worker --brokers kafka:9092 --temporal temporal:7233 --admin-addr 0.0.0.0:9464",
		"sluice worker --llm-url https://api.openai.com/v1 --llm-model gpt-4o-mini   # key from $SLUICE_LLM_API_KEY_FILE",
		"SLUICE_TEMPORAL_API_KEY_FILE=/run/secrets/temporal sluice worker --temporal ns.acct.tmprl.cloud:7233 --namespace ns.acct",
	},
	"mirror": {
		"sluice mirror --temporal temporal:7233 --clickhouse clickhouse:9000 --brokers kafka:9092",
		"sluice mirror --tenant-pattern '^[a-z]+-([^:]+):' --clickhouse-tls-ca /etc/ssl/ch-ca.pem",
		"sluice mirror backfill --since 2026-11-01 --workflow-type order.Order",
	},
	"dashboards": {
		"sluice dashboards --clickhouse clickhouse:9000 --listen 127.0.0.1:8090",
		"SLUICE_DASHBOARDS_TOKEN_FILE=/run/secrets/dashboards sluice dashboards --listen 0.0.0.0:8090 --dashboards-allowed-hosts dashboards.internal",
		"curl -H \"Authorization: Bearer $(cat /run/secrets/dashboards)\" http://dashboards.internal:8090/api/dashboards   # or log in at /login",
	},
	"dev": {
		"sluice dev",
		"sluice dev --demo=false --headless",
		"sluice dev --state-dir /tmp/sluice-dev --demo-rate 200 --demo-keys 1000",
	},
	"migrate": {
		"sluice migrate --clickhouse clickhouse:9000",
		"sluice migrate --action-price default=50,prod=42 --llm-price gpt-4o-mini=0.15:0.6",
	},
	"probe": {
		"sluice probe http://127.0.0.1:9464/readyz",
		"sluice probe --timeout 1s http://127.0.0.1:9464/healthz",
	},
	"produce": {
		"sluice produce --generate 1000 --keys 50 --rate 100",
		"sluice produce --file events.jsonl --mode binary --topic sluice.orders",
		"sluice produce --file - --topic sluice.tickets < tickets.jsonl",
	},
	"status": {
		"sluice status",
		"sluice status --brokers kafka:9092 --temporal temporal:7233 --clickhouse clickhouse:9000",
		"sluice status --admin-url http://sluice-bridge-admin:9464   # adds each bridge's in-flight signals and paused topics",
	},
}

// about explains a command beyond its one-line summary.
var about = map[string]string{
	"dashboards": dashboardsAbout,
	"dev":        "The dashboards page (--dashboards-addr):\n" + dashboardsAbout,
	"status": `Asks each configured system and prints one line per number, never a number
it did not read. A system that is not configured prints "not configured
(set --flag)"; that is not a failure. A configured system that does not
answer prints "unknown: <error>" on its line, the other lines still print.
Exit status: 0 when every configured system answered; 1 when one did not
(the message names which: scripts and probes notice), and 1 when nothing
at all is configured (there is nothing to ask).`,
}

// withExamples gives a command in the examples table its usage text:
// summary, explanation, examples, flags.
func withExamples(fs *flag.FlagSet) {
	ex := examples[fs.Name()]
	if len(ex) == 0 {
		return
	}
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: sluice %s [flags]\n\n%s\n", fs.Name(), commands[fs.Name()].summary)
		if a := about[fs.Name()]; a != "" {
			fmt.Fprintf(out, "\n%s\n", a)
		}
		fmt.Fprintln(out, "\nExamples:")
		for _, e := range ex {
			fmt.Fprintln(out, "  "+e)
		}
		fmt.Fprintln(out, "\nFlags:")
		fs.PrintDefaults()
	}
}
