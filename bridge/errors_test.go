package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluicehq/sluice/consumers"
	"github.com/sluicehq/sluice/schemas"
)

// The errors below are the ones the Temporal SDK and server returned on the
// dev server for each kind of request (recorded by hand, 2026-12-01).
func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		rule string // "" = retried
	}{
		{"nil", nil, ""},
		{"unavailable", serviceerror.NewUnavailable("connection refused"), ""},
		{"grpc unavailable", status.Error(codes.Unavailable, "transport is closing"), ""},
		{"timeout", fmt.Errorf("call: %w", context.DeadlineExceeded), ""},
		{"grpc deadline", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), ""},
		{"throttled", serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "namespace rate limit exceeded"), ""},
		{"server internal", serviceerror.NewInternal("persistence: database is locked"), ""},
		{"namespace not found", serviceerror.NewNamespaceNotFound("default"), ""},
		{"permission denied", serviceerror.NewPermissionDenied("bad api key", ""), ""},
		{"unknown plain", errors.New("EOF"), ""},
		{"id too long", serviceerror.NewInvalidArgument("WorkflowId length exceeds limit."), RuleInvalidArgument},
		{"blob size", serviceerror.NewInvalidArgument("Blob data size exceeds limit."), RulePayloadTooLarge},
		{"grpc invalid argument", status.Error(codes.InvalidArgument, "bad"), RuleInvalidArgument},
		{"received too large", status.Error(codes.ResourceExhausted, "grpc: received message after decompression larger than max 4194304"), RuleMessageTooLarge},
		{"send too large", fmt.Errorf("wrapped: %w", status.Error(codes.ResourceExhausted, "grpc: trying to send message larger than max (5000000 vs. 4194304)")), RuleMessageTooLarge},
		{"header not ascii", serviceerror.NewInternal(`header key "temporal-resource-id" contains value with non-printable ASCII characters`), RuleInvalidString},
		{"marshal utf8", status.Error(codes.Internal, "grpc: error while marshaling: string field contains invalid UTF-8"), RuleInvalidString},
		{"cannot encode", fmt.Errorf("%w: json: unsupported value", converter.ErrUnableToEncode), RuleCannotEncode},
		{"already classified", &RejectedError{Rule: RulePayloadTooLarge, Err: errors.New("x")}, RulePayloadTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule, rejected := Classify(c.err)
			if rule != c.rule || rejected != (c.rule != "") {
				t.Fatalf("Classify(%v) = %q, %v; want %q", c.err, rule, rejected, c.rule)
			}
		})
	}
}

// A batch waiting to retry holds no in-flight slot: with one slot, an
// entity Temporal keeps failing must not keep another from being signalled.
func TestDispatcherBackoffHoldsNoSlot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sig := &stuckSignaler{stuck: "wf-stuck", delivered: make(chan string, 16)}
	d, err := NewDispatcher(ctx, Config{MaxInFlight: 1, RetryMin: 200 * time.Millisecond, RetryMax: time.Second}, sig)
	if err != nil {
		t.Fatal(err)
	}
	acks := &ackLog{acked: map[int64]int{}}
	d.Enqueue([]consumers.Record{{Topic: "t", Offset: 0, Key: []byte("stuck"), Size: 10, Target: Target{WorkflowID: "wf-stuck"}}}, acks)
	for sig.attempts.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := range 5 {
		id := fmt.Sprintf("wf-%d", i)
		d.Enqueue([]consumers.Record{{Topic: "t", Partition: 1, Offset: int64(i), Key: []byte(id), Size: 10, Target: Target{WorkflowID: id}}}, acks)
	}
	for range 5 {
		select {
		case <-sig.delivered:
		case <-ctx.Done():
			t.Fatalf("other entities were not signalled while one backed off (stats %+v)", d.Stats())
		}
	}
	if st := d.Stats(); st.Events != 5 {
		t.Fatalf("stats %+v, want 5 events delivered", st)
	}
	cancel()
	d.Wait()
}

type stuckSignaler struct {
	stuck     string
	attempts  atomic.Int64
	delivered chan string
}

func (s *stuckSignaler) SignalWithStart(_ context.Context, t Target, _ *schemas.SignalBatch) error {
	if t.WorkflowID == s.stuck {
		s.attempts.Add(1)
		return serviceerror.NewUnavailable("this entity's shard is down")
	}
	s.delivered <- t.WorkflowID
	return nil
}

// A partition revoked while its batch backs off is given up (unacked, for
// the next owner), so the revoke does not wait out the retries.
func TestDispatcherRevokeEndsBackoff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sig := &stuckSignaler{stuck: "wf-stuck", delivered: make(chan string, 1)}
	d, err := NewDispatcher(ctx, Config{RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond}, sig)
	if err != nil {
		t.Fatal(err)
	}
	acks := &ackLog{acked: map[int64]int{}}
	d.Enqueue([]consumers.Record{{Topic: "t", Offset: 7, Key: []byte("stuck"), Size: 10, Target: Target{WorkflowID: "wf-stuck"}}}, acks)
	for sig.attempts.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	d.Revoke(rctx, map[string][]int32{"t": {0}})
	if rctx.Err() != nil {
		t.Fatal("revoke waited out its timeout: the backing-off batch did not give up")
	}
	if st := d.Stats(); st.InFlight != 0 || st.Buffered != 0 || acks.acked[7] != 0 {
		t.Fatalf("stats %+v, acks %v: want nothing in flight, buffered or acked", st, acks.acked)
	}
	cancel()
	d.Wait()
}

func TestSafeRoutingHeaders(t *testing.T) {
	icpt := SafeRoutingHeaders()
	var mu sync.Mutex
	var sent []string
	invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		md, _ := metadata.FromOutgoingContext(ctx)
		mu.Lock()
		sent = md.Get(routingHeader)
		mu.Unlock()
		return nil
	}
	req := &workflowservice.SignalWithStartWorkflowExecutionRequest{Namespace: "default", WorkflowId: "order-café"}
	for _, c := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"set by the library before us", metadata.AppendToOutgoingContext(context.Background(), routingHeader, "workflow:order-café"), "workflow:order-caf%C3%A9"},
		{"not yet set", context.Background(), "workflow:order-caf%C3%A9"},
		{"ascii untouched", metadata.AppendToOutgoingContext(context.Background(), routingHeader, "workflow:order-1%"), "workflow:order-1%"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := icpt(c.ctx, "/x", req, nil, nil, invoker); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sent) != 1 || sent[0] != c.want {
				t.Fatalf("sent %q, want %q", sent, c.want)
			}
			for _, v := range sent {
				if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
					t.Fatalf("header %q is not printable ASCII", v)
				}
			}
		})
	}
}
