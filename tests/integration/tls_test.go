package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testCA is a certificate authority the test makes, writing PEM files to dir.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	ca := &testCA{cert: cert, key: key, dir: t.TempDir()}
	writePEM(t, filepath.Join(ca.dir, "ca.pem"), "CERTIFICATE", der)
	return ca
}

func (ca *testCA) caFile() string { return filepath.Join(ca.dir, "ca.pem") }

// issue writes name.pem and name-key.pem: a server cert for 127.0.0.1 or a client cert.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"buildkitd.test"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(ca.dir, name+".pem"), filepath.Join(ca.dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kb)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestRemoteBuilderOverMutualTLS(t *testing.T) {
	ca := newTestCA(t, "bk-it CA")
	srvCert, srvKey := ca.issue(t, "server", true)
	cliCert, cliKey := ca.issue(t, "client", false)
	other := newTestCA(t, "another CA")
	otherCert, otherKey := other.issue(t, "client", false)

	addr := startBuildkitd(t, fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)),
		[]string{"--tlscacert", ca.caFile(), "--tlscert", srvCert, "--tlskey", srvKey})
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM scratch\nLABEL over=tls\n"})
	build := func(b map[string]any) result {
		args := buildArgs(uniqueName(t), dir, nil)
		b["driver"], b["endpoint"] = "remote", addr
		args["builder"] = b
		return run(t, "buildkit_image", args)
	}

	ok := build(map[string]any{"ca": ca.caFile(), "cert": cliCert, "key": cliKey})
	require.False(t, ok.failed(), ok.msg())
	assert.Equal(t, "tls", ok.label("over"))
	byName := build(map[string]any{"ca": ca.caFile(), "cert": cliCert, "key": cliKey, "server_name": "buildkitd.test"})
	require.False(t, byName.failed(), byName.msg())

	wrongCA := build(map[string]any{"ca": other.caFile(), "cert": cliCert, "key": cliKey})
	assert.True(t, wrongCA.failed())
	assert.Contains(t, wrongCA.msg(), "certificate")
	assert.Contains(t, wrongCA.msg(), "builder.ca")

	noClientCert := build(map[string]any{"ca": ca.caFile()})
	assert.True(t, noClientCert.failed())
	assert.Contains(t, noClientCert.msg(), addr)

	foreignClient := build(map[string]any{"ca": ca.caFile(), "cert": otherCert, "key": otherKey})
	assert.True(t, foreignClient.failed())

	wrongName := build(map[string]any{"ca": ca.caFile(), "cert": cliCert, "key": cliKey, "server_name": "not-this-host"})
	assert.True(t, wrongName.failed())
	assert.Contains(t, wrongName.msg(), "certificate")

	plain := build(map[string]any{})
	assert.True(t, plain.failed())
	assert.Contains(t, plain.msg(), "plain TCP")
	for _, r := range []result{wrongCA, noClientCert, foreignClient, wrongName} {
		t.Logf("refused: %s", r.msg())
	}
}
