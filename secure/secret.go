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

// MinTokenBytes is the shortest bearer token accepted for an endpoint
// Sluice serves (admin actions, dashboards): 32 bytes, so guessing it over
// the network is hopeless.
const MinTokenBytes = 32

// MakeToken is the command the refusals suggest.
const MakeToken = "head -c 32 /dev/urandom | base64"

// ValidateToken is Validate for a token that guards an endpoint Sluice
// serves: it must also be at least MinTokenBytes long and not a placeholder
// copied from an example (deploy/k8s ships "change-me" ones, so that an
// unedited manifest fails at start instead of guarding with a known token).
// The value is never in the error.
func (s Secret) ValidateToken() error {
	if err := s.Validate(); err != nil {
		return err
	}
	v, _ := s.Value()
	switch {
	case IsPlaceholder(v):
		return fmt.Errorf("%s is a placeholder, not a token: make one with `%s` and put it there", s.where(), MakeToken)
	case len(v) < MinTokenBytes:
		return fmt.Errorf("%s is %d bytes, shorter than %d: make one with `%s` and put it there", s.where(), len(v), MinTokenBytes, MakeToken)
	case distinctBytes(v) < 8:
		return fmt.Errorf("%s repeats too few characters to be random: make one with `%s` and put it there", s.where(), MakeToken)
	}
	return nil
}

// ValidatePassword is Validate for a password Sluice sends (ClickHouse):
// it refuses a placeholder from an example; the length is the server's
// business.
func (s Secret) ValidatePassword() error {
	if err := s.Validate(); err != nil {
		return err
	}
	if v, _ := s.Value(); IsPlaceholder(v) {
		return fmt.Errorf("%s is a placeholder (as deploy/k8s/config.yaml ships): set the real password", s.where())
	}
	return nil
}

// placeholderParts, anywhere in a value, and placeholderWords, as the
// whole value (case and surrounding punctuation ignored), mark a value
// copied from an example rather than chosen.
var (
	placeholderParts = []string{"change-me", "changeme", "change_me", "replace-me", "replaceme", "replace_me",
		"placeholder", "example", "your-token", "your_token", "your-password", "your_password", "[redacted]"}
	placeholderWords = []string{"secret", "password", "passwd", "token", "admin", "test", "dev", "default",
		"sluice", "12345678", "xxx", "todo", "none", "null", "empty"}
)

// IsPlaceholder reports whether v looks like a value from an example or
// a template, not a real secret.
func IsPlaceholder(v string) bool {
	l := strings.ToLower(strings.TrimSpace(v))
	for _, p := range placeholderParts {
		if strings.Contains(l, p) {
			return true
		}
	}
	w := strings.Trim(l, "<>{}[]$\"'`_- ")
	for _, p := range placeholderWords {
		if w == p {
			return true
		}
	}
	return false
}

func distinctBytes(v string) int {
	var seen [256]bool
	n := 0
	for i := 0; i < len(v); i++ {
		if !seen[v[i]] {
			seen[v[i]], n = true, n+1
		}
	}
	return n
}

// where names the secret's source for an error message.
func (s Secret) where() string {
	switch {
	case s.name == "(static)":
		return "the value given"
	case s.file != "":
		return "$" + s.name + "_FILE (" + s.file + ")"
	}
	return "$" + s.name
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
