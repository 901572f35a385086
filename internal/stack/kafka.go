package stack

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka is an in-process kfake cluster: a test broker that speaks the real
// Kafka wire protocol (franz-go, sarama and kcat all work against it). It is
// not a production broker; point Sluice at a real cluster there.
type Kafka struct {
	// Brokers are the bootstrap addresses, one per broker.
	Brokers []string

	cluster *kfake.Cluster
}

func startKafka(o *Options, dir string) (*Kafka, error) {
	opts := []kfake.Opt{kfake.NumBrokers(3), kfake.DefaultNumPartitions(o.partitions())}
	if len(o.KafkaPorts) > 0 {
		if len(o.KafkaPorts) != 3 {
			return nil, fmt.Errorf("kafka: want 3 ports (one per broker), got %v", o.KafkaPorts)
		}
		for _, p := range o.KafkaPorts {
			if err := portFree(p); err != nil {
				return nil, fmt.Errorf("kafka: %w", err)
			}
		}
		opts = append(opts, kfake.Ports(o.KafkaPorts...))
	}
	if o.Persist {
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka (kfake): %w", err)
	}
	return &Kafka{Brokers: c.ListenAddrs(), cluster: c}, nil
}

// Stop closes the cluster; with persistence on, its state is flushed to disk.
func (k *Kafka) Stop() { k.cluster.Close() }
