package app

// The worker component: the domains' workflows and activities and the
// milestone publisher.

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/bridge"
	"github.com/sluicehq/sluice/internal/admin"
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/support"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
)

// supportActivities builds the agent's activities from the config.
func supportActivities(c *Config) *support.Activities {
	a := &support.Activities{Provider: support.Offline{}, ProviderName: "offline", Tools: c.SupportTools}
	if c.LLM.URL != "" {
		// No client-side retries (net/http has none; the SDKs' own would
		// hide attempts from history): Temporal's retry policy owns them.
		// Validated by whoever built the config (cmd/sluice); an unset
		// Secret is an empty key, sent as no Authorization header.
		key, _ := c.LLM.APIKey.Value()
		a.Provider = &support.OpenAI{BaseURL: c.LLM.URL, APIKey: key, Client: &http.Client{Timeout: 110 * time.Second}}
		a.ProviderName = "openai-compatible"
	}
	if a.Tools == nil {
		a.Tools = support.NewMemoryTools()
	}
	return a
}

// RunWorker runs the entity workflows and the milestone activity until ctx
// ends.
func RunWorker(ctx context.Context, c *Config) error {
	s, tel, stopTracing, err := startTraced(ctx, c, "sluice-worker")
	if err != nil {
		return err
	}
	defer stopTracing()
	tc, err := dialTemporal(ctx, c, tel)
	if err != nil {
		return err
	}
	defer tc.Close()
	kc, err := c.NewKafkaClient(kgo.ProducerLinger(0), tel.kafka("milestones"))
	if err != nil {
		return err
	}
	defer kc.Close()
	stop, err := serveAdmin(ctx, c, s, func(s *admin.Server) error {
		s.AddCheck("kafka", kafkaCheck(kc))
		s.AddCheck("temporal", temporalCheck(tc))
		return nil
	})
	if err != nil {
		return err
	}
	defer stop()
	feed, stopFeed, err := startLiveFeed(ctx, c, tel)
	if err != nil {
		return err
	}
	defer stopFeed()
	if c.WorkflowCacheSize > 0 {
		// Process-wide; it takes effect when the process's first worker
		// starts (here, unless the caller runs others).
		worker.SetStickyWorkflowCacheSize(c.WorkflowCacheSize)
	}
	w := worker.New(tc, c.TaskQueue, worker.Options{
		Interceptors: feed,
		// The SDK's default of two polls caps the tasks a worker takes per
		// second at two round trips at a time (pollers.go).
		MaxConcurrentWorkflowTaskPollers: c.workflowTaskPollers(),
		DeploymentOptions:                workerDeployment(c),
		// A sticky task not picked up within this is taken off this
		// worker's queue and replayed from the whole history by any worker.
		// Under a burst the task backlog runs well past the SDK's 5 s: at
		// 5 s, 69% of the bench's workflow tasks were replayed that way,
		// doubling Temporal's CPU per signal (BENCHMARKS.md). A crashed
		// worker's queued tasks wait this long once; new ones go to the
		// shared queue as soon as the server sees nobody polling.
		StickyScheduleToStartTimeout: time.Minute,
	})
	for _, d := range c.domains() {
		d.RegisterWorkflow(w, c.MaxSignalsPerRun)
		if wa, ok := d.(workflows.WithActivities); ok {
			wa.RegisterActivities(w)
		}
	}
	acts := &workflows.Activities{Publisher: &bridge.MilestoneProducer{Client: kc, Topic: c.MilestoneTopic, Observe: tel.worker(), Tracer: tel.tracer()}}
	w.RegisterActivityWithOptions(acts.PublishMilestones, activity.RegisterOptions{Name: workflows.PublishMilestonesActivity})
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}
