package buildkitreport

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/go-units"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Options are the module's arguments after validation.
type Options struct {
	Report                 map[string]any `json:"report"`
	ReportsDir             string         `json:"reports_dir"`
	HTMLPath               string         `json:"html_path"`
	MetricsPath            string         `json:"metrics_path"`
	JUnitPath              string         `json:"junit_path"`
	SARIFPath              string         `json:"sarif_path"`
	YAMLPath               string         `json:"yaml_path"`
	JSONPath               string         `json:"json_path"`
	ScansArchive           string         `json:"scans_archive"`
	HistorySize            int            `json:"history_size"`
	MaxImageAgeDays        int            `json:"max_image_age_days"`
	MaxHoursWithoutSuccess int            `json:"max_hours_without_success"`
	// HostReports are the reports of several build hosts of one run (the
	// host view), instead of one report.
	HostReports  map[string]any `json:"host_reports"`
	MissingHosts []string       `json:"missing_hosts"`
}

// Spec is the module's argument spec.
func Spec() module.Spec {
	return module.Spec{Options: map[string]*module.Option{
		"report":                    {Type: module.TypeDict},
		"host_reports":              {Type: module.TypeDict},
		"missing_hosts":             {Type: module.TypeList, Elements: module.TypeStr},
		"reports_dir":               {Type: module.TypePath, Required: true},
		"html_path":                 {Type: module.TypePath},
		"metrics_path":              {Type: module.TypePath},
		"junit_path":                {Type: module.TypePath},
		"sarif_path":                {Type: module.TypePath},
		"yaml_path":                 {Type: module.TypePath},
		"json_path":                 {Type: module.TypePath},
		"scans_archive":             {Type: module.TypePath},
		"history_size":              {Type: module.TypeInt, Default: 20},
		"max_image_age_days":        {Type: module.TypeInt, Default: 30},
		"max_hours_without_success": {Type: module.TypeInt, Default: 26},
	}, RequiredOneOf: [][]string{{"report", "host_reports"}}, MutuallyExclusive: [][]string{{"report", "host_reports"}},
		Returns: returns()}
}

// returns declares the module's result keys (documented in RETURN).
func returns() map[string]*module.Return {
	str := &module.Return{Type: module.TypeStr}
	return map[string]*module.Return{
		"verdict":      str,
		"duration":     {Type: module.TypeFloat},
		"report":       {Type: module.TypeDict},
		"history_file": str,
		"history_runs": {Type: module.TypeInt},
		"html_path":    str,
		"metrics_path": str,
		"junit_path":   str,
		"sarif_path":   str,
		"yaml_path":    str,
		"json_path":    str,
		"hosts_report": {Type: module.TypeDict},
	}
}

// Run keeps the report in the history, and writes the HTML page and the metrics.
func Run(ctx context.Context, m *module.Module) (module.Result, error) {
	var o Options
	if err := m.Decode(&o); err != nil {
		return module.Result{}, err
	}
	if o.HostReports != nil {
		return runHosts(m, o)
	}
	if o.HistorySize < 1 {
		return module.Result{}, fmt.Errorf("history_size: must be 1 or more, got %d", o.HistorySize)
	}
	if o.MaxImageAgeDays < 1 {
		return module.Result{}, fmt.Errorf("max_image_age_days: must be 1 or more, got %d", o.MaxImageAgeDays)
	}
	if o.MaxHoursWithoutSuccess < 1 {
		return module.Result{}, fmt.Errorf("max_hours_without_success: must be 1 or more, got %d", o.MaxHoursWithoutSuccess)
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
	if c := r.BuildCache; c != nil && c.Limit != "" {
		if _, err := units.RAMInBytes(c.Limit); err != nil {
			return module.Result{}, fmt.Errorf("report: build_cache.limit %q is not a size such as 10GB: %v", c.Limit, err)
		}
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
	if o.ScansArchive != "" {
		if err := UnpackScans(o.ScansArchive, o.ReportsDir); err != nil {
			m.Warn(fmt.Sprintf("scans_archive: %v (the SARIF report says the findings are not listed)", err))
		}
	}
	KeptScans(&r, o.ReportsDir)
	CarryOver(&r, h)
	Carry(&r, h)
	h = append(h, &r)
	// Every document is rendered before anything is written: a report that
	// cannot be rendered leaves the history and the last documents as they were.
	docs := []struct {
		option, path string
		render       func() ([]byte, error)
	}{
		{"html_path", o.HTMLPath, func() ([]byte, error) { return RenderHTML(&r, h) }},
		{"junit_path", o.JUnitPath, func() ([]byte, error) { return RenderJUnit(&r) }},
		{"sarif_path", o.SARIFPath, func() ([]byte, error) { return RenderSARIF(&r, o.ReportsDir) }},
		{"yaml_path", o.YAMLPath, func() ([]byte, error) { return RenderYAML(&r) }},
		{"json_path", o.JSONPath, func() ([]byte, error) { return RenderJSON(&r) }},
	}
	rendered := make([][]byte, len(docs))
	for i, d := range docs {
		if d.path != "" {
			if rendered[i], err = d.render(); err != nil {
				return module.Result{}, err
			}
		}
	}
	saved, err := Save(o.ReportsDir, &r)
	if err != nil {
		return module.Result{}, fmt.Errorf("reports_dir: %w", err)
	}
	data["history_file"] = saved
	data["report"] = &r // with the scans carried over to unchanged images
	data["history_runs"] = len(h)
	for i, d := range docs {
		if d.path == "" {
			continue
		}
		if err := writeAtomic(d.path, rendered[i]); err != nil {
			return module.Result{}, fmt.Errorf("%s: %w", d.option, err)
		}
		data[d.option] = d.path
	}
	if o.MetricsPath != "" {
		limits := Limits{ImageAge: time.Duration(o.MaxImageAgeDays) * 24 * time.Hour,
			WithoutSuccess: time.Duration(o.MaxHoursWithoutSuccess) * time.Hour}
		if err := WriteMetrics(o.MetricsPath, &r, h, limits); err != nil {
			return module.Result{}, err
		}
		data["metrics_path"] = o.MetricsPath
	}
	if err := PruneScans(o.ReportsDir, h); err != nil {
		m.Warn(fmt.Sprintf("reports_dir: old Trivy reports not removed: %v", err))
	}
	return module.Result{Changed: true, Msg: fmt.Sprintf("run %s: report written", r.Verdict), Data: data}, nil
}

// runHosts writes the host view of one run over several build hosts: the
// hosts' reports side by side (HTML, metrics, JSON). Each host's own run has
// kept its history and written its own documents.
func runHosts(m *module.Module, o Options) (module.Result, error) {
	if o.JUnitPath != "" || o.SARIFPath != "" {
		return module.Result{}, fmt.Errorf("junit_path/sarif_path: with host_reports, each host's own run writes them (reports_dir/<host>/)")
	}
	hosts := map[string]*Report{}
	for h, raw := range o.HostReports {
		b, err := json.Marshal(raw)
		if err != nil {
			return module.Result{}, err
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			return module.Result{}, fmt.Errorf("host_reports.%s: not a jenkins_build_report: %v", h, err)
		}
		if r.Started().IsZero() {
			return module.Result{}, fmt.Errorf("host_reports.%s: build_timestamp %q is not an RFC 3339 time", h, r.BuildTimestamp)
		}
		hosts[h] = &r
	}
	hr := NewHostsReport(hosts, o.MissingHosts)
	data := map[string]any{"verdict": hr.Verdict, "hosts_report": hr}
	if m.CheckMode {
		return module.Result{Changed: true, Data: data}, nil
	}
	var html, js []byte
	var err error
	if o.HTMLPath != "" {
		if html, err = RenderHostsHTML(hr); err != nil {
			return module.Result{}, err
		}
	}
	if js, err = json.MarshalIndent(hr, "", "  "); err != nil {
		return module.Result{}, err
	}
	for _, d := range []struct {
		option, path string
		b            []byte
	}{{"html_path", o.HTMLPath, html}, {"json_path", o.JSONPath, js}} {
		if d.path == "" {
			continue
		}
		if err := writeAtomic(d.path, d.b); err != nil {
			return module.Result{}, fmt.Errorf("%s: %w", d.option, err)
		}
		data[d.option] = d.path
	}
	if o.MetricsPath != "" {
		if err := WriteHostsMetrics(o.MetricsPath, hr); err != nil {
			return module.Result{}, err
		}
		data["metrics_path"] = o.MetricsPath
	}
	return module.Result{Changed: true, Msg: fmt.Sprintf("%d build hosts: %s", len(hosts), hr.Verdict), Data: data}, nil
}
