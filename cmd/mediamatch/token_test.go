package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// createToken runs token create and returns what it printed.
func createToken(t *testing.T, environ map[string]string, args ...string) tokenJSON {
	t.Helper()
	code, out, stderr := runCLI(t, nil, environ, append([]string{"token", "create"}, args...)...)
	var tok tokenJSON
	if code != exitOK || json.Unmarshal([]byte(out), &tok) != nil {
		t.Fatalf("token create %v: exit %d %s %s", args, code, out, stderr)
	}
	return tok
}

// TestTokenBootstrap creates the first admin token offline, serves, and
// checks that the admin's calls work and anonymous ones fail; then manages
// tokens through the server, and reads the audit log.
func TestTokenBootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "mediamatch.db")
	root := createToken(t, nil, "--db", db, "--name", "root", "--role", "admin")
	if !strings.HasPrefix(root.Token, "mmt_") || root.Name != "root" || root.Role != "admin" {
		t.Fatalf("token create printed %+v", root)
	}
	srv := startServe(t, bin, db)
	anon := map[string]string{"MEDIAMATCH_SERVER": srv.addr}
	admin := map[string]string{"MEDIAMATCH_SERVER": srv.addr, "MEDIAMATCH_TOKEN": root.Token}

	if code, out, stderr := runCLI(t, nil, admin, "bank", "create", "tvec"); code != exitOK || !strings.Contains(out, `"name":"tvec"`) {
		t.Fatalf("bank create as admin: exit %d %s %s", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, nil, anon, "bank", "list"); code != exitFail || !strings.Contains(stderr, "Unauthenticated") {
		t.Errorf("bank list without a token: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, anon, "bank", "list", "--token", "mmt_not-a-token"); code != exitFail || !strings.Contains(stderr, "Unauthenticated") || strings.Contains(stderr, "mmt_not-a-token") {
		t.Errorf("bank list with a made-up token: exit %d %s", code, stderr)
	}
	// The server holds the file: offline management says so.
	code, _, stderr := runCLI(t, nil, nil, "token", "create", "--db", db, "--name", "x", "--role", "admin")
	if code != exitFail || !strings.Contains(stderr, "held by a running mediamatch server") || !strings.Contains(stderr, "without --db") {
		t.Errorf("token create --db while serving: exit %d %s", code, stderr)
	}

	// Through the server: a curator of tvec, listed without secrets.
	cur := createToken(t, admin, "--name", "ingest", "--role", "curator", "--bank", "tvec", "--expires", "24h")
	if cur.Token == "" || len(cur.Banks) != 1 || cur.Expires == "" {
		t.Errorf("curator token: %+v", cur)
	}
	curator := map[string]string{"MEDIAMATCH_SERVER": srv.addr, "MEDIAMATCH_TOKEN": cur.Token}
	if code, _, stderr := runCLI(t, nil, curator, "bank", "update", "tvec", "--description", "d"); code != exitOK {
		t.Errorf("bank update as its curator: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, curator, "bank", "create", "other"); code != exitFail || !strings.Contains(stderr, "PermissionDenied") || !strings.Contains(stderr, "curator") {
		t.Errorf("bank create by a limited curator: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, curator, "token", "list"); code != exitFail || !strings.Contains(stderr, "PermissionDenied") {
		t.Errorf("token list by a curator: exit %d %s", code, stderr)
	}
	code, out, _ := runCLI(t, nil, admin, "token", "list")
	if code != exitOK || strings.Count(out, "\n") != 2 || strings.Contains(out, root.Token) || strings.Contains(out, cur.Token) || strings.Contains(out, `"token"`) {
		t.Errorf("token list: exit %d %s", code, out)
	}
	if code, _, stderr := runCLI(t, nil, admin, "token", "revoke", "ingest"); code != exitOK {
		t.Errorf("token revoke: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, curator, "bank", "list"); code != exitFail || !strings.Contains(stderr, "Unauthenticated") {
		t.Errorf("a revoked token: exit %d %s", code, stderr)
	}
	code, out, _ = auditWith(t, admin, `"action":"denied","actor":"ingest"`)
	for _, want := range []string{`"action":"token_created","actor":"offline"`, `"action":"token_created","actor":"root"`, `"token":"ingest"`,
		`"action":"denied","actor":"anonymous"`, `"action":"denied","actor":"ingest"`, `"action":"token_revoked","actor":"root"`} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("audit lacks %s: exit %d\n%s", want, code, out)
		}
	}
	code, out, _ = runCLI(t, nil, admin, "log")
	if code != exitOK || !strings.Contains(out, `"actor":"root"`) || !strings.Contains(out, `"actor":"ingest"`) {
		t.Errorf("log: the actors are not the tokens' names: %s", out)
	}
	srv.stop(t)
	// Tokens survive the restart.
	srv = startServe(t, bin, db)
	admin["MEDIAMATCH_SERVER"] = srv.addr
	if code, _, stderr := runCLI(t, nil, admin, "bank", "get", "tvec"); code != exitOK {
		t.Errorf("the admin after a restart: exit %d %s", code, stderr)
	}
	srv.stop(t)
}

// pki is a CA and the certificates it signed, as PEM files.
type pki struct {
	dir  string
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newPKI(t *testing.T, dir, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{dir: dir, key: key, cert: cert}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes name.pem and name-key.pem: a certificate for the subject
// common name cn, for a server (on 127.0.0.1) or a client.
func (p *pki) issue(t *testing.T, name, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

// TestTLS serves TLS with client certificates: a client trusting the CA
// connects, one without it fails; a client certificate authenticates as
// the token bound to its subject, one of another CA is refused, and a
// client without a certificate needs a token.
func TestTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	ca := newPKI(t, dir, "ca")
	srvCert, srvKey := ca.issue(t, "server", "mediamatch.test", true)
	partnerCert, partnerKey := ca.issue(t, "partner", "partner-b.example.org", false)
	strangerCert, strangerKey := ca.issue(t, "stranger", "stranger.example.org", false)
	other := newPKI(t, dir, "other-ca")
	forgedCert, forgedKey := other.issue(t, "forged", "partner-b.example.org", false)
	caFile := filepath.Join(dir, "ca.pem")

	db := filepath.Join(dir, "mediamatch.db")
	root := createToken(t, nil, "--db", db, "--name", "root", "--role", "admin")
	bound := createToken(t, nil, "--db", db, "--name", "partner-b", "--role", "partner", "--cert-subject", "partner-b.example.org")
	if bound.Token != "" || bound.CertificateSubject != "partner-b.example.org" {
		t.Errorf("a certificate token printed %+v", bound)
	}
	srv := startServeArgs(t, bin, db, "--listen", "127.0.0.1:0", "--tls-cert", srvCert, "--tls-key", srvKey, "--client-ca", caFile)
	base := map[string]string{"MEDIAMATCH_SERVER": srv.addr, "MEDIAMATCH_TIMEOUT": "10s"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}

	if code, _, stderr := runCLI(t, nil, with("MEDIAMATCH_TLS_CA", caFile, "MEDIAMATCH_TOKEN", root.Token), "bank", "create", "tvec"); code != exitOK {
		t.Fatalf("admin over TLS: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, with("MEDIAMATCH_TOKEN", root.Token), "bank", "list"); code != exitFail || !strings.Contains(stderr, "Unavailable") {
		t.Errorf("plaintext to a TLS server: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, with("MEDIAMATCH_TLS_CA", filepath.Join(dir, "other-ca.pem"), "MEDIAMATCH_TOKEN", root.Token), "bank", "list"); code != exitFail || !strings.Contains(stderr, "certificate") {
		t.Errorf("trusting another CA: exit %d %s", code, stderr)
	}
	// The partner's certificate is its credential: a partner may list
	// banks, not create them.
	partner := with("MEDIAMATCH_TLS_CA", caFile, "MEDIAMATCH_TLS_CERT", partnerCert, "MEDIAMATCH_TLS_KEY", partnerKey)
	if code, out, stderr := runCLI(t, nil, partner, "bank", "list"); code != exitOK || !strings.Contains(out, `"name":"tvec"`) {
		t.Errorf("the partner's certificate: exit %d %s %s", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, nil, partner, "bank", "create", "mine"); code != exitFail || !strings.Contains(stderr, "PermissionDenied") || !strings.Contains(stderr, "partner") {
		t.Errorf("a partner creating a bank: exit %d %s", code, stderr)
	}
	// A certificate of the CA without a token, one of another CA, and no
	// certificate (nor token) at all.
	if code, _, stderr := runCLI(t, nil, with("MEDIAMATCH_TLS_CA", caFile, "MEDIAMATCH_TLS_CERT", strangerCert, "MEDIAMATCH_TLS_KEY", strangerKey), "bank", "list"); code != exitFail || !strings.Contains(stderr, "Unauthenticated") {
		t.Errorf("a certificate without a token: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, with("MEDIAMATCH_TLS_CA", caFile, "MEDIAMATCH_TLS_CERT", forgedCert, "MEDIAMATCH_TLS_KEY", forgedKey), "bank", "list"); code != exitFail || !(strings.Contains(stderr, "Unavailable") || strings.Contains(stderr, "Unauthenticated")) {
		// Go's client does not even send a certificate the server's CA
		// list does not name: the call is then anonymous, and refused.
		t.Errorf("a certificate of another CA: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, with("MEDIAMATCH_TLS_CA", caFile), "bank", "list"); code != exitFail || !strings.Contains(stderr, "Unauthenticated") {
		t.Errorf("no certificate, no token: exit %d %s", code, stderr)
	}
	code, out, _ := auditWith(t, with("MEDIAMATCH_TLS_CA", caFile, "MEDIAMATCH_TOKEN", root.Token), `"action":"denied","actor":"partner-b"`)
	if code != exitOK || !strings.Contains(out, `"action":"denied","actor":"partner-b"`) {
		t.Errorf("the audit log lacks the partner's refused call: %s", out)
	}
	srv.stop(t)
}

// auditWith runs "mediamatch audit" until its output holds want: the
// server writes refused calls every --audit-flush, not as they happen.
func auditWith(t *testing.T, env map[string]string, want string) (int, string, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, stderr := runCLI(t, nil, env, "audit")
		if strings.Contains(out, want) || time.Now().After(deadline) {
			return code, out, stderr
		}
		time.Sleep(20 * time.Millisecond)
	}
}
