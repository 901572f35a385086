package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/consumers"
)

func init() {
	register("routes", "lint a routes file and show how sample records would decode and route (sluice routes check -h)", runRoutes)
}

const routesUsage = `usage:
  sluice routes check --routes routes.yaml [--sample records.jsonl | --topic T --last N --brokers B]

Checks a routes file (every problem at once) and, given sample records,
prints for each how it decodes, the workflow type and id it would signal,
or the dead-letter reason it would get. It runs the bridge's own decode
path, so what it says is what the bridge does.

A sample file has one record per line:
  {"topic":"payments","key":"a1","value":{"account":"a1","amount":5},"headers":{"event-type":"paid"}}
"value" is the record value: JSON text as written, or a JSON string taken as
raw bytes; "value_base64" and "key_base64" carry binary. "partition" and
"offset" default to 0 and the line number.

Exit status: 0 when the file is valid and every sample would be signalled
(or skipped); 1 when the file has problems or a sample would be
dead-lettered.

Examples:
  sluice routes check --routes routes.yaml
  sluice routes check --routes routes.yaml --sample samples.jsonl
  sluice routes check --routes routes.yaml --topic payments --last 20 --brokers kafka:9092`

func runRoutes(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(os.Stderr, routesUsage)
		return errors.New("name a routes command: check")
	}
	fs := flag.NewFlagSet("routes check", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), routesUsage); fs.PrintDefaults() }
	var kf kafkaFlags
	kf.register(fs)
	var rf registryFlags
	rf.register(fs)
	file := fs.String("routes", env("SLUICE_ROUTES", ""), "the routes file to check ($SLUICE_ROUTES)")
	sample := fs.String("sample", "", "a JSON-lines file of sample records (- for standard input)")
	topic := fs.String("topic", "", "sample the last records of this topic instead (needs --brokers)")
	last := fs.Int("last", 10, "with --topic: records per partition")
	maxEvent := fs.Int("max-event-bytes", 1<<20, "the bridge's event size limit")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *file == "" {
		return errors.New("set --routes routes.yaml")
	}
	if *sample != "" && *topic != "" {
		return errors.New("give --sample or --topic, not both")
	}
	rcfg, err := rf.config()
	if err != nil {
		return err
	}
	var opts []consumers.RoutesOption
	if rcfg.Enabled() {
		reg, err := consumers.NewRegistry(rcfg)
		if err != nil {
			return err
		}
		opts = append(opts, consumers.WithRegistry(reg))
	}
	rs, err := consumers.LoadRoutes(*file, opts...)
	if err != nil {
		return err
	}
	fmt.Printf("%s: valid (%d route(s))\n", *file, rs.Len())
	var recs []*kgo.Record
	switch {
	case *sample != "":
		if recs, err = readSamples(*sample); err != nil {
			return err
		}
	case *topic != "":
		kcfg, err := kf.config()
		if err != nil {
			return err
		}
		if recs, err = lastRecords(ctx, kcfg.NewKafkaClient, *topic, *last); err != nil {
			return err
		}
	default:
		return nil
	}
	bad := checkSamples(os.Stdout, rs, recs, *maxEvent)
	if bad > 0 {
		return fmt.Errorf("%d of %d record(s) would not be signalled (dead-lettered, or waiting for the registry)", bad, len(recs))
	}
	return nil
}

// checkSamples prints each record's fate and returns how many would be
// dead-lettered.
func checkSamples(w io.Writer, rs *consumers.Routes, recs []*kgo.Record, maxEvent int) int {
	bad := 0
	for _, r := range recs {
		at := fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)
		rec, reason, err := rs.Decode(r, maxEvent)
		switch {
		case errors.Is(err, consumers.ErrUnavailable):
			bad++
			fmt.Fprintf(w, "%s  REGISTRY UNAVAILABLE (the bridge would wait and retry): %v\n", at, err)
		case err != nil:
			bad++
			fmt.Fprintf(w, "%s  DEAD LETTER %s: %v\n", at, reason, err)
		case rec.Skip:
			fmt.Fprintf(w, "%s  skipped (tombstone)\n", at)
		default:
			fmt.Fprintf(w, "%s  -> %s %s  event %s id %s, %d bytes of data\n", at, rec.Target.WorkflowType, rec.Target.WorkflowID, rec.Event.Type, rec.Event.ID, len(rec.Event.Data))
		}
	}
	return bad
}

type sampleLine struct {
	Topic       string            `json:"topic"`
	Partition   int32             `json:"partition"`
	Offset      *int64            `json:"offset"`
	Key         *string           `json:"key"`
	KeyBase64   string            `json:"key_base64"`
	Value       json.RawMessage   `json:"value"`
	ValueBase64 string            `json:"value_base64"`
	Headers     map[string]string `json:"headers"`
	Timestamp   time.Time         `json:"timestamp"`
}

func readSamples(path string) ([]*kgo.Record, error) {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	var recs []*kgo.Record
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var s sampleLine
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if s.Topic == "" {
			return nil, fmt.Errorf("%s:%d: no topic", path, n)
		}
		r := &kgo.Record{Topic: s.Topic, Partition: s.Partition, Offset: int64(n), Timestamp: s.Timestamp}
		if s.Offset != nil {
			r.Offset = *s.Offset
		}
		if r.Timestamp.IsZero() {
			r.Timestamp = time.Now()
		}
		var err error
		if s.Key != nil {
			r.Key = []byte(*s.Key)
		} else if s.KeyBase64 != "" {
			if r.Key, err = base64.StdEncoding.DecodeString(s.KeyBase64); err != nil {
				return nil, fmt.Errorf("%s:%d: key_base64: %v", path, n, err)
			}
		}
		switch {
		case s.ValueBase64 != "":
			if r.Value, err = base64.StdEncoding.DecodeString(s.ValueBase64); err != nil {
				return nil, fmt.Errorf("%s:%d: value_base64: %v", path, n, err)
			}
		case len(s.Value) > 0 && s.Value[0] == '"':
			var str string
			_ = json.Unmarshal(s.Value, &str)
			r.Value = []byte(str)
		case len(s.Value) > 0 && string(s.Value) != "null":
			r.Value = []byte(s.Value)
		}
		for k, v := range s.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// lastRecords reads up to n of the newest records of each partition.
func lastRecords(ctx context.Context, dial func(...kgo.Opt) (*kgo.Client, error), topic string, n int) ([]*kgo.Record, error) {
	adm, err := dial()
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	starts := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			starts[o.Partition] = kgo.NewOffset().At(max(0, o.Offset-int64(n)))
			remaining[o.Partition] = o.Offset
		}
	})
	if len(starts) == 0 {
		return nil, nil
	}
	cl, err := dial(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: starts}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(remaining) > 0 {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("reading %s: %w", topic, ctx.Err())
		}
		var ferr error
		f.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return out, ferr
		}
		f.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Partition]; ok {
				out = append(out, r)
				if r.Offset >= end-1 {
					delete(remaining, r.Partition)
				}
			}
		})
	}
	return out, nil
}
