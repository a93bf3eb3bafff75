// Package buildkitreport is the buildkit_report module: it turns the
// jenkins_images role's build report into a self-contained HTML page (with a
// history of the previous runs) and Prometheus metrics for node_exporter's
// textfile collector.
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
	// Filled in by the module.
	Duration float64 `json:"duration"`
	Verdict  string  `json:"verdict"`
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
	Scan               struct {
		Status   string         `json:"status"`
		Counts   map[string]int `json:"counts"`
		Findings []string       `json:"findings"`
		Report   string         `json:"report"`
		SBOM     string         `json:"sbom"`
		// From is the run whose scan of this same image is shown (an
		// unchanged image is not scanned again).
		From string `json:"from,omitempty"`
	} `json:"scan"`
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
func (r *Report) Started() time.Time {
	t, _ := time.Parse(time.RFC3339, r.BuildTimestamp)
	return t
}

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
	search:
		for i := len(earlier) - 1; i >= 0; i-- {
			for _, p := range earlier[i].Images() {
				if p.Name != e.Name || p.ImageID != e.ImageID || p.Scan.Status == "" || p.Scan.Status == "skipped" {
					continue
				}
				e.Scan = p.Scan
				if e.Scan.From == "" {
					e.Scan.From = earlier[i].BuildTimestamp
				}
				e.ScanDuration = nil // no scan ran in this run
				if e.CacheHitRatio == nil {
					e.CacheHitRatio = p.CacheHitRatio
				}
				break search
			}
		}
	}
}
