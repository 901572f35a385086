package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/secure"
)

// The Secret deploy/k8s/config.yaml ships holds placeholders: a process
// started with them unedited refuses to, saying how to make a token (the
// admin token) or that the password is a placeholder (ClickHouse). A short
// admin token is refused by the processes that serve it (bridge, worker,
// mirror), not by the clients that send it (status, pause).
func TestPlaceholderSecretsRefusedAtStart(t *testing.T) {
	b, err := os.ReadFile("../../deploy/k8s/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shipped := map[string]string{}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var o struct {
			Kind       string            `yaml:"kind"`
			StringData map[string]string `yaml:"stringData"`
		}
		if err := yaml.Unmarshal([]byte(doc), &o); err == nil && o.Kind == "Secret" {
			shipped = o.StringData
		}
	}
	if shipped["admin-token"] == "" || shipped["clickhouse-password"] == "" {
		t.Fatalf("deploy/k8s/config.yaml ships no admin-token or clickhouse-password: %v", shipped)
	}
	dir := t.TempDir()
	file := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const strong = "q3Jk9vXbPz1LmN0aTy7RcW2sEf5GhU8i+Dd4Oo6Ke/M="
	const realPW = "ch-pw-S3cret-9f2"
	for _, v := range []string{"SLUICE_ADMIN_TOKEN", "SLUICE_CLICKHOUSE_PASSWORD", "SLUICE_LLM_API_KEY", "SLUICE_KAFKA_PASSWORD", "SLUICE_TEMPORAL_API_KEY", "SLUICE_DASHBOARDS_TOKEN"} {
		t.Setenv(v, "")
		t.Setenv(v+"_FILE", "")
	}
	cases := []struct {
		token, password string
		serves          bool
		want            string // "" = accepted
	}{
		{shipped["admin-token"], realPW, true, "placeholder, not a token"},
		{strong, shipped["clickhouse-password"], true, "SLUICE_CLICKHOUSE_PASSWORD_FILE"},
		{strong, shipped["clickhouse-password"], false, "placeholder"},
		{"pause-t0ken", realPW, true, "shorter than 32"},
		{"pause-t0ken", realPW, false, ""},
		{strong, realPW, true, ""},
	}
	for _, c := range cases {
		t.Setenv("SLUICE_ADMIN_TOKEN_FILE", file("admin-token", c.token))
		t.Setenv("SLUICE_CLICKHOUSE_PASSWORD_FILE", file("clickhouse-password", c.password))
		f := connFlags{servesAdmin: c.serves}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f.register(fs)
		if err := fs.Parse([]string{"--brokers", "x:1", "--temporal", "x:2", "--clickhouse", "x:3"}); err != nil {
			t.Fatal(err)
		}
		cfg, err := f.config()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("token %q password %q (serves %v): refused: %v", c.token, c.password, c.serves, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("token %q password %q (serves %v): %v, want an error saying %q", c.token, c.password, c.serves, err, c.want)
		case c.want != "" && strings.Contains(err.Error(), "placeholder, not a token") && !strings.Contains(err.Error(), secure.MakeToken):
			t.Errorf("the refusal does not say how to make a token: %v", err)
		case err == nil:
			if got, _ := cfg.AdminToken.Value(); got != c.token {
				t.Errorf("the admin token read is %q, want %q", got, c.token)
			}
			if pw, _ := cfg.ClickHouse.Password(); pw != realPW {
				t.Errorf("the ClickHouse password read is %q", pw)
			}
			if out := fmt.Sprintf("%v %+v %#v", *cfg, *cfg, *cfg); strings.Contains(out, realPW) || strings.Contains(out, c.token) {
				t.Errorf("the config prints a secret:\n%s", out)
			}
		}
	}

	// The dashboards token follows the admin token's rule; `sluice dev`
	// checks it before starting anything (the bad --kafka-ports, checked
	// after it, stops dev should it not).
	t.Setenv("SLUICE_ADMIN_TOKEN_FILE", "")
	for _, cmd := range [][]string{{"dashboards", "--clickhouse", "x:1"}, {"dev", "--kafka-ports", "1"}} {
		t.Setenv("SLUICE_DASHBOARDS_TOKEN_FILE", file("dashboards-token", "change-me-to-a-long-random-string"))
		if err := commands[cmd[0]].run(t.Context(), cmd[1:]); err == nil || !strings.Contains(err.Error(), "SLUICE_DASHBOARDS_TOKEN_FILE") || !strings.Contains(err.Error(), secure.MakeToken) {
			t.Errorf("sluice %v with a placeholder dashboards token: %v", cmd, err)
		}
		t.Setenv("SLUICE_DASHBOARDS_TOKEN_FILE", file("dashboards-token", "short"))
		if err := commands[cmd[0]].run(t.Context(), cmd[1:]); err == nil || !strings.Contains(err.Error(), "shorter than 32") {
			t.Errorf("sluice %v with a short dashboards token: %v", cmd, err)
		}
	}
}
