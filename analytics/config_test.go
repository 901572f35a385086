package analytics

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// The ClickHouse config prints, logs and marshals without its password,
// and the password is still what the connection gets.
func TestClickHouseConfigNeverPrintsPassword(t *testing.T) {
	const pw = "ch-pw-S3cret-xyz"
	cfg := ClickHouseConfig{Addr: "ch:9000", Username: "sluice", Password: func() (string, error) { return pw, nil }}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.Password) + string(js)
	if strings.Contains(out, pw) {
		t.Fatalf("the password was printed:\n%s", out)
	}
	if !strings.Contains(out, "[redacted]") {
		t.Errorf("the password field does not say it is redacted:\n%s", out)
	}
	if got, _ := cfg.Password(); got != pw {
		t.Fatalf("the password reads %q", got)
	}
}
