package secure_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/securetest"
	"github.com/sluicehq/sluice/secure"
)

// roundTrip produces one record with k's settings and reads it back.
func roundTrip(t *testing.T, brokers []string, k secure.Kafka) error {
	t.Helper()
	opts, err := k.Opts()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	topic := fmt.Sprintf("t-%d", time.Now().UnixNano())
	cl, err := kgo.NewClient(append(opts, kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.AllowAutoTopicCreation(), kgo.RequestRetries(1), kgo.RetryTimeout(3*time.Second))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Ping tries each broker once and returns its error (a refused SASL
	// handshake, a failed TLS verification), where a produce would retry.
	if err := cl.Ping(ctx); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("hello")}).FirstErr(); err != nil {
		return err
	}
	f := cl.PollFetches(ctx)
	if err := f.Err0(); err != nil {
		return err
	}
	if f.NumRecords() != 1 || string(f.Records()[0].Value) != "hello" {
		return fmt.Errorf("read back %d records", f.NumRecords())
	}
	return nil
}

func secretFile(t *testing.T, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKafkaAuthModes runs every SASL mechanism, plaintext and over mutual
// TLS, against kfake serving the same, and checks a wrong password is
// refused without the password showing in the error.
func TestKafkaAuthModes(t *testing.T) {
	ca := securetest.NewCA(t, "kafka")
	server, client := ca.Issue(t, "broker"), ca.Issue(t, "sluice")
	for _, mech := range []string{secure.SASLPlain, secure.SASLScramSHA256, secure.SASLScramSHA512} {
		for _, withTLS := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/tls=%v", mech, withTLS), func(t *testing.T) {
				opts := []kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.EnableSASL(), kfake.Superuser(mech, "sluice", "s3cret-pw")}
				k := secure.Kafka{SASL: mech, User: "sluice", Password: secure.StaticSecret("s3cret-pw")}
				if withTLS {
					opts = append(opts, kfake.TLS(securetest.ServerConfig(t, server, ca.Pool())))
					k.TLS = secure.TLS{CAFile: ca.CAFile, CertFile: client.CertFile, KeyFile: client.KeyFile}
				}
				c, err := kfake.NewCluster(opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if err := k.Validate(); err != nil {
					t.Fatal(err)
				}
				if err := roundTrip(t, c.ListenAddrs(), k); err != nil {
					t.Fatalf("authenticated round trip: %v", err)
				}
				bad := k
				bad.Password = secure.StaticSecret("wrong-pw-42")
				err = roundTrip(t, c.ListenAddrs(), bad)
				if err == nil {
					t.Fatal("a wrong password was accepted")
				}
				t.Logf("wrong password: %v", err)
				if strings.Contains(err.Error(), "wrong-pw-42") {
					t.Fatalf("the error shows the password: %v", err)
				}
				anon := secure.Kafka{TLS: k.TLS}
				if err := roundTrip(t, c.ListenAddrs(), anon); err == nil {
					t.Fatal("a client without SASL was served by a SASL cluster")
				}
			})
		}
	}
}

// TestKafkaTLSRefusesStrangers: the client verifies the broker, and a
// broker requiring client certificates turns away a client without one.
func TestKafkaTLSRefusesStrangers(t *testing.T) {
	ca, other := securetest.NewCA(t, "kafka"), securetest.NewCA(t, "other")
	server, client := ca.Issue(t, "broker"), ca.Issue(t, "sluice")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.TLS(securetest.ServerConfig(t, server, ca.Pool())))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := secure.TLS{CAFile: ca.CAFile, CertFile: client.CertFile, KeyFile: client.KeyFile}
	if err := roundTrip(t, c.ListenAddrs(), secure.Kafka{TLS: good}); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	for name, tc := range map[string]secure.TLS{
		"unknown CA":     {CAFile: other.CAFile, CertFile: client.CertFile, KeyFile: client.KeyFile},
		"no client cert": {CAFile: ca.CAFile},
		"plaintext":      {},
	} {
		if err := roundTrip(t, c.ListenAddrs(), secure.Kafka{TLS: tc}); err == nil {
			t.Errorf("%s: connected", name)
		}
	}
}

// TestKafkaPasswordRotation: with the password in a file, rotating it on
// the broker and rewriting the file is enough; the same settings (as a
// running process holds them) authenticate new connections with the new
// password, and the old password no longer works.
func TestKafkaPasswordRotation(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.EnableSASL(),
		kfake.Superuser(secure.SASLScramSHA512, "admin", "admin-pw"), kfake.Superuser(secure.SASLScramSHA512, "sluice", "old-pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	file := secretFile(t, "old-pw")
	t.Setenv("TEST_KAFKA_PASSWORD_FILE", file)
	t.Setenv("TEST_KAFKA_PASSWORD", "")
	k := secure.Kafka{SASL: secure.SASLScramSHA512, User: "sluice", Password: secure.EnvSecret("TEST_KAFKA_PASSWORD")}
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, c.ListenAddrs(), k); err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	aopts, _ := secure.Kafka{SASL: secure.SASLScramSHA512, User: "admin", Password: secure.StaticSecret("admin-pw")}.Opts()
	admin, err := kgo.NewClient(append(aopts, kgo.SeedBrokers(c.ListenAddrs()...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := kadm.NewClient(admin).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "sluice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "new-pw"}})
	if err == nil {
		err = res["sluice"].Err
	}
	if err != nil {
		t.Fatalf("rotate on the broker: %v", err)
	}
	if err := roundTrip(t, c.ListenAddrs(), k); err == nil {
		t.Fatal("the old password still authenticates after rotation")
	}
	if err := os.WriteFile(file, []byte("new-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, c.ListenAddrs(), k); err != nil {
		t.Fatalf("after rewriting the file: %v", err)
	}
}
