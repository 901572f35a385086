package main

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/sluicehq/sluice/internal/app"
)

// The local dev stack's addresses (sluice dev's default ports). Like the
// temporal CLI with localhost:7233, a command given no address at all (no
// flag, no SLUICE_* variable, no Temporal profile) talks to `sluice dev`.
const (
	devBrokers    = "127.0.0.1:9092"
	devTemporal   = "127.0.0.1:7233"
	devClickHouse = "127.0.0.1:19000"
)

// temporalProfile is Temporal's own environment configuration, as every
// Temporal SDK and the temporal CLI read it: TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, and the profile TEMPORAL_PROFILE
// (default "default") of TEMPORAL_CONFIG_FILE (default
// ~/.config/temporalio/temporal.toml). Flags and SLUICE_* variables win
// over it. A missing file is no error; a broken one is, at start.
var temporalProfile = onceProfile()

func onceProfile() func() (envconfig.ClientConfigProfile, error) {
	return sync.OnceValues(loadProfile)
}

func loadProfile() (envconfig.ClientConfigProfile, error) {
	p, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{})
	if err != nil {
		if _, set := os.LookupEnv("TEMPORAL_CONFIG_FILE"); !set && errors.Is(err, os.ErrNotExist) {
			return envconfig.ClientConfigProfile{}, nil
		}
		return p, fmt.Errorf("Temporal environment configuration (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE, TEMPORAL_*): %w", err)
	}
	return p, nil
}

// applyTemporalProfile fills what flags and SLUICE_* left unset from the
// Temporal profile: address, namespace and TLS files.
func applyTemporalProfile(cfg *app.Config, namespaceSet bool) error {
	p, err := temporalProfile()
	if err != nil {
		return err
	}
	if cfg.TemporalAddr == "" {
		cfg.TemporalAddr = p.Address
	}
	if !namespaceSet && p.Namespace != "" {
		cfg.Namespace = p.Namespace
	}
	t := &cfg.Temporal.TLS
	if p.TLS != nil && !p.TLS.Disabled && !t.Enabled && t.CAFile == "" && t.CertFile == "" {
		t.Enabled = true
		t.CAFile, t.CertFile, t.KeyFile, t.ServerName = p.TLS.ServerCACertPath, p.TLS.ClientCertPath, p.TLS.ClientKeyPath, p.TLS.ServerName
		t.InsecureSkipVerify = p.TLS.DisableHostVerification
		if len(p.TLS.ClientCertData) > 0 || len(p.TLS.ServerCACertData) > 0 {
			return errors.New("Temporal profile: certificates given as data are not supported; give their paths (client_cert_path, server_ca_cert_path)")
		}
	}
	if p.APIKey != "" && !cfg.Temporal.APIKey.IsSet() {
		return errors.New("Temporal profile sets an API key: give it to Sluice as $SLUICE_TEMPORAL_API_KEY_FILE instead (secrets come from files, re-read on rotation)")
	}
	return nil
}

// applyDevDefaults points a config that names no system at all at the
// local dev stack, and says so on stderr.
func applyDevDefaults(cfg *app.Config) {
	if len(cfg.Brokers) > 0 || cfg.TemporalAddr != "" || cfg.ClickHouse.Addr != "" {
		return
	}
	cfg.Brokers, cfg.TemporalAddr, cfg.ClickHouse.Addr = []string{devBrokers}, devTemporal, devClickHouse
	fmt.Fprintf(os.Stderr, "sluice: no addresses configured: using the local dev stack (Kafka %s, Temporal %s, ClickHouse %s)\n", devBrokers, devTemporal, devClickHouse)
}
