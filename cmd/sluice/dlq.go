package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice/consumers"
)

func init() {
	register("dlq", "list, inspect and redrive dead letters (sluice dlq list|inspect|redrive -h)", runDLQ)
}

const dlqUsage = `usage:
  sluice dlq list    [--reason R] [--source-topic T] [--limit N]
  sluice dlq inspect --partition P --offset O
  sluice dlq redrive [--reason R] [--source-topic T] [--partition P --offset O] [--to TOPIC] [--dry-run]

Examples:
  sluice dlq list --brokers 127.0.0.1:9092
  sluice dlq inspect --brokers 127.0.0.1:9092 --partition 3 --offset 17
  sluice dlq redrive --brokers 127.0.0.1:9092 --reason schema-invalid --dry-run

A redrive puts the original key, value and headers back on the source topic;
the event keeps its id, and the entity workflow applies a redriven id once.`

func runDLQ(ctx context.Context, args []string) error {
	verb, fs, err := subcommand("dlq", dlqUsage, "list, inspect or redrive", args)
	if err != nil {
		return err
	}
	var kf kafkaFlags
	kf.register(fs)
	topic := fs.String("topic", "sluice.dlq", "dead-letter topic")
	reason := fs.String("reason", "", "only dead letters with this reason")
	source := fs.String("source-topic", "", "only dead letters from this source topic")
	partition := fs.Int("partition", -1, "dead-letter partition (inspect; redrive of one record)")
	offset := fs.Int64("offset", -1, "dead-letter offset (inspect; redrive of one record)")
	limit := fs.Int("limit", 100, "list at most this many")
	to := fs.String("to", "", "redrive to this topic instead of the source topic")
	dry := fs.Bool("dry-run", false, "redrive: show what would be sent, send nothing")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	kcfg, err := kf.config()
	if err != nil {
		return err
	}
	bs := kcfg.Brokers
	kopts, err := kcfg.Kafka.Opts()
	if err != nil {
		return err
	}
	if (*partition < 0) != (*offset < 0) {
		return errors.New("--partition and --offset go together")
	}
	filter := consumers.DeadLetterFilter{Reason: *reason, SourceTopic: *source}
	if *partition >= 0 {
		filter.At = &consumers.Position{Partition: int32(*partition), Offset: *offset}
	}
	match := filter.Match
	switch verb {
	case "list":
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PARTITION\tOFFSET\tREASON\tSOURCE\tKEY\tERROR")
		n, total := 0, 0
		err := consumers.ReadDeadLetters(ctx, bs, *topic, kopts, func(d consumers.DeadLetter) error {
			total++
			if match(d) && n < *limit {
				n++
				fmt.Fprintf(w, "%d\t%d\t%s\t%s/%d/%d\t%s\t%s\n", d.Partition, d.Offset, d.Reason, d.SourceTopic, d.SourcePartition, d.SourceOffset, d.Key, truncate(d.Error, 80))
			}
			return nil
		})
		w.Flush()
		fmt.Printf("%d shown, %d dead letters in %s\n", n, total, *topic)
		return err
	case "inspect":
		if *partition < 0 {
			return errors.New("inspect needs --partition and --offset (see sluice dlq list)")
		}
		found := false
		err := consumers.ReadDeadLetters(ctx, bs, *topic, kopts, func(d consumers.DeadLetter) error {
			if !match(d) {
				return nil
			}
			found = true
			fmt.Printf("dead letter   %s/%d/%d\nreason        %s\nerror         %s\nsource        %s/%d/%d (produced %s)\nkey           %q\n",
				*topic, d.Partition, d.Offset, d.Reason, d.Error, d.SourceTopic, d.SourcePartition, d.SourceOffset, d.SourceTime, d.Key)
			for _, h := range d.Headers {
				fmt.Printf("header        %s: %q\n", h.Key, h.Value)
			}
			fmt.Printf("value (%d bytes)\n%s\n", len(d.Value), d.Value)
			return nil
		})
		if err == nil && !found {
			err = fmt.Errorf("no dead letter at %s partition %d offset %d", *topic, *partition, *offset)
		}
		return err
	case "redrive":
		n, err := consumers.Redrive(ctx, bs, kopts, *topic, filter, *to, *dry, func(r consumers.Redriven) {
			fmt.Printf("%s %d/%d (%s) → %s key %q\n", map[bool]string{true: "would redrive", false: "redrive"}[*dry], r.Partition, r.Offset, r.Reason, r.To, r.Key)
		})
		if errors.Is(err, consumers.ErrNoSourceTopic) {
			err = fmt.Errorf("%w (pass --to)", err)
		}
		if err != nil || *dry || n == 0 {
			fmt.Printf("%d dead letters matched\n", n)
			return err
		}
		fmt.Printf("redrove %d dead letters\n", n)
		return nil
	}
	fmt.Fprintln(os.Stderr, dlqUsage)
	return fmt.Errorf("unknown dlq command %q", verb)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// subcommand takes the verb of `sluice <cmd> <verb> [flags]` and returns a
// flag set for it whose -h prints the command's usage.
func subcommand(cmd, usage, verbs string, args []string) (string, *flag.FlagSet, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(os.Stderr, usage)
		return "", nil, fmt.Errorf("name a %s command: %s", cmd, verbs)
	}
	fs := flag.NewFlagSet(cmd+" "+args[0], flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), usage); fs.PrintDefaults() }
	return args[0], fs, nil
}
