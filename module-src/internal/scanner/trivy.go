package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/tempfiles"
)

// Options say how to run Trivy for one image.
type Options struct {
	Binary       string   // trivy executable (a path, or a name looked up in PATH)
	Image        string   // image in the engine, by name or ID
	Input        string   // or a docker-save / OCI tarball
	DockerHost   string   // engine address for Image
	CacheDir     string   // Trivy's cache dir (holds db/trivy.db and db/metadata.json)
	Offline      bool     // no network at all: implies SkipDBUpdate and no version check or telemetry
	SkipDBUpdate bool     // use the DB in CacheDir as it is
	DBRepository string   // where to download the DB from when it needs an update
	Server       string   // Trivy server URL (client/server mode)
	Token        string   // its token
	IgnoreFile   string   // .trivyignore or .trivyignore.yaml
	PkgTypes     []string // os, library
	Timeout      time.Duration
	ReportPath   string // where the full JSON report is kept
}

// ErrorKind classifies why a scan could not give a verdict.
type ErrorKind string

// The kinds of scanner errors.
const (
	ErrMissing ErrorKind = "scanner missing"
	ErrDB      ErrorKind = "vulnerability DB"
	ErrTimeout ErrorKind = "timeout"
	ErrServer  ErrorKind = "server"
	ErrFailed  ErrorKind = "scanner failed"
)

// Error is a scan that gave no verdict.
type Error struct {
	Kind ErrorKind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Result is a finished scan.
type Result struct {
	Report   *Report
	Duration time.Duration
	Binary   string // the trivy that ran
	// SkippedJava: offline with no Java DB in the cache, JAR/WAR/EAR files
	// were left out (Trivy refuses to scan them without it).
	SkippedJava bool
}

// javaArchives are the files Trivy's Java analyzer reads.
var javaArchives = []string{"**/*.jar", "**/*.war", "**/*.ear", "**/*.par"}

// Scan runs Trivy once, with every severity, writes the JSON report to
// ReportPath and parses it.
func Scan(ctx context.Context, o Options) (*Result, error) {
	bin, err := exec.LookPath(o.Binary)
	if err != nil {
		return nil, &Error{Kind: ErrMissing, Msg: fmt.Sprintf("scanner_path: Trivy not found (%v); install trivy or set scanner_path", err)}
	}
	if o.Offline || o.SkipDBUpdate {
		if o.Server == "" {
			if err := checkLocalDB(o.CacheDir); err != nil {
				return nil, err
			}
		}
	}
	if o.Server != "" {
		if err := CheckServer(ctx, o.Server, 4); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(o.ReportPath), 0o755); err != nil {
		return nil, fmt.Errorf("report_path: %w", err)
	}
	tmp := tempfiles.File(o.ReportPath, "partial")
	defer os.Remove(tmp)
	args := []string{"image", "--quiet", "--format", "json", "--output", tmp, "--scanners", "vuln",
		"--timeout", fmt.Sprintf("%ds", int(o.Timeout.Seconds()+0.5))}
	if o.CacheDir != "" {
		args = append(args, "--cache-dir", o.CacheDir)
	}
	skippedJava := false
	if o.Offline || o.SkipDBUpdate {
		args = append(args, "--skip-db-update", "--skip-java-db-update")
		// Without a Java DB, Trivy fails on the first JAR it meets ("cannot be
		// specified on the first run"): scan everything else and say so.
		if _, err := os.Stat(filepath.Join(o.CacheDir, "java-db", "metadata.json")); err != nil {
			skippedJava = true
			for _, g := range javaArchives {
				args = append(args, "--skip-files", g)
			}
		}
	}
	if o.Offline {
		args = append(args, "--offline-scan", "--skip-version-check", "--disable-telemetry")
	}
	if o.DBRepository != "" {
		args = append(args, "--db-repository", o.DBRepository)
	}
	if o.Server != "" {
		args = append(args, "--server", o.Server)
		if o.Token != "" {
			args = append(args, "--token", o.Token)
		}
	}
	if o.IgnoreFile != "" {
		args = append(args, "--ignorefile", o.IgnoreFile)
	}
	if len(o.PkgTypes) > 0 {
		args = append(args, "--pkg-types", strings.Join(o.PkgTypes, ","))
	}
	if o.Input != "" {
		args = append(args, "--input", o.Input)
	} else {
		// The engine only: never fall back to pulling the image from a registry.
		args = append(args, "--image-src", "docker")
		if o.DockerHost != "" {
			args = append(args, "--docker-host", o.DockerHost)
		}
		args = append(args, o.Image)
	}

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	// Trivy's own temp files (the image saved from the engine) go in a work
	// directory of this run's, removed after it, or by the next scan if this
	// run is killed (tempfiles).
	work, err := tempfiles.Dir("bk-scan")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = work // no stray ./.trivyignore is picked up
	cmd.Env = append(os.Environ(), "TRIVY_NO_PROGRESS=true", "TMPDIR="+work)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	dur := time.Since(start)
	// Trivy is given the same timeout, so it may stop first with its own
	// "context deadline exceeded": the same timeout either way.
	if ctx.Err() == context.DeadlineExceeded || (err != nil && strings.Contains(stderr.String(), "context deadline exceeded")) {
		return nil, &Error{Kind: ErrTimeout, Msg: fmt.Sprintf("the scan did not finish within %s (timeout)", o.Timeout)}
	}
	if err != nil {
		return nil, classifyFailure(err, stderr.String())
	}
	raw, err := os.ReadFile(tmp)
	if err != nil {
		return nil, &Error{Kind: ErrFailed, Msg: fmt.Sprintf("Trivy wrote no report: %v", err)}
	}
	rep, err := ParseReport(raw)
	if err != nil {
		return nil, &Error{Kind: ErrFailed, Msg: err.Error()}
	}
	if err := os.Rename(tmp, o.ReportPath); err != nil {
		return nil, fmt.Errorf("report_path: %w", err)
	}
	return &Result{Report: rep, Duration: dur, Binary: bin, SkippedJava: skippedJava}, nil
}

func classifyFailure(err error, stderr string) error {
	msg := lastLines(stderr, 6)
	switch {
	case strings.Contains(stderr, "cannot be specified on the first run") || strings.Contains(stderr, "DB error") || strings.Contains(stderr, "failed to download vulnerability DB") || strings.Contains(stderr, "db error"):
		return &Error{Kind: ErrDB, Msg: "Trivy's vulnerability DB is missing or unusable: " + msg}
	case strings.Contains(stderr, "twirp error unauthenticated") || strings.Contains(stderr, "invalid token"):
		return &Error{Kind: ErrServer, Msg: "server_token: the Trivy server refused the token (unauthenticated); give the token the server was started with"}
	case strings.Contains(stderr, "unable to inspect the image") || strings.Contains(stderr, "No such image"):
		return &Error{Kind: ErrFailed, Msg: "Trivy could not read the image: " + msg}
	}
	return &Error{Kind: ErrFailed, Msg: fmt.Sprintf("Trivy failed (%v): %s", err, msg)}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// DBMetadata is Trivy's db/metadata.json.
type DBMetadata struct {
	Version      int       `json:"Version"`
	NextUpdate   time.Time `json:"NextUpdate"`
	UpdatedAt    time.Time `json:"UpdatedAt"`
	DownloadedAt time.Time `json:"DownloadedAt"`
}

// ReadDBMetadata reads the DB metadata under a Trivy cache dir.
func ReadDBMetadata(cacheDir string) (*DBMetadata, error) {
	b, err := os.ReadFile(filepath.Join(cacheDir, "db", "metadata.json"))
	if err != nil {
		return nil, err
	}
	var m DBMetadata
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("db/metadata.json: %w", err)
	}
	return &m, nil
}

func checkLocalDB(cacheDir string) error {
	if _, err := os.Stat(filepath.Join(cacheDir, "db", "trivy.db")); err != nil {
		return &Error{Kind: ErrDB, Msg: fmt.Sprintf("no Trivy vulnerability DB at %s (db/trivy.db): with offline or skip_db_update the DB must be there already; put one there or run once with network access", cacheDir)}
	}
	m, err := ReadDBMetadata(cacheDir)
	if err != nil {
		return &Error{Kind: ErrDB, Msg: fmt.Sprintf("Trivy DB at %s has no usable db/metadata.json: %v", cacheDir, err)}
	}
	if m.Version != 2 {
		return &Error{Kind: ErrDB, Msg: fmt.Sprintf("Trivy DB at %s has schema version %d; this Trivy reads version 2", cacheDir, m.Version)}
	}
	return nil
}

// CheckServer asks a Trivy server's /healthz, retrying with backoff while it
// starts or is briefly unavailable.
func CheckServer(ctx context.Context, server string, attempts int) error {
	c := retryablehttp.NewClient()
	c.RetryMax = attempts - 1
	c.RetryWaitMin = 200 * time.Millisecond
	c.RetryWaitMax = 2 * time.Second
	c.Logger = nil
	c.HTTPClient.Timeout = 5 * time.Second
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(server, "/")+"/healthz", nil)
	if err != nil {
		return &Error{Kind: ErrServer, Msg: fmt.Sprintf("server: %q is not a URL: %v", server, err)}
	}
	resp, err := c.Do(req)
	if err != nil {
		return &Error{Kind: ErrServer, Msg: fmt.Sprintf("server: Trivy server %s is not healthy: %v", server, err)}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &Error{Kind: ErrServer, Msg: fmt.Sprintf("server: Trivy server %s answered %s on /healthz", server, resp.Status)}
	}
	return nil
}

// SBOM converts a scan's JSON report into an SBOM (trivy convert needs no DB).
func SBOM(ctx context.Context, binary, reportPath, format, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("sbom_path: %w", err)
	}
	tmp := tempfiles.File(out, "partial")
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, binary, "convert", "--quiet", "--format", format, "--output", tmp, reportPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return &Error{Kind: ErrFailed, Msg: fmt.Sprintf("trivy convert to %s failed (%v): %s", format, err, lastLines(stderr.String(), 4))}
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("sbom_path: %w", err)
	}
	return nil
}

// IsError reports whether err is a scanner error (no verdict), and which.
func IsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
