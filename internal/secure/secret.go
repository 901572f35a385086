// Package secure turns Sluice's connection-security settings into client
// options: TLS (CA, client certificate), Kafka SASL (PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512), Temporal mTLS and API keys, and the secrets behind them.
//
// The types to know are [Secret] (a password or key read from the
// environment or a file, never printed) and [Kafka].
//
// Secrets never come from flags: flags show in `ps`, shell history and
// Kubernetes pod specs. A secret named NAME is read from $NAME, or from the
// file $NAME_FILE names. File secrets are read again on every new
// connection, so rotating a mounted Kubernetes Secret (or rewriting the
// file) takes effect without a restart wherever the protocol re-authenticates
// per connection (Kafka SASL, Temporal API keys, client certificates).
package secure

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret is a password, token or key. Its String, GoString and LogValue
// are redacted, so a Secret that reaches a log line or an error message
// shows as "[redacted]".
type Secret struct {
	name  string // environment variable, for messages
	value string // from $name
	file  string // from $name_FILE; read on every Value
}

// EnvSecret is the secret in $name or in the file $name_FILE names.
func EnvSecret(name string) Secret {
	return Secret{name: name, value: os.Getenv(name), file: os.Getenv(name + "_FILE")}
}

// FileSecret is the secret in a file, as if $name_FILE named it.
func FileSecret(name, path string) Secret { return Secret{name: name, file: path} }

// StaticSecret wraps a value held in memory (tests, embedded callers).
func StaticSecret(v string) Secret { return Secret{name: "(static)", value: v} }

// IsSet reports whether a value or a file was given.
func (s Secret) IsSet() bool { return s.value != "" || s.file != "" }

// Value returns the secret, reading its file afresh (trailing newlines
// dropped, as `echo pw > file` and Kubernetes Secrets leave them).
func (s Secret) Value() (string, error) {
	if s.file == "" {
		return s.value, nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		// The path is not secret; the content is never in the error.
		return "", fmt.Errorf("$%s_FILE: %w", s.name, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("$%s_FILE %s is empty", s.name, s.file)
	}
	return v, nil
}

// Validate reports a secret given twice or a file that cannot be read.
func (s Secret) Validate() error {
	if s.value != "" && s.file != "" {
		return fmt.Errorf("both $%s and $%s_FILE are set: set one", s.name, s.name)
	}
	_, err := s.Value()
	return err
}

// Source says where the secret comes from, without its value.
func (s Secret) Source() string {
	switch {
	case s.file != "":
		return "file " + s.file
	case s.value != "":
		return "$" + s.name
	}
	return "unset"
}

func (s Secret) String() string               { return "[redacted]" }
func (s Secret) GoString() string             { return "[redacted]" }
func (s Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// ErrSecretFlag is what a flag that would carry a secret reports.
var ErrSecretFlag = errors.New("secrets are not taken from flags")

// RejectFlag is a flag.Func for a secret someone may try to pass as a flag:
// it fails with where the secret goes instead.
func RejectFlag(env string) func(string) error {
	return func(string) error {
		return fmt.Errorf("%w (they show in ps, shell history and pod specs): set $%s or $%s_FILE", ErrSecretFlag, env, env)
	}
}
