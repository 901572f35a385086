package secure

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms Sluice speaks to Kafka.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Kafka is how every Sluice Kafka client authenticates. The zero value is
// plaintext without SASL (the embedded kfake, a local broker).
type Kafka struct {
	TLS TLS
	// SASL is the mechanism: "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	SASL     string
	User     string
	Password Secret
}

// Validate reports every problem at once, each with what to set.
func (k Kafka) Validate() error {
	var errs []error
	if err := k.TLS.Validate("kafka"); err != nil {
		errs = append(errs, err)
	}
	switch strings.ToUpper(k.SASL) {
	case "":
		if k.User != "" || k.Password.IsSet() {
			errs = append(errs, errors.New("kafka: a SASL user or password is set but no mechanism: set --kafka-sasl PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if k.User == "" {
			errs = append(errs, fmt.Errorf("kafka: SASL %s needs a user: set --kafka-user", k.SASL))
		}
		if !k.Password.IsSet() {
			errs = append(errs, fmt.Errorf("kafka: SASL %s needs a password: set $SLUICE_KAFKA_PASSWORD or $SLUICE_KAFKA_PASSWORD_FILE", k.SASL))
		} else if err := k.Password.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("kafka: %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("kafka: --kafka-sasl %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASL))
	}
	return errors.Join(errs...)
}

// Opts are the client options for these settings; call Validate first.
func (k Kafka) Opts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tc, err := k.TLS.Config("kafka")
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := k.mechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// Describe says how clients authenticate, for a startup log line.
func (k Kafka) Describe() string {
	var parts []string
	if k.TLS.On() {
		parts = append(parts, "TLS")
		if k.TLS.CertFile != "" {
			parts[len(parts)-1] = "mutual TLS"
		}
	}
	if k.SASL != "" {
		parts = append(parts, fmt.Sprintf("SASL %s as %q (password from %s)", strings.ToUpper(k.SASL), k.User, k.Password.Source()))
	}
	if len(parts) == 0 {
		return "plaintext, no authentication"
	}
	return strings.Join(parts, ", ")
}

// mechanism reads the password on every connection, so a rotated password
// file is used by the next connection the client opens.
func (k Kafka) mechanism() sasl.Mechanism {
	switch strings.ToUpper(k.SASL) {
	case SASLPlain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			pw, err := k.Password.Value()
			return plain.Auth{User: k.User, Pass: pw}, err
		})
	case SASLScramSHA256, SASLScramSHA512:
		auth := func(context.Context) (scram.Auth, error) {
			pw, err := k.Password.Value()
			return scram.Auth{User: k.User, Pass: pw}, err
		}
		if strings.ToUpper(k.SASL) == SASLScramSHA256 {
			return scram.Sha256(auth)
		}
		return scram.Sha512(auth)
	}
	return nil
}
