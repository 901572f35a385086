package secure

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"
)

// Temporal is how Sluice authenticates to the Temporal frontend: mutual TLS
// (self-hosted, Temporal Cloud with certificates) and/or an API key
// (Temporal Cloud), sent as a bearer token on every call.
type Temporal struct {
	TLS    TLS
	APIKey Secret
}

// Validate reports what is wrong with the files or the key.
func (t Temporal) Validate() error {
	if err := t.TLS.Validate("temporal"); err != nil {
		return err
	}
	if t.APIKey.IsSet() {
		if err := t.APIKey.Validate(); err != nil {
			return fmt.Errorf("temporal API key: %w", err)
		}
	}
	return nil
}

// Apply sets the connection options. An API key turns TLS on (with system
// roots) unless TLS is configured: keys must not cross the network in clear.
func (t Temporal) Apply(o *client.Options) error {
	tc, err := t.TLS.Config("temporal")
	if err != nil {
		return err
	}
	o.ConnectionOptions.TLS = tc
	if t.APIKey.IsSet() {
		key := t.APIKey
		o.Credentials = client.NewAPIKeyDynamicCredentials(func(context.Context) (string, error) { return key.Value() })
	}
	return nil
}

// Describe says how the client authenticates, for logs and `sluice check`.
func (t Temporal) Describe() string {
	d := "plaintext"
	if t.TLS.On() {
		d = "TLS"
	}
	if t.APIKey.IsSet() {
		d += ", API key from " + t.APIKey.Source()
	}
	return d
}
