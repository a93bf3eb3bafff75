package buildkitreport

import (
	"bytes"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// WriteMetrics writes the run's metrics in the Prometheus text format for
// node_exporter's textfile collector, as prometheus.WriteToTextfile does but
// through writeAtomic (synced, and no temp file left by a killed run). h is
// the history including r, for the last success of each image.
func WriteMetrics(path string, r *Report, h History) error {
	reg := prometheus.NewRegistry()
	host := r.BuildHost
	imageLabels := []string{"image", "host"}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		reg.MustRegister(g)
		return g
	}
	buildDuration := gauge("jenkins_image_build_duration_seconds", "Seconds the image's build took in the last run (0 when unchanged).", imageLabels...)
	success := gauge("jenkins_image_build_success", "1 if the image passed every gate (or was unchanged and deployed) in the last run, else 0.", imageLabels...)
	built := gauge("jenkins_image_built", "1 if the image was rebuilt in the last run.", imageLabels...)
	cacheHit := gauge("jenkins_image_cache_hit_ratio", "Share of build steps served from the build cache in the last build.", imageLabels...)
	size := gauge("jenkins_image_size_bytes", "Size of the candidate image.", imageLabels...)
	vulns := gauge("jenkins_image_vulnerabilities", "Vulnerabilities found by the last scan, by severity.", "image", "host", "severity")
	scanDuration := gauge("jenkins_image_scan_duration_seconds", "Seconds the last scan took.", imageLabels...)
	validationDuration := gauge("jenkins_image_validation_duration_seconds", "Seconds the last functional validation took.", imageLabels...)
	gateFailed := gauge("jenkins_image_gate_failed", "1 for the gate (build, scan, validation, metadata) at which the image failed in the last run.", "image", "host", "gate")
	lastSuccess := gauge("jenkins_image_last_success_timestamp_seconds", "Unix time of the last run in which the image passed.", imageLabels...)
	runSuccess := gauge("jenkins_images_run_success", "1 if the last run of the role passed for every image.", "host")
	runDuration := gauge("jenkins_images_run_duration_seconds", "Seconds the last run of the role took.", "host")
	runTime := gauge("jenkins_images_run_timestamp_seconds", "Unix time the last run started.", "host")

	for _, e := range r.Images() {
		l := prometheus.Labels{"image": e.Name, "host": host}
		if e.Built {
			buildDuration.With(l).Set(e.Duration)
			built.With(l).Set(1)
		} else {
			buildDuration.With(l).Set(0)
			built.With(l).Set(0)
		}
		success.With(l).Set(b2f(e.Passed()))
		if !e.Passed() {
			gateFailed.With(prometheus.Labels{"image": e.Name, "host": host, "gate": e.Gate}).Set(1)
		}
		if e.CacheHitRatio != nil {
			cacheHit.With(l).Set(*e.CacheHitRatio)
		}
		if e.Size > 0 {
			size.With(l).Set(float64(e.Size))
		}
		for _, sev := range []string{"critical", "high", "medium", "low", "unknown"} {
			if n, ok := e.Scan.Counts[sev]; ok {
				vulns.With(prometheus.Labels{"image": e.Name, "host": host, "severity": sev}).Set(float64(n))
			}
		}
		if e.ScanDuration != nil {
			scanDuration.With(l).Set(*e.ScanDuration)
		}
		if e.ValidationDuration != nil {
			validationDuration.With(l).Set(*e.ValidationDuration)
		}
		if t, ok := lastPassed(h, e.Name); ok {
			lastSuccess.With(l).Set(float64(t.Unix()))
		}
	}
	hl := prometheus.Labels{"host": host}
	runSuccess.With(hl).Set(b2f(r.Verdict == "passed"))
	runDuration.With(hl).Set(r.Duration)
	runTime.With(hl).Set(float64(r.Started().Unix()))
	families, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics_path: %w", err)
	}
	var text bytes.Buffer
	for _, mf := range families {
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			return fmt.Errorf("metrics_path: %w", err)
		}
	}
	if err := writeAtomic(path, text.Bytes()); err != nil {
		return fmt.Errorf("metrics_path: %w", err)
	}
	return nil
}

// lastPassed is the start of the last run in h in which image passed.
func lastPassed(h History, image string) (time.Time, bool) {
	for i := len(h) - 1; i >= 0; i-- {
		for _, e := range h[i].Images() {
			if e.Name == image && e.Passed() {
				return h[i].Started(), true
			}
		}
	}
	return time.Time{}, false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
