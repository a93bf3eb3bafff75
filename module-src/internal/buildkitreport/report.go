// Package buildkitreport is the buildkit_report module: it turns the
// jenkins_images role's build report into a self-contained HTML page (with a
// history of the previous runs), Prometheus metrics for node_exporter's
// textfile collector, JUnit XML for Jenkins' junit step (one test case per
// image and gate) and SARIF 2.1.0 of the scan findings.
package buildkitreport

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/tempfiles"
)

// Report is jenkins_build_report as the role writes it.
type Report struct {
	BuildTimestamp     string         `json:"build_timestamp"`
	BuildHost          string         `json:"build_host"`
	BuildConfiguration map[string]any `json:"build_configuration"`
	BuildResults       struct {
		Master *Entry            `json:"jenkins_master,omitempty"`
		Agents map[string]*Entry `json:"jenkins_agents,omitempty"`
	} `json:"build_results"`
	Summary struct {
		Built     []string `json:"built"`
		Unchanged []string `json:"unchanged"`
		Promoted  []string `json:"promoted"`
		Failed    []string `json:"failed"`
	} `json:"summary"`
	// BuildCache is the builder's build cache after the builds, and its size policy.
	BuildCache *BuildCache `json:"build_cache,omitempty"`
	// Filled in by the module.
	Duration float64 `json:"duration"`
	Verdict  string  `json:"verdict"`
	// LastSuccess is the start of the last run that passed (this one
	// included), FirstRun the start of the first run recorded: carried from
	// run to run in the history, so they outlive its window.
	LastSuccess string `json:"last_success,omitempty"`
	FirstRun    string `json:"first_run,omitempty"`
}

// BuildCache is what buildkit_cache state=info said of the builder's cache.
type BuildCache struct {
	Builder    string `json:"builder"`
	TotalBytes int64  `json:"total_bytes"`
	Limit      string `json:"limit"`           // a size such as 10GB (jenkins_images_cache_limit)
	Error      string `json:"error,omitempty"` // why it could not be measured
	// Measured is when (RFC 3339): a run that built nothing may take a
	// recent measurement (buildkit_image_set's report.cache_max_age).
	Measured string `json:"measured,omitempty"`
}

// Scan is an image's last vulnerability scan.
type Scan struct {
	Status   string         `json:"status"` // passed, failed, error, skipped
	Counts   map[string]int `json:"counts"`
	Findings []string       `json:"findings"`
	Report   string         `json:"report"` // Trivy's JSON on the build host
	SBOM     string         `json:"sbom"`
	Msg      string         `json:"msg,omitempty"`
	// TrivyReport is Trivy's JSON report copied beside the reports, relative
	// to reports_dir: the SARIF findings are read from it.
	TrivyReport string `json:"trivy_report,omitempty"`
	// From is the run whose scan of this same image is shown (an
	// unchanged image is not scanned again).
	From string `json:"from,omitempty"`
}

// ran says whether the scan ran and came to a verdict.
func (s *Scan) ran() bool { return s.Status == "passed" || s.Status == "failed" }

// Check is the outcome of one gate that the role decides itself
// (validation, metadata; signing when it is on).
type Check struct {
	Status   string  `json:"status"` // passed, failed, skipped
	Detail   string  `json:"detail"`
	Duration float64 `json:"duration,omitempty"`
}

// Deployed is the image that the deploy tag holds after the run.
type Deployed struct {
	ImageID string `json:"image_id"`
	Created string `json:"created"` // RFC 3339, from the engine
}

// CreatedAt is when the deployed image was built.
func (d *Deployed) CreatedAt() (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, d.Created)
	return t, err == nil && !t.IsZero()
}

// Entry is one image's result.
type Entry struct {
	Image              string   `json:"image"`
	Built              bool     `json:"built"`
	Status             string   `json:"status"`
	Method             string   `json:"method"`
	Builder            string   `json:"builder"` // e.g. "buildkit (docker-container jenkins-builder)"
	BuildReason        string   `json:"build_reason"`
	ImageID            string   `json:"image_id"`
	Size               int64    `json:"size"`
	Duration           float64  `json:"duration"`
	CacheHitRatio      *float64 `json:"cache_hit_ratio"`
	Gate               string   `json:"gate"`
	Validated          *bool    `json:"validated"`
	Promoted           bool     `json:"promoted"`
	DeployTag          string   `json:"deploy_tag"`
	RollbackTag        *string  `json:"rollback_tag"`
	Error              string   `json:"error"`
	ScanDuration       *float64 `json:"scan_duration"`
	ValidationDuration *float64 `json:"validation_duration"`
	Scan               Scan     `json:"scan"`
	// Checks holds each gate's own outcome, where Gate names only the first
	// that failed: validation, metadata, and signing when it is on.
	Checks map[string]*Check `json:"checks,omitempty"`
	// Deployed is what the deploy tag holds after the run (nil: nothing).
	Deployed *Deployed `json:"deployed,omitempty"`
	// BuilderNodes are the nodes of a multi-node builder that built it, and
	// Placement where each share of the build ran and why (buildkit_image's
	// placement).
	BuilderNodes []string    `json:"builder_nodes,omitempty"`
	Placement    []Placement `json:"placement,omitempty"`
}

// Placement is where one share of a build ran on a multi-node builder.
type Placement struct {
	Node      string   `json:"node"`
	Platforms []string `json:"platforms"`
	Emulated  []string `json:"emulated,omitempty"`
	Reason    string   `json:"reason"`
	MovedFrom []struct {
		Node   string `json:"node"`
		Reason string `json:"reason"`
	} `json:"moved_from,omitempty"`
}

// Moved says where the build of the image moved away from, and why ("" when it did not).
func (e *Entry) Moved() string {
	var out []string
	for _, p := range e.Placement {
		for _, m := range p.MovedFrom {
			out = append(out, fmt.Sprintf("from %s to %s: %s", m.Node, p.Node, m.Reason))
		}
	}
	return strings.Join(out, "; ")
}

// Passed says whether the image is fine after this run: it passed its gates,
// or it was unchanged and already deployed.
func (e *Entry) Passed() bool { return e.Gate == "passed" || strings.HasPrefix(e.Gate, "not needed") }

// Images lists the report's images in a stable order: the controller, then agents by name.
func (r *Report) Images() []NamedEntry {
	var out []NamedEntry
	if r.BuildResults.Master != nil {
		out = append(out, NamedEntry{"master", r.BuildResults.Master})
	}
	names := make([]string, 0, len(r.BuildResults.Agents))
	for n := range r.BuildResults.Agents {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, NamedEntry{n, r.BuildResults.Agents[n]})
	}
	return out
}

// NamedEntry is an image and its result.
type NamedEntry struct {
	Name string
	*Entry
}

// Started is the run's start time.
func (r *Report) Started() time.Time { return parseTime(r.BuildTimestamp) }

// History holds the previous runs' reports, oldest first.
type History []*Report

// historyDir is where the module keeps one JSON report per run.
func historyDir(reportsDir string) string { return filepath.Join(reportsDir, "history") }

// LoadHistory reads the last n reports kept in reportsDir; unreadable files are skipped.
func LoadHistory(reportsDir string, n int) (History, error) {
	files, err := filepath.Glob(filepath.Join(historyDir(reportsDir), "build-report-*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	if len(files) > n {
		files = files[len(files)-n:]
	}
	var h History
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var r Report
		if json.Unmarshal(b, &r) == nil {
			h = append(h, &r)
		}
	}
	return h, nil
}

// Save keeps the report in the history, named by its start time.
func Save(reportsDir string, r *Report) (string, error) {
	dir := historyDir(reportsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := "build-report-" + r.Started().UTC().Format("20060102T150405Z") + ".json"
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, writeAtomic(path, b)
}

// writeAtomic writes a file through a temp file in the same directory, synced
// and renamed over it, so a reader (and a host that crashes) sees the old
// file or the new one, whole. The temp file is named after the writing
// process (tempfiles.File): one that a killed run left is removed by the next
// write of the same file, once its process is gone.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := tempfiles.File(path, "tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after the rename there is nothing to remove
	if _, err := f.Write(b); err != nil {
		f.Close()
		return writeError(path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return writeError(path, err)
	}
	if err := f.Close(); err != nil {
		return writeError(path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // the rename itself, on disk
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// writeError says what failed; a full file system is said so, with what
// was kept.
func writeError(path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("write %s: the file system is full (%v); the previous %s is kept as it was", path, err, filepath.Base(path))
	}
	return fmt.Errorf("write %s: %w", path, err)
}

// CarryOver gives each image that this run left unchanged (and so did not
// scan again) the scan of the same image ID from the latest earlier run that
// scanned it, so the page and the metrics keep showing its vulnerabilities.
func CarryOver(r *Report, earlier History) {
	for _, e := range r.Images() {
		if e.Status != "unchanged" || e.ImageID == "" || (e.Scan.Status != "" && e.Scan.Status != "skipped") {
			continue
		}
		p, run := lastScanOf(earlier, e.Name, e.ImageID)
		if p == nil {
			continue
		}
		e.Scan = p.Scan
		if e.Scan.From == "" {
			e.Scan.From = run.BuildTimestamp
		}
		e.ScanDuration = nil // no scan ran in this run
		if e.CacheHitRatio == nil {
			e.CacheHitRatio = p.CacheHitRatio
		}
	}
}

// lastScanOf finds the latest run in h that scanned image (by name) with
// this image ID, and the image's entry there.
func lastScanOf(h History, image, imageID string) (*Entry, *Report) {
	for i := len(h) - 1; i >= 0; i-- {
		for _, p := range h[i].Images() {
			if p.Name == image && p.ImageID == imageID && p.Scan.Status != "" && p.Scan.Status != "skipped" {
				return p.Entry, h[i]
			}
		}
	}
	return nil, nil
}

// DeployedScan is the last scan of the image the deploy tag holds after r:
// this run's (or carried over) when it is the candidate, else the latest
// scan of that image ID in h. Nil when none is known.
func DeployedScan(r *Report, e NamedEntry, h History) *Scan {
	if e.Deployed == nil || e.Deployed.ImageID == "" {
		return nil
	}
	if e.ImageID == e.Deployed.ImageID && e.Scan.ran() {
		return &e.Scan
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == r {
			continue
		}
		for _, p := range h[i].Images() {
			if p.Name == e.Name && p.ImageID == e.Deployed.ImageID && p.Scan.ran() {
				return &p.Scan
			}
		}
	}
	return nil
}

// Carry fills r's LastSuccess and FirstRun from the run before it (the last
// of earlier); histories written before these fields are read as they are.
func Carry(r *Report, earlier History) {
	r.FirstRun = r.BuildTimestamp
	if len(earlier) > 0 {
		r.FirstRun = earlier[0].BuildTimestamp
		if last := earlier[len(earlier)-1]; last.FirstRun != "" {
			r.FirstRun = last.FirstRun
		}
	}
	if r.Verdict == "passed" {
		r.LastSuccess = r.BuildTimestamp
		return
	}
	for i := len(earlier) - 1; i >= 0; i-- {
		p := earlier[i]
		if p.Verdict == "passed" {
			r.LastSuccess = p.BuildTimestamp
			return
		}
		if p.LastSuccess != "" {
			r.LastSuccess = p.LastSuccess
			return
		}
	}
}

// parseTime reads an RFC 3339 time of the report; zero when empty or not one.
func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// PruneScans removes the Trivy reports (*.trivy.json) kept beside the reports
// that no run in h refers to any more, in the directories the runs of h keep
// them in: the SARIF of every run in the history can still be read.
func PruneScans(reportsDir string, h History) error {
	keep := map[string]bool{}
	dirs := map[string]bool{}
	for _, r := range h {
		for _, e := range r.Images() {
			if p := e.Scan.TrivyReport; p != "" {
				if !filepath.IsAbs(p) {
					p = filepath.Join(reportsDir, p)
				}
				keep[filepath.Clean(p)] = true
				dirs[filepath.Dir(filepath.Clean(p))] = true
			}
		}
	}
	for dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.trivy.json"))
		if err != nil {
			return err
		}
		for _, f := range files {
			if !keep[filepath.Clean(f)] {
				if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
					return err
				}
			}
		}
	}
	return nil
}
