package buildkitreport

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Options are the module's arguments after validation.
type Options struct {
	Report      map[string]any `json:"report"`
	ReportsDir  string         `json:"reports_dir"`
	HTMLPath    string         `json:"html_path"`
	MetricsPath string         `json:"metrics_path"`
	HistorySize int            `json:"history_size"`
}

// Spec is the module's argument spec.
func Spec() module.Spec {
	return module.Spec{Options: map[string]*module.Option{
		"report":       {Type: module.TypeDict, Required: true},
		"reports_dir":  {Type: module.TypePath, Required: true},
		"html_path":    {Type: module.TypePath},
		"metrics_path": {Type: module.TypePath},
		"history_size": {Type: module.TypeInt, Default: 20},
	}}
}

// Run keeps the report in the history, and writes the HTML page and the metrics.
func Run(ctx context.Context, m *module.Module) (module.Result, error) {
	var o Options
	if err := m.Decode(&o); err != nil {
		return module.Result{}, err
	}
	if o.HistorySize < 1 {
		return module.Result{}, fmt.Errorf("history_size: must be 1 or more, got %d", o.HistorySize)
	}
	b, err := json.Marshal(o.Report)
	if err != nil {
		return module.Result{}, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return module.Result{}, fmt.Errorf("report: not a jenkins_build_report: %v", err)
	}
	if r.Started().IsZero() {
		return module.Result{}, fmt.Errorf("report: build_timestamp %q is not an RFC 3339 time", r.BuildTimestamp)
	}
	r.Duration = time.Since(r.Started()).Seconds()
	r.Verdict = "passed"
	if len(r.Summary.Failed) > 0 {
		r.Verdict = "failed"
	}
	data := map[string]any{"verdict": r.Verdict, "duration": r.Duration}
	if m.CheckMode {
		return module.Result{Changed: true, Data: data}, nil
	}
	h, err := LoadHistory(o.ReportsDir, o.HistorySize-1)
	if err != nil {
		return module.Result{}, fmt.Errorf("reports_dir: %w", err)
	}
	CarryOver(&r, h)
	h = append(h, &r)
	saved, err := Save(o.ReportsDir, &r)
	if err != nil {
		return module.Result{}, fmt.Errorf("reports_dir: %w", err)
	}
	data["history_file"] = saved
	data["report"] = &r // with the scans carried over to unchanged images
	data["history_runs"] = len(h)
	if o.HTMLPath != "" {
		page, err := RenderHTML(&r, h)
		if err != nil {
			return module.Result{}, err
		}
		if err := writeAtomic(o.HTMLPath, page); err != nil {
			return module.Result{}, fmt.Errorf("html_path: %w", err)
		}
		data["html_path"] = o.HTMLPath
	}
	if o.MetricsPath != "" {
		if err := WriteMetrics(o.MetricsPath, &r, h); err != nil {
			return module.Result{}, err
		}
		data["metrics_path"] = o.MetricsPath
	}
	return module.Result{Changed: true, Msg: fmt.Sprintf("run %s: report written", r.Verdict), Data: data}, nil
}
