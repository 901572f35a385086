package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/demo"
	"github.com/sluicehq/sluice/schemas"
	"github.com/sluicehq/sluice/schemas/producer"
)

func init() {
	register("produce", "send events from a JSON-lines file of CloudEvents, or generated demo events", runProduce)
}

func runProduce(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	var kf kafkaFlags
	kf.register(fs)
	topic := fs.String("topic", "sluice.events", "topic to produce to")
	file := fs.String("file", "", "JSON-lines file, one CloudEvent (JSON) per line; the key is the event's subject (- for stdin); validated whole before anything is sent")
	generate := fs.Int("generate", 0, "generate this many demo ledger events instead of reading a file")
	keys := fs.Int("keys", 100, "accounts for --generate")
	rate := fs.Float64("rate", 0, "events per second for --generate (0: as fast as possible)")
	modeName := fs.String("mode", "structured", "CloudEvents Kafka binding for --file: structured (JSON value) or binary (ce_* headers)")
	if err := parse(fs, args); err != nil {
		return err
	}
	kcfg, err := kf.config()
	errs := []error{err}
	if (*file == "") == (*generate <= 0) {
		errs = append(errs, errors.New("give exactly one of --file or --generate N"))
	}
	if *keys <= 0 {
		errs = append(errs, errors.New("--keys must be positive"))
	}
	mode := producer.Structured
	switch *modeName {
	case "structured":
	case "binary":
		mode = producer.Binary
	default:
		errs = append(errs, fmt.Errorf("--mode %q: want structured or binary", *modeName))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cl, err := kcfg.NewKafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	if *generate > 0 {
		gen := demo.NewGenerator(*keys, uint64(time.Now().UnixNano()), "gen-"+strconv.FormatInt(time.Now().UnixNano(), 36))
		n, err := demo.Run(ctx, cl, *topic, gen, *rate, *generate)
		fmt.Printf("produced %d events to %s\n", n, *topic)
		return err
	}
	recs, err := readEvents(*file, *topic, mode)
	if err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return err
	}
	fmt.Printf("produced %d events to %s\n", len(recs), *topic)
	return nil
}

// readEvents validates the whole file before anything is sent, so a bad
// line never leaves half a file produced.
func readEvents(path, topic string, mode producer.Mode) ([]*kgo.Record, error) {
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		defer f.Close()
	}
	var recs []*kgo.Record
	var errs []error
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		ev, err := schemas.DecodeEvent(b)
		if err == nil && ev.Subject == "" {
			err = errors.New("no subject: the subject is the entity key")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, line, err))
			continue
		}
		r, err := producer.KgoRecord(topic, ev.Subject, ev, mode)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, line, err))
			continue
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return recs, errors.Join(errs...)
}
