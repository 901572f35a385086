package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// `sluice status` never prints a number it did not read: a system not
// configured says so, an empty mirror says it is empty, and only a
// configured system that did not answer makes it fail.
func TestStatusLinesAreHonest(t *testing.T) {
	st := Status{Kafka: true, Lag: map[string]int64{"sluice.events": 4}, DeadLetters: 2}
	out := strings.Join(st.Lines(), "\n")
	for _, want := range []string{
		"consumer lag      sluice.events: 4",
		"dead letters      2 (sluice dlq list)",
		"workflows         not configured (set --temporal)",
		"mirror            not configured (set --clickhouse)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "running") {
		t.Errorf("status shows a workflow count it never read:\n%s", out)
	}
	if err := st.Err(); err != nil {
		t.Errorf("systems not configured are not failures: %v", err)
	}

	st = Status{ClickHouse: true}
	out = strings.Join(st.Lines(), "\n")
	if !strings.Contains(out, "mirror            0 history rows (nothing mirrored yet)") || strings.Contains(out, "ago") ||
		!strings.Contains(out, "consumer lag      not configured (set --brokers)") || !strings.Contains(out, "dead letters      not configured (set --brokers)") {
		t.Errorf("an empty mirror or missing Kafka is not said so:\n%s", out)
	}
}

// On a real (in-process) Kafka: the dead letters are counted; a dead-letter
// topic that does not exist is an error, not zero; a configured ClickHouse
// that does not answer is an error; only then does status fail.
func TestGetStatusReadsOrSaysWhy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "sluice.events", "sluice.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kf.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sluice.dlq", Key: []byte{byte(i)}, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	c := &Config{Brokers: kf.ListenAddrs()}
	c.SetDefaults()
	st, err := GetStatus(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(st.Lines(), "\n")
	if st.DLQErr != nil || st.DeadLetters != 3 || st.Err() != nil || !strings.Contains(out, "workflows         not configured") ||
		!strings.Contains(out, "consumer lag      (the bridge group has committed nothing yet") {
		t.Fatalf("dead letters %d (%v), err %v:\n%s", st.DeadLetters, st.DLQErr, st.Err(), out)
	}

	c.DLQTopic = "sluice.dlq-typo"
	c.ClickHouse.Addr = "127.0.0.1:1"
	st, err = GetStatus(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	out = strings.Join(st.Lines(), "\n")
	if st.DLQErr == nil || !strings.Contains(out, "dead letters      unknown: ") || strings.Contains(out, "dead letters      0") {
		t.Errorf("a missing dead-letter topic shows as:\n%s", out)
	}
	if st.ClickHouseEr == nil || !strings.Contains(out, "mirror            unknown: ") {
		t.Errorf("an unreachable ClickHouse shows as:\n%s", out)
	}
	if err := st.Err(); err == nil || !strings.Contains(err.Error(), "dead letters") || !strings.Contains(err.Error(), "mirror") {
		t.Errorf("status does not fail naming what it could not read: %v", err)
	}

	if _, err := GetStatus(ctx, &Config{}); err == nil || !strings.Contains(err.Error(), "nothing to ask") {
		t.Errorf("nothing configured: %v", err)
	}
}
