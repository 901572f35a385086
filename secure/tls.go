package secure

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLS is a client's TLS settings, as files (what Kubernetes mounts).
type TLS struct {
	Enabled bool
	// CAFile verifies the server (PEM); empty uses the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate for mutual TLS. They
	// are read again on every handshake, so a renewed certificate (cert-
	// manager rewriting the mounted Secret) is used by the next connection.
	CertFile, KeyFile string
	// ServerName overrides the name checked against the server certificate.
	ServerName string
	// InsecureSkipVerify turns server verification off (never in production).
	InsecureSkipVerify bool
}

// On reports whether TLS is wanted: enabled, or any file given.
func (t TLS) On() bool { return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Config builds the tls.Config (nil when TLS is off), loading every file
// once so a wrong path or a bad PEM fails at start. what names the
// connection in errors, e.g. "kafka".
func (t TLS) Config(what string) (*tls.Config, error) {
	if !t.On() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s TLS CA: %w", what, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s TLS CA %s: no PEM certificate in it", what, t.CAFile)
		}
		c.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("%s TLS: a client certificate needs both the certificate and the key file", what)
	}
	if t.CertFile != "" {
		load := func() (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("%s TLS client certificate: %w", what, err)
			}
			return &cert, nil
		}
		if _, err := load(); err != nil {
			return nil, err
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return load() }
	}
	return c, nil
}

// Validate loads the files and reports what is wrong.
func (t TLS) Validate(what string) error {
	_, err := t.Config(what)
	return err
}
