package consumers

// Commits: each partition's watermark, periodically and on revoke, loss
// and shutdown, serialised so a late commit never undercuts a final one.

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (g *Group) commitLoop(ctx context.Context) {
	t := time.NewTicker(g.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.commit(ctx, nil, false)
		}
	}
}

// commit commits the watermarks of only (all owned when nil); with drop, the
// partitions' trackers are forgotten afterwards (they were revoked).
func (g *Group) commit(ctx context.Context, only map[string][]int32, drop bool) {
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	g.mu.Lock()
	add := func(t string, p int32, w *watermark) {
		if c := w.committable(); c > w.committed {
			if offsets[t] == nil {
				offsets[t] = map[int32]kgo.EpochOffset{}
			}
			offsets[t][p] = kgo.EpochOffset{Epoch: -1, Offset: c}
		}
	}
	if only == nil {
		for t, ps := range g.marks {
			for p, w := range ps {
				add(t, p, w)
			}
		}
	} else {
		for t, ps := range only {
			for _, p := range ps {
				if w := g.marks[t][p]; w != nil {
					add(t, p, w)
				}
			}
		}
	}
	g.mu.Unlock()
	if len(offsets) > 0 {
		g.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				if ctx.Err() == nil {
					g.log.Warn("offset commit failed", "err", err)
				}
				return
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						g.log.Warn("offset commit failed", "topic", t.Topic, "partition", p.Partition, "err", err)
						continue
					}
					if w := g.marks[t.Topic][p.Partition]; w != nil {
						w.committed = offsets[t.Topic][p.Partition].Offset
					}
				}
			}
		})
	}
	if drop {
		g.mu.Lock()
		for t, ps := range only {
			for _, p := range ps {
				delete(g.marks[t], p)
			}
		}
		g.mu.Unlock()
	}
}

func (g *Group) onRevoked(ctx context.Context, _ *kgo.Client, tps map[string][]int32) {
	if len(tps) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.RevokeTimeout)
	defer cancel()
	g.h.Revoke(rctx, tps)
	g.dlq.revoke(tps)
	g.dropHeld(tps)
	g.commit(rctx, tps, true)
	g.log.Info("partitions revoked", "partitions", fmtTPs(tps))
}

// onLost: the group moved on without us, so committing would be wrong.
func (g *Group) onLost(ctx context.Context, _ *kgo.Client, tps map[string][]int32) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	g.h.Revoke(rctx, tps)
	g.dlq.revoke(tps)
	g.dropHeld(tps)
	g.mu.Lock()
	for t, ps := range tps {
		for _, p := range ps {
			delete(g.marks[t], p)
		}
	}
	g.mu.Unlock()
	g.log.Warn("partitions lost", "partitions", fmtTPs(tps))
}

func (g *Group) shutdown() {
	owned := map[string][]int32{}
	g.mu.Lock()
	for t, ps := range g.marks {
		for p := range ps {
			owned[t] = append(owned[t], p)
		}
	}
	g.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.RevokeTimeout)
	defer cancel()
	g.h.Revoke(ctx, owned)
	g.commit(ctx, owned, true)
	g.cl.CloseAllowingRebalance()
}

func fmtTPs(tps map[string][]int32) string {
	s := ""
	for t, ps := range tps {
		for _, p := range ps {
			if s != "" {
				s += ","
			}
			s += t + "/" + strconv.Itoa(int(p))
		}
	}
	return s
}
