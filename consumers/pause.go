package consumers

// Pause and resume of whole topics (the admin actions).

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Pause stops fetching the topics (every partition this member owns, now
// and after rebalances) until Resume; events already fetched still go to
// their workflows and are committed. It returns every paused topic. A
// topic this group does not consume is an error, so a typo is not a no-op.
func (g *Group) Pause(topics ...string) ([]string, error) {
	if err := g.consumes(topics); err != nil {
		return nil, err
	}
	paused := g.cl.PauseFetchTopics(topics...)
	g.log.Warn("paused fetching", "topics", topics, "paused", paused)
	return sortedCopy(paused), nil
}

// Resume fetches the topics again and returns the topics still paused.
func (g *Group) Resume(topics ...string) ([]string, error) {
	if err := g.consumes(topics); err != nil {
		return nil, err
	}
	g.cl.ResumeFetchTopics(topics...)
	g.log.Info("resumed fetching", "topics", topics)
	return g.Paused(), nil
}

// Paused lists the paused topics.
func (g *Group) Paused() []string { return sortedCopy(g.cl.PauseFetchTopics()) }

// ErrNotConsumed is wrapped by Pause and Resume for a topic the group does
// not read.
var ErrNotConsumed = errors.New("not consumed by this bridge")

func (g *Group) consumes(topics []string) error {
	if len(topics) == 0 {
		return fmt.Errorf("name at least one topic (%w: every topic would be a surprise)", ErrNotConsumed)
	}
	for _, t := range topics {
		if slices.Contains(g.cfg.Topics, t) {
			continue
		}
		matched := false
		for _, p := range g.cfg.TopicPatterns {
			if re, err := regexp.Compile(p); err == nil && re.MatchString(t) {
				matched = true
			}
		}
		if !matched {
			return fmt.Errorf("topic %q: %w (it reads %s)", t, ErrNotConsumed, strings.Join(append(slices.Clone(g.cfg.Topics), g.cfg.TopicPatterns...), ", "))
		}
	}
	return nil
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}
