package secure_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/secure"
)

func TestSecretSources(t *testing.T) {
	t.Setenv("T_PW", "from-env")
	t.Setenv("T_PW_FILE", "")
	if v, err := secure.EnvSecret("T_PW").Value(); err != nil || v != "from-env" {
		t.Fatalf("env: %q %v", v, err)
	}
	f := secretFile(t, "from-file")
	t.Setenv("T_PW", "")
	t.Setenv("T_PW_FILE", f)
	s := secure.EnvSecret("T_PW")
	if v, err := s.Value(); err != nil || v != "from-file" {
		t.Fatalf("file: %q %v", v, err)
	}
	if err := os.WriteFile(f, []byte("rotated\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Value(); v != "rotated" {
		t.Fatalf("a rewritten file is read again: got %q", v)
	}
	t.Setenv("T_PW", "also-env")
	if err := secure.EnvSecret("T_PW").Validate(); err == nil || !strings.Contains(err.Error(), "set one") {
		t.Fatalf("both set: %v", err)
	}
	t.Setenv("T_PW", "")
	t.Setenv("T_PW_FILE", f+".missing")
	if err := secure.EnvSecret("T_PW").Validate(); err == nil || !strings.Contains(err.Error(), "T_PW_FILE") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestSecretNeverPrinted: every way a value reaches a log or an error.
func TestSecretNeverPrinted(t *testing.T) {
	s := secure.StaticSecret("hunter2-xyz")
	k := secure.Kafka{SASL: "PLAIN", User: "u", Password: s}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "kafka", k, "pw", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "kafka", k, "pw", s)
	js, _ := json.Marshal(k)
	out := fmt.Sprintf("%v %+v %#v %s", k, k, k, s) + buf.String() + string(js) + k.Describe()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("the secret was printed:\n%s", out)
	}
	if v, _ := s.Value(); v != "hunter2-xyz" {
		t.Fatal("the value itself is still readable by the client")
	}
}

func TestKafkaValidate(t *testing.T) {
	for _, tc := range []struct {
		k    secure.Kafka
		want string
	}{
		{secure.Kafka{SASL: "GSSAPI", User: "u", Password: secure.StaticSecret("p")}, "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"},
		{secure.Kafka{SASL: "PLAIN", Password: secure.StaticSecret("p")}, "--kafka-user"},
		{secure.Kafka{SASL: "SCRAM-SHA-512", User: "u"}, "$SLUICE_KAFKA_PASSWORD"},
		{secure.Kafka{User: "u"}, "no mechanism"},
		{secure.Kafka{TLS: secure.TLS{CAFile: "/nonexistent/ca.pem"}}, "kafka TLS CA"},
		{secure.Kafka{TLS: secure.TLS{CertFile: "/x.pem"}}, "both the certificate and the key"},
	} {
		err := tc.k.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want it to say %q", tc.k, err, tc.want)
		}
	}
	if err := (secure.Kafka{}).Validate(); err != nil {
		t.Errorf("plaintext: %v", err)
	}
}

func TestTLSBadPEM(t *testing.T) {
	f := secretFile(t, "not a certificate")
	if err := (secure.TLS{CAFile: f}).Validate("clickhouse"); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("got %v", err)
	}
}

// A token guarding an endpoint must be long and chosen: placeholders (as
// the manifests ship), short and repetitive values are refused with how to
// make one, and the value is never in the error.
func TestValidateToken(t *testing.T) {
	good := "q3Jk9vXbPz1LmN0aTy7RcW2sEf5GhU8i+Dd4Oo6Ke/M=" // head -c 32 /dev/urandom | base64
	if err := secure.StaticSecret(good).ValidateToken(); err != nil {
		t.Fatalf("a random token is refused: %v", err)
	}
	for v, want := range map[string]string{
		"change-me-to-a-long-random-string":         "placeholder",
		"CHANGEME-0123456789abcdefghijklmnopqrstuv": "placeholder",
		"<placeholder-token-goes-here-for-sluice!>": "placeholder",
		"secret":                 "placeholder",
		"pause-t0ken":            "shorter than 32",
		strings.Repeat("ab", 20): "too few characters",
	} {
		err := secure.StaticSecret(v).ValidateToken()
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), secure.MakeToken) || strings.Contains(err.Error(), v) {
			t.Errorf("%q: %v, want an error saying %q and %q without the value", v, err, want, secure.MakeToken)
		}
	}
	// From a file, the error names the file (never its content).
	f := secretFile(t, "change-me")
	t.Setenv("T_TOK", "")
	t.Setenv("T_TOK_FILE", f)
	if err := secure.EnvSecret("T_TOK").ValidateToken(); err == nil || !strings.Contains(err.Error(), f) {
		t.Fatalf("file placeholder: %v", err)
	}
	if err := secure.StaticSecret("change-me").ValidatePassword(); err == nil {
		t.Fatal("a placeholder password is accepted")
	}
	if err := secure.StaticSecret("ch-pw-S3cret").ValidatePassword(); err != nil {
		t.Fatalf("a real password is refused: %v", err)
	}
}
