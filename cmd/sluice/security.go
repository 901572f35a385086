package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"strings"

	"github.com/sluicehq/sluice/consumers"

	"github.com/sluicehq/sluice/internal/app"
	"github.com/sluicehq/sluice/secure"
)

// tlsFlags are one connection's TLS files; every one has a SLUICE_<NAME>_TLS_*
// environment default, so a Kubernetes ConfigMap can carry them.
type tlsFlags struct {
	on                              bool
	ca, cert, key, serverName, name string
	insecure                        bool
}

func (t *tlsFlags) register(fs *flag.FlagSet, name, what string) {
	t.name = name
	E := "SLUICE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_TLS"
	fs.BoolVar(&t.on, name+"-tls", env(E, "") == "true", "connect to "+what+" over TLS (implied by any --"+name+"-tls-* file) ($"+E+"=true)")
	fs.StringVar(&t.ca, name+"-tls-ca", env(E+"_CA", ""), "PEM CA bundle that verifies "+what+"; empty: system roots ($"+E+"_CA)")
	fs.StringVar(&t.cert, name+"-tls-cert", env(E+"_CERT", ""), "PEM client certificate for mutual TLS with "+what+", re-read on every new connection ($"+E+"_CERT)")
	fs.StringVar(&t.key, name+"-tls-key", env(E+"_KEY", ""), "PEM private key of --"+name+"-tls-cert ($"+E+"_KEY)")
	fs.StringVar(&t.serverName, name+"-tls-server-name", env(E+"_SERVER_NAME", ""), "name to verify "+what+"'s certificate against, if not its address ($"+E+"_SERVER_NAME)")
	fs.BoolVar(&t.insecure, name+"-tls-insecure-skip-verify", false, "do not verify "+what+"'s certificate (testing only)")
}

func (t *tlsFlags) config() secure.TLS {
	return secure.TLS{Enabled: t.on, CAFile: t.ca, CertFile: t.cert, KeyFile: t.key, ServerName: t.serverName, InsecureSkipVerify: t.insecure}
}

// kafkaFlags are the brokers and how to authenticate to them; the
// password comes only from $SLUICE_KAFKA_PASSWORD or $SLUICE_KAFKA_PASSWORD_FILE.
type kafkaFlags struct {
	brokers, sasl, user string
	tls                 tlsFlags
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.brokers, "brokers", env("SLUICE_BROKERS", ""), "Kafka bootstrap brokers, comma-separated ($SLUICE_BROKERS)")
	fs.StringVar(&k.sasl, "kafka-sasl", env("SLUICE_KAFKA_SASL", ""), "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; the password comes only from $SLUICE_KAFKA_PASSWORD or the file $SLUICE_KAFKA_PASSWORD_FILE, re-read on every new connection ($SLUICE_KAFKA_SASL)")
	fs.StringVar(&k.user, "kafka-user", env("SLUICE_KAFKA_USER", ""), "Kafka SASL user ($SLUICE_KAFKA_USER)")
	secretFlag(fs, "kafka-password", "SLUICE_KAFKA_PASSWORD")
	k.tls.register(fs, "kafka", "Kafka")
}

// config is an app.Config with only Kafka set (commands that need no more).
func (k *kafkaFlags) config() (*app.Config, error) {
	c := &app.Config{Brokers: app.SplitList(k.brokers)}
	k.apply(c)
	if len(c.Brokers) == 0 {
		c.Brokers = []string{devBrokers} // nothing configured: the dev stack, as every command
	}
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no Kafka brokers: set --brokers host:port[,host:port]"))
	}
	errs = append(errs, c.Kafka.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (k *kafkaFlags) apply(c *app.Config) {
	c.Brokers = app.SplitList(k.brokers)
	c.Kafka = secure.Kafka{TLS: k.tls.config(), SASL: strings.ToUpper(k.sasl), User: k.user, Password: secure.EnvSecret("SLUICE_KAFKA_PASSWORD")}
}

// securityFlags are the Temporal and ClickHouse security settings.
type securityFlags struct {
	temporalTLS, chTLS tlsFlags
}

func (s *securityFlags) register(fs *flag.FlagSet) {
	s.temporalTLS.register(fs, "temporal", "Temporal")
	secretFlag(fs, "temporal-api-key", "SLUICE_TEMPORAL_API_KEY")
	s.chTLS.register(fs, "clickhouse", "ClickHouse")
	secretFlag(fs, "clickhouse-password", "SLUICE_CLICKHOUSE_PASSWORD")
}

// apply sets Temporal and ClickHouse security, loading the ClickHouse
// password and TLS files now so mistakes stop the start.
func (s *securityFlags) apply(c *app.Config) error {
	c.Temporal = secure.Temporal{TLS: s.temporalTLS.config(), APIKey: secure.EnvSecret("SLUICE_TEMPORAL_API_KEY")}
	var errs []error
	pw := secure.EnvSecret("SLUICE_CLICKHOUSE_PASSWORD")
	if err := pw.ValidatePassword(); err != nil {
		errs = append(errs, err)
	}
	if pw.IsSet() {
		// Read again at each connection-pool open, never held as a string.
		c.ClickHouse.Password = pw.Value
	}
	tc, err := s.chTLS.config().Config("clickhouse")
	errs = append(errs, err)
	c.ClickHouse.TLS = tc
	return errors.Join(errs...)
}

// logSecurity says how each connection authenticates (never the secrets),
// and warns where a password would cross the network in clear.
func logSecurity(c *app.Config) {
	c.Logger.Info("connection security", "kafka", c.Kafka.Describe(), "temporal", c.Temporal.Describe(), "clickhouse_tls", c.ClickHouse.TLS != nil)
	if c.Kafka.SASL == secure.SASLPlain && !c.Kafka.TLS.On() {
		c.Logger.Warn("Kafka SASL PLAIN without TLS sends the password in clear: set --kafka-tls")
	}
}

// secretFlag registers a flag someone may reach for to pass a secret: it
// fails, saying which variable to set instead. It also records the
// variables (env and _FILE) as read.
func secretFlag(fs *flag.FlagSet, name, env string) {
	envRead[env], envRead[env+"_FILE"] = true, true
	fs.Func(name, "not accepted: set $"+env+" or the file $"+env+"_FILE", secure.RejectFlag(env))
}

// registryFlags locate the Schema Registry; its password comes only from
// $SLUICE_SCHEMA_REGISTRY_PASSWORD or the file $SLUICE_SCHEMA_REGISTRY_PASSWORD_FILE.
type registryFlags struct {
	url, user string
	tls       tlsFlags
}

func (r *registryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.url, "schema-registry-url", env("SLUICE_SCHEMA_REGISTRY_URL", ""), "Schema Registry URL(s), comma-separated, for routes of format avro, protobuf or json-schema ($SLUICE_SCHEMA_REGISTRY_URL)")
	fs.StringVar(&r.user, "schema-registry-user", env("SLUICE_SCHEMA_REGISTRY_USER", ""), "Schema Registry basic-auth user (Confluent Cloud: the API key); the password comes only from $SLUICE_SCHEMA_REGISTRY_PASSWORD or the file $SLUICE_SCHEMA_REGISTRY_PASSWORD_FILE, re-read per request ($SLUICE_SCHEMA_REGISTRY_USER)")
	secretFlag(fs, "schema-registry-password", "SLUICE_SCHEMA_REGISTRY_PASSWORD")
	r.tls.register(fs, "schema-registry", "the schema registry")
}

// config is the registry's client configuration (zero when no URL is set).
func (r *registryFlags) config() (consumers.RegistryConfig, error) {
	var c consumers.RegistryConfig
	pw := secure.EnvSecret("SLUICE_SCHEMA_REGISTRY_PASSWORD")
	tlsc := r.tls.config()
	var tcfg *tls.Config
	var err error
	if tlsc.Enabled || tlsc.CAFile != "" || tlsc.CertFile != "" {
		tcfg, err = tlsc.Config("schema registry")
	}
	if err := errors.Join(err, pw.Validate()); err != nil {
		return c, err
	}
	if r.url != "" {
		c.URLs = app.SplitList(r.url)
	}
	c.User, c.TLS = r.user, tcfg
	if pw.IsSet() {
		c.Password = pw.Value
	}
	return c, c.Validate()
}
