package app

// Worker Versioning: the worker joins a Worker Deployment Version and its
// entity workflows are Pinned to it. A Pinned run never sees code it did
// not start on, so a new build needs no patching for running entities;
// they move to the deployment's current version at their next
// Continue-As-New (workflows/continue.go asks for that, and continues early
// once Temporal says the target version changed).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Deployment names the Worker Deployment Version a worker polls as.
type Deployment struct {
	// Name of the Worker Deployment; empty means the task queue's name.
	Name string
	// BuildID of this build (e.g. a git SHA or release tag); empty turns
	// Worker Versioning off.
	BuildID string
}

// Enabled reports whether the worker is versioned.
func (d Deployment) Enabled() bool { return d.BuildID != "" }

func (d Deployment) validate() error {
	var errs []error
	if d.Name != "" && d.BuildID == "" {
		errs = append(errs, errors.New("--deployment-name without --build-id: a versioned worker needs both (or set neither)"))
	}
	for _, f := range []struct{ flag, v string }{{"--deployment-name", d.Name}, {"--build-id", d.BuildID}} {
		// Temporal joins them as "name:build" in a version string (and
		// the CLI splits on the first colon); 255 is its length limit.
		if strings.ContainsAny(f.v, ": \t\n") || len(f.v) > 255 {
			errs = append(errs, fmt.Errorf("%s %q: at most 255 characters, no colon or whitespace", f.flag, f.v))
		}
	}
	return errors.Join(errs...)
}

// workerDeployment is the worker's deployment options for c.
func workerDeployment(c *Config) worker.DeploymentOptions {
	if !c.Deployment.Enabled() {
		return worker.DeploymentOptions{}
	}
	name := c.Deployment.Name
	if name == "" {
		name = c.TaskQueue
	}
	return worker.DeploymentOptions{
		UseVersioning:             true,
		Version:                   worker.WorkerDeploymentVersion{DeploymentName: name, BuildID: c.Deployment.BuildID},
		DefaultVersioningBehavior: workflow.VersioningBehaviorPinned,
	}
}

// DeploymentName is the Worker Deployment c's workers join.
func (c *Config) DeploymentName() string {
	if c.Deployment.Name != "" {
		return c.Deployment.Name
	}
	return c.TaskQueue
}

// VersionStatus is one build of a Worker Deployment as the rollout sees it.
type VersionStatus struct {
	BuildID  string
	Current  bool
	Ramping  float32 // percentage of new runs and Continue-As-New sent here; 0 if not ramping
	Drainage string  // "draining", "drained", or "" (current, ramping, or never routed away from)
	// Running counts the open runs on this build (visibility;
	// eventually consistent); -1 when the count could not be read.
	Running int64
}

// DeploymentVersions describes c's Worker Deployment: every build, where
// traffic goes and how many open runs each still holds.
func DeploymentVersions(ctx context.Context, c *Config) ([]VersionStatus, error) {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	name := c.DeploymentName()
	d, err := tc.WorkerDeploymentClient().GetHandle(name).Describe(ctx, client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		return nil, fmt.Errorf("worker deployment %q: %w", name, err)
	}
	rc := d.Info.RoutingConfig
	var out []VersionStatus
	for _, v := range d.Info.VersionSummaries {
		s := VersionStatus{BuildID: v.Version.BuildID, Running: -1}
		s.Current = rc.CurrentVersion != nil && rc.CurrentVersion.BuildID == s.BuildID
		if rc.RampingVersion != nil && rc.RampingVersion.BuildID == s.BuildID {
			s.Ramping = rc.RampingVersionPercentage
		}
		switch v.DrainageStatus {
		case client.WorkerDeploymentVersionDrainageStatusDraining:
			s.Drainage = "draining"
		case client.WorkerDeploymentVersionDrainageStatusDrained:
			s.Drainage = "drained"
		}
		q := fmt.Sprintf("TemporalWorkerDeploymentVersion = '%s:%s' AND ExecutionStatus = 'Running'", name, s.BuildID)
		if n, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: c.Namespace, Query: q}); err == nil {
			s.Running = n.GetCount()
		}
		out = append(out, s)
	}
	return out, nil
}

// SetCurrentVersion routes new runs, and every entity at its next
// Continue-As-New, to build; it returns the build that was current ("" if
// none). The build's workers must be polling.
func SetCurrentVersion(ctx context.Context, c *Config, build string) (string, error) {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return "", err
	}
	defer tc.Close()
	r, err := tc.WorkerDeploymentClient().GetHandle(c.DeploymentName()).SetCurrentVersion(ctx,
		client.WorkerDeploymentSetCurrentVersionOptions{BuildID: build})
	if err != nil {
		return "", fmt.Errorf("set current version %s:%s: %w", c.DeploymentName(), build, err)
	}
	if err := awaitRouting(ctx, tc, c); err != nil {
		return "", fmt.Errorf("set current version %s:%s: %w", c.DeploymentName(), build, err)
	}
	if r.PreviousVersion == nil {
		return "", nil
	}
	return r.PreviousVersion.BuildID, nil
}

// SetRampingVersion sends percent of new runs and Continue-As-News to
// build (0 with an empty build stops a ramp).
func SetRampingVersion(ctx context.Context, c *Config, build string, percent float32) error {
	tc, err := DialTemporal(ctx, c)
	if err != nil {
		return err
	}
	defer tc.Close()
	_, err = tc.WorkerDeploymentClient().GetHandle(c.DeploymentName()).SetRampingVersion(ctx,
		client.WorkerDeploymentSetRampingVersionOptions{BuildID: build, Percentage: percent})
	if err != nil {
		return fmt.Errorf("ramp %s:%s to %g%%: %w", c.DeploymentName(), build, percent, err)
	}
	if err := awaitRouting(ctx, tc, c); err != nil {
		return fmt.Errorf("ramp %s:%s to %g%%: %w", c.DeploymentName(), build, percent, err)
	}
	return nil
}

// RoutingPropagationTimeout bounds how long a routing change may take to
// reach every task queue of the deployment before SetCurrentVersion and
// SetRampingVersion say it has not.
var RoutingPropagationTimeout = 30 * time.Second

// awaitRouting returns once the deployment's last routing change has
// reached its task queues. Temporal saves the change at once and
// propagates it after: until then a Continue-As-New still lands on the
// build that was current, so an entity that goes quiet right after it
// would stay there, and "entities move at their next Continue-As-New"
// would not yet hold. Servers that do not report propagation (before
// 1.30) are taken as done.
func awaitRouting(ctx context.Context, tc client.Client, c *Config) error {
	ctx, cancel := context.WithTimeout(ctx, RoutingPropagationTimeout)
	defer cancel()
	for {
		d, err := tc.WorkflowService().DescribeWorkerDeployment(ctx, &workflowservice.DescribeWorkerDeploymentRequest{
			Namespace: c.Namespace, DeploymentName: c.DeploymentName(),
		})
		if err == nil && d.GetWorkerDeploymentInfo().GetRoutingConfigUpdateState() != enumspb.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("still in progress")
			}
			return fmt.Errorf("the change is saved but has not reached every task queue after %s (%v): runs that continue as new meanwhile land on the previous routing; run `sluice rollout status` and repeat the command", RoutingPropagationTimeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
