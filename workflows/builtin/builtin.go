// Package builtin bundles the demo domains the sluice binary runs (ledger,
// order, support) with the activities they call. They are examples on the
// same footing as a team's own domains: the binary passes them to the
// public API like any other user would pass theirs.
//
// The function to know is [Domains].
package builtin

import (
	"github.com/sluicehq/sluice/workflows"
	"github.com/sluicehq/sluice/workflows/ledger"
	"github.com/sluicehq/sluice/workflows/order"
	"github.com/sluicehq/sluice/workflows/support"
)

// Config is what the demo domains need from their surroundings; zero
// values give in-process stand-ins (an offline model, in-memory backends).
type Config struct {
	// Support is the support agent's policy for new tickets.
	Support support.Policy
	// Provider is the agent's model (default support.Offline{}), named
	// ProviderName in its usage records.
	Provider     support.Provider
	ProviderName string
	// Tools and OrderBackend are the systems the agent and the order saga
	// call (defaults: in-memory).
	Tools        support.Tools
	OrderBackend order.Backend
}

// Domains returns the ledger, order and support domains with their
// activities.
func Domains(c Config) []workflows.Entity {
	backend := c.OrderBackend
	if backend == nil {
		backend = order.NewMemoryBackend(nil)
	}
	acts := &support.Activities{Provider: c.Provider, ProviderName: c.ProviderName, Tools: c.Tools}
	if acts.Provider == nil {
		acts.Provider, acts.ProviderName = support.Offline{}, "offline"
	}
	if acts.Tools == nil {
		acts.Tools = support.NewMemoryTools()
	}
	return []workflows.Entity{
		ledger.Domain,
		workflows.Bundle(order.Domain, (&order.Activities{Backend: backend}).Register),
		workflows.Bundle(support.NewDomain(c.Support), acts.Register),
	}
}
