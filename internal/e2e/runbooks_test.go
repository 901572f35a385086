package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/secure"
)

// TestRunbooks walks every runbook in deploy/runbooks: each `sluice` line
// of its sh blocks is run, as written, by the real binary against the
// embedded stack with traffic and a dead letter in it, and must succeed.
func TestRunbooks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 0
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte("runbook-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.cfg.AdminToken = secure.FileSecret("SLUICE_ADMIN_TOKEN", tokenFile)
	addr := e.runComponents(t, ctx, "bridge")
	p := newCounted(t, e.cfg.Brokers, 5, "runbook")
	p.produce(t, ctx, e.cfg.InputTopic, 40)
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: e.cfg.InputTopic, Key: []byte("acct-00000"), Value: []byte("{broken")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p.exact(t, ctx, e, 2*time.Minute)

	bin := buildSluice(t, ctx)
	admin := "http://" + addr("bridge")
	env := append(os.Environ(),
		"PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"),
		"SLUICE_BROKERS="+strings.Join(e.cfg.Brokers, ","),
		"SLUICE_TEMPORAL="+e.cfg.TemporalAddr,
		"SLUICE_CLICKHOUSE="+e.cfg.ClickHouse.Addr,
		"SLUICE_ADMIN_URL="+admin,
		"SLUICE_ADMIN_TOKEN_FILE="+tokenFile,
		"SLUICE_LOG_LEVEL=error",
	)
	pages, _ := filepath.Glob("../../deploy/runbooks/*.md")
	ran := 0
	for _, page := range pages {
		if by := walkedBy(t, page); by != "" {
			// A page whose steps need their own stack or order (the
			// version rollout) is walked by the test it names.
			src, _ := os.ReadFile(by)
			if !strings.Contains(string(src), "func "+strings.TrimSuffix(filepath.Base(page), ".md")) && !strings.Contains(string(src), "runbooks/"+filepath.Base(page)) {
				t.Errorf("%s says it is walked by %s, which does not read it", page, by)
			}
			continue
		}
		cmds := runbookCommands(t, page)
		if filepath.Base(page) != "README.md" && len(cmds) == 0 {
			t.Errorf("%s has no sluice command", page)
		}
		for _, c := range cmds {
			cmd := exec.CommandContext(ctx, "bash", "-c", c)
			cmd.Dir, cmd.Env = "../..", env
			out, err := cmd.CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) == 0 && !strings.HasPrefix(c, "sluice probe") {
				t.Errorf("%s: `%s`: %v\n%s", filepath.Base(page), c, err, out)
			}
			ran++
		}
	}
	if ran < 15 {
		t.Fatalf("ran %d runbook commands", ran)
	}
	t.Logf("ran %d runbook commands from %d pages", ran, len(pages))
}

// runbookCommands returns the `sluice` lines inside the page's sh blocks.
func runbookCommands(t *testing.T, page string) []string {
	f, err := os.Open(page)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "```sh":
			in = true
		case line == "```":
			in = false
		case in && strings.HasPrefix(line, "sluice "):
			out = append(out, line)
		}
	}
	return out
}

// walkedBy returns the test file a page names in a
// `<!-- walked in order by TestX (path/x_test.go) ... -->` line, if any.
func walkedBy(t *testing.T, page string) string {
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- walked in order by ")
	if !ok {
		return ""
	}
	_, rest, _ = strings.Cut(rest, "(")
	file, _, _ := strings.Cut(rest, ")")
	return filepath.Join("../..", file)
}
