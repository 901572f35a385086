package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/secure"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/order"
)

// TestPauseResume drives the bridge's admin actions with the real binary:
// a paused topic stops reaching its workflows while another topic keeps
// flowing; resume delivers what waited, exactly once; actions need the
// bearer token, and a wrong topic is refused, not ignored. The HTTP
// redrive action plans a dead letter's way back.
func TestPauseResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	e.cfg.MaxSignalsPerRun = 0
	const token = "pause-t0ken"
	e.cfg.AdminToken = secure.StaticSecret(token)
	addr := e.runComponents(t, ctx, "bridge")
	p := newCounted(t, e.cfg.Brokers, 4, "pause")
	p.produce(t, ctx, e.cfg.InputTopic, 20)
	p.exact(t, ctx, e, 2*time.Minute)
	adminURL := "http://" + addr("bridge")

	bin := buildSluice(t, ctx)
	sluice := func(tok string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "SLUICE_ADMIN_URL="+adminURL, "SLUICE_ADMIN_TOKEN="+tok, "SLUICE_ADMIN_TOKEN_FILE=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := sluice("wrong", "pause", "--topic", e.cfg.InputTopic); err == nil || !strings.Contains(out, "401") {
		t.Fatalf("pause with a wrong token: %v\n%s", err, out)
	}
	if out, err := sluice(token, "pause", "--topic", "sluice.evnets"); err == nil || !strings.Contains(out, "not consumed by this bridge") {
		t.Fatalf("pause of a topic the bridge does not read: %v\n%s", err, out)
	}
	out, err := sluice(token, "pause", "--topic", e.cfg.InputTopic)
	if err != nil || !strings.Contains(out, "paused: "+e.cfg.InputTopic) {
		t.Fatalf("pause: %v\n%s", err, out)
	}
	if out, err := sluice("", "paused"); err != nil || !strings.Contains(out, e.cfg.InputTopic) {
		t.Fatalf("paused: %v\n%s", err, out)
	}
	if out, err := sluice("", "status", "--brokers", strings.Join(e.cfg.Brokers, ","), "--temporal", e.cfg.TemporalAddr); err != nil ||
		!regexp.MustCompile(`bridge +http://\S+: \d+ signals in flight, \d+ events buffered for \d+ entities, PAUSED: `+regexp.QuoteMeta(e.cfg.InputTopic)).MatchString(out) {
		t.Fatalf("status with the admin URL does not show the pause: %v\n%s", err, out)
	}

	// While the input topic is paused, the orders topic still flows: an
	// order created now reaches its workflow.
	w := watchMilestones(t, ctx, e.cfg.Brokers, e.cfg.MilestoneTopic)
	p.produce(t, ctx, e.cfg.InputTopic, 20)
	send(t, ctx, p.cl, e.cfg.OrdersTopic, "o-paused", order.Created,
		order.CreatedData{Customer: "c", Items: []order.Item{{SKU: "mug", Qty: 1}}, Amount: 1200, Currency: "EUR"})
	w.wait(t, ctx, "o-paused", order.MilestoneCreated)
	waitFor(t, ctx, time.Minute, "the paused topic's lag to show the 20 waiting events", func() (bool, string) {
		st, err := app.GetStatus(ctx, e.cfg)
		return err == nil && st.Lag[e.cfg.InputTopic] == 20, fmt.Sprint(st.Lag, err)
	})
	applied := int64(0)
	for key := range p.want {
		var s workflows.Status
		if err := query(ctx, e.tc, e.cfg.WorkflowIDPrefix+key, workflows.QueryStatus, &s); err != nil {
			t.Fatal(err)
		}
		applied += s.Applied
	}
	if applied != 20 {
		t.Fatalf("the workflows applied %d events while their topic was paused; 20 came before the pause", applied)
	}

	if out, err := sluice(token, "resume", "--topic", e.cfg.InputTopic); err != nil || !strings.Contains(out, "nothing paused") {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	p.exact(t, ctx, e, 2*time.Minute)

	// The redrive action, over HTTP as automation would call it.
	if err := p.cl.ProduceSync(ctx, &kgo.Record{Topic: e.cfg.InputTopic, Key: []byte("k"), Value: []byte("{broken")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var plan app.RedriveResult
	waitFor(t, ctx, time.Minute, "the broken record on the dead-letter topic", func() (bool, string) {
		err := admin.Call(ctx, adminURL, "redrive", url.Values{"dry-run": {"true"}, "reason": {"undecodable"}}, token, &plan)
		return err == nil && plan.Matched == 1, fmt.Sprint(plan, err)
	})
	if !plan.DryRun || len(plan.Redriven) != 1 || plan.Redriven[0].To != e.cfg.InputTopic || plan.Redriven[0].Key != "k" {
		t.Fatalf("redrive plan: %+v", plan)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, adminURL+"/admin/redrive", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("redrive without a token: %v %v", resp.StatusCode, err)
	}
}
