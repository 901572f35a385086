package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/schemas/producer"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
)

// Events from franz-go and from sarama (every compression codec), in
// structured and in binary mode, are all accepted and applied; and a key
// lands on the same partition whichever helper produced it.
func TestProducersAndModes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.runAll(t, ctx)

	const perKey = 3
	want := map[string]int{}
	event := func(key string, seq int) ledgerEvent {
		ev, err := producer.NewEvent(fmt.Sprintf("%s-%d", key, seq), "test", ledger.Credited, key, ledger.Movement{Seq: int64(seq), Amount: 5})
		if err != nil {
			t.Fatal(err)
		}
		want[key]++
		return ledgerEvent{key, ev}
	}
	modes := map[string]producer.Mode{"structured": producer.Structured, "binary": producer.Binary}

	// franz-go, every codec
	kcodecs := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	for cname, codec := range kcodecs {
		kc, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...), kgo.ProducerBatchCompression(codec))
		if err != nil {
			t.Fatal(err)
		}
		for mname, mode := range modes {
			var recs []*kgo.Record
			for seq := 1; seq <= perKey; seq++ {
				le := event("kgo-"+cname+"-"+mname, seq)
				r, err := producer.KgoRecord(e.cfg.InputTopic, le.key, le.ev, mode)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			if err := kc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("franz-go %s %s: %v", cname, mname, err)
			}
		}
		kc.Close()
	}

	// sarama, every codec
	codecs := map[string]sarama.CompressionCodec{"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP,
		"snappy": sarama.CompressionSnappy, "lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD}
	for cname, codec := range codecs {
		cfg := producer.SaramaConfig()
		cfg.Producer.Compression = codec
		sp, err := sarama.NewSyncProducer(e.cfg.Brokers, cfg)
		if err != nil {
			t.Fatalf("sarama %s: %v", cname, err)
		}
		for mname, mode := range modes {
			var msgs []*sarama.ProducerMessage
			for seq := 1; seq <= perKey; seq++ {
				le := event("sarama-"+cname+"-"+mname, seq)
				m, err := producer.SaramaMessage(e.cfg.InputTopic, le.key, le.ev, mode)
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, m)
			}
			if err := sp.SendMessages(msgs); err != nil {
				t.Fatalf("sarama %s %s: %v", cname, mname, err)
			}
		}
		sp.Close()
	}

	waitFor(t, ctx, 3*time.Minute, "every producer's events to be applied", func() (bool, string) {
		done := 0
		for key, n := range want {
			var s workflows.Status
			if err := query(ctx, e.tc, e.cfg.WorkflowIDPrefix+key, workflows.QueryStatus, &s); err == nil && s.Applied == int64(n) {
				done++
			}
		}
		return done == len(want), fmt.Sprintf("%d/%d keys applied", done, len(want))
	})
	var acct ledger.Account
	if err := query(ctx, e.tc, e.cfg.WorkflowIDPrefix+"sarama-zstd-binary", workflows.QueryState, &acct); err != nil || acct.Balance != 5*perKey || acct.SeqGaps != 0 {
		t.Fatalf("binary-mode sarama/zstd account: %+v %v", acct, err)
	}

	// Same key, same partition, from either helper.
	const topic = "partition-check"
	kc2, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer kc2.Close()
	sp, err := sarama.NewSyncProducer(e.cfg.Brokers, producer.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if err := createTopic(ctx, e.cfg.Brokers, topic, 12); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		key := fmt.Sprintf("entity-%d", i)
		le := event(key, 1)
		r, _ := producer.KgoRecord(topic, key, le.ev, producer.Structured)
		if err := kc2.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		m, _ := producer.SaramaMessage(topic, key, le.ev, producer.Structured)
		p, _, err := sp.SendMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if p != r.Partition {
			t.Fatalf("key %s: franz-go partition %d, sarama partition %d", key, r.Partition, p)
		}
	}
}

type ledgerEvent struct {
	key string
	ev  schemas.Event
}

func createTopic(ctx context.Context, brokers []string, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, partitions, -1, nil, topic)
	return err
}
