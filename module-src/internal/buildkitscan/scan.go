// Package buildkitscan is the buildkit_scan module: a vulnerability gate on an
// image with Trivy, decided in Go, that works offline, plus an SBOM.
package buildkitscan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/engine"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/scanner"
)

// Options are the module's arguments after validation.
type Options struct {
	Image              string   `json:"image"`
	Input              string   `json:"input"`
	ScannerPath        string   `json:"scanner_path"`
	FailOn             []string `json:"fail_on"`
	IgnoreUnfixed      bool     `json:"ignore_unfixed"`
	IgnoreFile         string   `json:"ignore_file"`
	VulnTypes          []string `json:"vuln_types"`
	Timeout            int      `json:"timeout"`
	SkipDBUpdate       bool     `json:"skip_db_update"`
	Offline            bool     `json:"offline"`
	CacheDir           string   `json:"cache_dir"`
	DBRepository       string   `json:"db_repository"`
	MaxDBAge           int      `json:"max_db_age"`
	Server             string   `json:"server"`
	ServerToken        string   `json:"server_token"`
	ReportPath         string   `json:"report_path"`
	SBOMFormat         string   `json:"sbom_format"`
	SBOMPath           string   `json:"sbom_path"`
	FailOnScannerError bool     `json:"fail_on_scanner_error"`
	MaxFindings        int      `json:"max_findings"`
	DockerHost         string   `json:"docker_host"`
}

var severityChoices = []any{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}

// Spec is the module's argument spec.
func Spec() module.Spec {
	return module.Spec{
		Options: map[string]*module.Option{
			"image":                 {Type: module.TypeStr},
			"input":                 {Type: module.TypePath, Aliases: []string{"archive_path"}},
			"scanner_path":          {Type: module.TypeStr, Default: "trivy"},
			"fail_on":               {Type: module.TypeList, Elements: module.TypeStr, Default: []any{"CRITICAL"}, Choices: severityChoices},
			"ignore_unfixed":        {Type: module.TypeBool, Default: false},
			"ignore_file":           {Type: module.TypePath},
			"vuln_types":            {Type: module.TypeList, Elements: module.TypeStr, Default: []any{"os", "library"}, Choices: []any{"os", "library"}},
			"timeout":               {Type: module.TypeInt, Default: 300},
			"skip_db_update":        {Type: module.TypeBool, Default: false},
			"offline":               {Type: module.TypeBool, Default: false},
			"cache_dir":             {Type: module.TypePath},
			"db_repository":         {Type: module.TypeStr},
			"max_db_age":            {Type: module.TypeInt, Default: 0},
			"server":                {Type: module.TypeStr},
			"server_token":          {Type: module.TypeStr, NoLog: true},
			"report_path":           {Type: module.TypePath},
			"sbom_format":           {Type: module.TypeStr, Choices: []any{"cyclonedx", "spdx-json"}},
			"sbom_path":             {Type: module.TypePath},
			"fail_on_scanner_error": {Type: module.TypeBool, Default: true},
			"max_findings":          {Type: module.TypeInt, Default: 20},
			"docker_host":           {Type: module.TypeStr, Aliases: []string{"docker_url"}, EnvFallback: []string{"DOCKER_HOST"}, Check: engine.CheckHost},
		},
		MutuallyExclusive: [][]string{{"image", "input"}},
		RequiredOneOf:     [][]string{{"image", "input"}},
		RequiredTogether:  [][]string{{"sbom_format", "sbom_path"}},
		Returns:           returns(),
	}
}

// returns declares the module's result keys (documented in RETURN).
func returns() map[string]*module.Return {
	str, integer := &module.Return{Type: module.TypeStr}, &module.Return{Type: module.TypeInt}
	return map[string]*module.Return{
		"image":          str,
		"passed":         {Type: module.TypeBool},
		"scan_status":    str,
		"scanner_error":  str,
		"report_path":    str,
		"scanner":        str,
		"scan_duration":  {Type: module.TypeFloat},
		"db_updated_at":  str,
		"db_age_hours":   integer,
		"java_db":        str,
		"packages":       integer,
		"findings_total": integer,
		"counts": {Type: module.TypeDict, Contains: map[string]*module.Return{
			"critical": integer, "high": integer, "medium": integer, "low": integer, "unknown": integer,
		}},
		"findings": {Type: module.TypeList, Elements: module.TypeDict, Contains: map[string]*module.Return{
			"id": str, "package": str, "installed": str, "fixed": str, "severity": str, "status": str, "target": str,
		}},
		"os": {Type: module.TypeDict, Contains: map[string]*module.Return{
			"family": str, "name": str, "eosl": {Type: module.TypeBool},
		}},
		"sbom_path":  str,
		"sbom_error": str,
	}
}

// Run is the module's entry point. Scanning only reads the image, so it runs
// in check mode too.
func Run(ctx context.Context, m *module.Module) (module.Result, error) {
	var o Options
	if err := m.Decode(&o); err != nil {
		return module.Result{}, err
	}
	if err := absPaths(&o); err != nil {
		return module.Result{}, err
	}
	if err := check(o); err != nil {
		return module.Result{}, err
	}
	target := o.Image
	if target == "" {
		target = o.Input
	}
	cacheDir := o.CacheDir
	if cacheDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cacheDir = filepath.Join(d, "trivy")
		}
	}
	reportPath := o.ReportPath
	if reportPath == "" {
		reportPath = defaultReportPath(target)
	}
	data := map[string]any{"image": target, "report_path": reportPath}

	// DB age first: an old DB is a scanner error, as a missing one is.
	if o.Server == "" {
		if meta, err := scanner.ReadDBMetadata(cacheDir); err == nil {
			age := time.Since(meta.UpdatedAt)
			data["db_updated_at"] = meta.UpdatedAt.UTC().Format(time.RFC3339)
			data["db_age_hours"] = int(age.Hours())
			if o.MaxDBAge > 0 && age > time.Duration(o.MaxDBAge)*time.Hour && (o.Offline || o.SkipDBUpdate) {
				return scannerError(m, o, data, &scanner.Error{Kind: scanner.ErrDB, Msg: fmt.Sprintf(
					"max_db_age: Trivy's DB was updated %s ago (%s), more than %dh", age.Round(time.Hour), meta.UpdatedAt.Format(time.RFC3339), o.MaxDBAge)})
			}
		}
	}

	so := scanner.Options{
		Binary: o.ScannerPath, Image: o.Image, Input: o.Input, DockerHost: o.DockerHost,
		CacheDir: cacheDir, Offline: o.Offline, SkipDBUpdate: o.SkipDBUpdate, DBRepository: o.DBRepository,
		Server: o.Server, Token: o.ServerToken, IgnoreFile: o.IgnoreFile, PkgTypes: o.VulnTypes,
		Timeout: time.Duration(o.Timeout) * time.Second, ReportPath: reportPath,
	}
	res, err := scanner.Scan(ctx, so)
	if se, ok := scanner.IsError(err); ok && se.Kind == scanner.ErrFailed && o.Image != "" {
		// Trivy reads the image from the engine: an engine that restarted
		// meanwhile fails the scan, and that is no verdict on the image.
		// Once the engine answers again with the image, it is scanned again
		// (once): fail_on_scanner_error: false must not let an image through
		// because its engine restarted.
		if why := engineBack(ctx, o); why == "" {
			m.Warn(fmt.Sprintf("%s: %s; the engine answers with the image: scanned again", target, se.Msg))
			res, err = scanner.Scan(ctx, so)
		} else {
			m.Debugf(2, "buildkit_scan: not scanned again: %s", why)
		}
	}
	if err != nil {
		if se, ok := scanner.IsError(err); ok {
			return scannerError(m, o, data, se)
		}
		return module.Result{Data: data}, err
	}
	data["scan_duration"] = res.Duration.Seconds()
	data["scanner"] = res.Binary
	if res.SkippedJava {
		data["java_db"] = "missing"
		if slices.Contains(o.VulnTypes, "library") {
			m.Warn(fmt.Sprintf("no Trivy Java DB at %s: JAR, WAR and EAR files were not scanned for library vulnerabilities "+
				"(offline/skip_db_update cannot download it); put a Java DB there (trivy image --download-java-db-only --cache-dir %s) to scan them",
				filepath.Join(cacheDir, "java-db"), cacheDir))
		}
	}
	v := scanner.Gate{FailOn: o.FailOn, IgnoreUnfixed: o.IgnoreUnfixed}.Apply(res.Report)
	data["passed"] = v.Passed
	data["counts"] = v.Counts
	data["packages"] = v.Packages
	data["findings_total"] = len(v.Failing)
	findings := v.Failing
	if o.MaxFindings >= 0 && len(findings) > o.MaxFindings {
		findings = findings[:o.MaxFindings]
	}
	data["findings"] = findings
	if res.Report.Metadata.OS != nil {
		data["os"] = map[string]any{"family": res.Report.Metadata.OS.Family, "name": res.Report.Metadata.OS.Name, "eosl": res.Report.Metadata.OS.EOSL}
		if res.Report.Metadata.OS.EOSL {
			m.Warn(fmt.Sprintf("%s runs %s %s, which is past its end of support", target, res.Report.Metadata.OS.Family, res.Report.Metadata.OS.Name))
		}
	}

	if o.SBOMFormat != "" {
		t := time.Now()
		err := scanner.SBOM(ctx, res.Binary, reportPath, o.SBOMFormat, o.SBOMPath)
		m.Debugf(3, "buildkit_scan: %s: Trivy %.2fs, SBOM %.2fs", o.Image, res.Duration.Seconds(), time.Since(t).Seconds())
		if err != nil {
			// The gate's verdict stands either way; a missing SBOM is a scanner
			// error, which fail_on_scanner_error: false turns into a warning.
			_, isScanner := scanner.IsError(err)
			if v.Passed && (o.FailOnScannerError || !isScanner) {
				data["scan_status"] = "passed"
				return module.Result{Data: data}, fmt.Errorf("sbom_format %s: %w", o.SBOMFormat, err)
			}
			data["sbom_error"] = err.Error()
			m.Warn(fmt.Sprintf("no SBOM written (sbom_format %s): %v", o.SBOMFormat, err))
		} else {
			data["sbom_path"] = o.SBOMPath
		}
	}
	if !v.Passed {
		data["scan_status"] = "failed"
		return module.Result{Data: data}, fmt.Errorf("%s failed the vulnerability gate (fail_on: %s): %d finding(s): %s",
			target, strings.Join(o.FailOn, ", "), len(v.Failing), v.Summary(5))
	}
	data["scan_status"] = "passed"
	return module.Result{Msg: fmt.Sprintf("%s passed the vulnerability gate (fail_on: %s)", target, strings.Join(o.FailOn, ", ")), Data: data}, nil
}

// absPaths resolves relative paths against the task's working directory:
// Trivy itself runs in a scratch directory.
func absPaths(o *Options) error {
	for name, p := range map[string]*string{"input": &o.Input, "ignore_file": &o.IgnoreFile, "cache_dir": &o.CacheDir,
		"report_path": &o.ReportPath, "sbom_path": &o.SBOMPath} {
		if *p == "" || filepath.IsAbs(*p) {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*p = abs
	}
	return nil
}

func check(o Options) error {
	if o.Timeout <= 0 {
		return fmt.Errorf("timeout: must be a positive number of seconds, got %d", o.Timeout)
	}
	if o.IgnoreFile != "" {
		if st, err := os.Stat(o.IgnoreFile); err != nil || st.IsDir() {
			return fmt.Errorf("ignore_file: %s does not exist or is not a file", o.IgnoreFile)
		}
	}
	if o.Input != "" {
		if st, err := os.Stat(o.Input); err != nil || st.IsDir() {
			return fmt.Errorf("input: %s does not exist or is not a file", o.Input)
		}
	}
	if o.MaxDBAge < 0 {
		return fmt.Errorf("max_db_age: must be 0 (no limit) or a number of hours, got %d", o.MaxDBAge)
	}
	if len(o.FailOn) == 0 {
		return fmt.Errorf("fail_on: give at least one severity (CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN)")
	}
	return nil
}

// scannerError fails the task, or with fail_on_scanner_error: false reports
// scan_status: error with a warning and lets the play go on.
func scannerError(m *module.Module, o Options, data map[string]any, e *scanner.Error) (module.Result, error) {
	data["scan_status"] = "error"
	data["passed"] = false
	data["scanner_error"] = string(e.Kind)
	if !o.FailOnScannerError {
		m.Warn("vulnerability scan not done (fail_on_scanner_error: false): " + e.Msg)
		return module.Result{Msg: e.Msg, Data: data}, nil
	}
	return module.Result{Data: data}, e
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func defaultReportPath(target string) string {
	dir := os.TempDir()
	if d, err := os.UserCacheDir(); err == nil {
		dir = d
	}
	return filepath.Join(dir, "jenkins_ha.buildkit", "scans", strings.Trim(unsafeChars.ReplaceAllString(target, "_"), "_")+".json")
}

// engineBack waits for the engine Trivy reads the image from (through a
// restart: up to about 20 s) and says why the image cannot be scanned again
// ("" when it can: the engine answers and has the image).
func engineBack(ctx context.Context, o Options) string {
	e, err := engine.ConnectWith(ctx, engine.Options{Host: o.DockerHost}, retry.Policy{Attempts: 8, Base: 500 * time.Millisecond, Max: 4 * time.Second})
	if err != nil {
		return err.Error()
	}
	defer e.Close()
	cctx, cancel := e.Call(ctx)
	defer cancel()
	if _, err := e.API.ImageInspect(cctx, o.Image); err != nil {
		return err.Error()
	}
	return ""
}
