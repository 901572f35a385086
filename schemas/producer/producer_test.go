package producer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/schemas"
)

func TestRecordsAreValidatedBeforeSending(t *testing.T) {
	good, err := NewEvent("id-1", "src", "t", "k", map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		key  string
		ev   schemas.Event
		mode Mode
		want string
	}{
		"no key":      {"", good, Structured, "entity key"},
		"no type":     {"k", schemas.Event{ID: "1", Source: "s"}, Structured, "missing"},
		"oversize":    {"k", schemas.Event{ID: "1", Source: "s", Type: "t", Data: []byte(`"` + strings.Repeat("x", MaxEventBytes) + `"`)}, Structured, "limit"},
		"binary junk": {"k", schemas.Event{ID: "1", Source: "s", Type: "t", Data: []byte("{x")}, Binary, "not valid JSON"},
	}
	for name, c := range cases {
		if _, err := KgoRecord("t", c.key, c.ev, c.mode); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s (kgo): %v, want %q", name, err, c.want)
		}
		if _, err := SaramaMessage("t", c.key, c.ev, c.mode); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s (sarama): %v, want %q", name, err, c.want)
		}
	}
	r, err := KgoRecord("t", "k", good, Binary)
	if err != nil || string(r.Value) != `{"n":1}` || len(r.Headers) < 5 {
		t.Fatalf("binary record: %+v %v", r, err)
	}
}

// The sarama config partitions exactly like franz-go's default partitioner
// (both implement the Java client's murmur2 rule independently).
func TestSaramaPartitionsLikeFranzGo(t *testing.T) {
	sp := SaramaConfig().Producer.Partitioner("t")
	kp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int32{1, 3, 12, 64} {
		for i := 0; i < 2000; i++ {
			key := fmt.Sprintf("entity-%d-%s", i, strings.Repeat("x", i%17))
			want := int32(kp.Partition(&kgo.Record{Key: []byte(key)}, int(n)))
			got, err := sp.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			if err != nil || got != want {
				t.Fatalf("key %q over %d partitions: sarama %d, franz-go %d (%v)", key, n, got, want, err)
			}
		}
	}
}
