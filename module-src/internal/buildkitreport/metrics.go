package buildkitreport

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/docker/go-units"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Limits are the alerting policy the metrics carry beside the facts, so the
// shipped alert rules (files/prometheus-alerts.yml) compare one with the
// other and the thresholds stay role variables.
type Limits struct {
	ImageAge       time.Duration // a deployed image older than this is stale
	WithoutSuccess time.Duration // this long without a passing run is an outage
}

// WriteMetrics writes the run's metrics in the Prometheus text format for
// node_exporter's textfile collector, through writeAtomic (synced, and no temp
// file left by a killed run).
// h is the history including r, for the last success of each image and the
// scans of deployed images.
func WriteMetrics(path string, r *Report, h History, limits Limits) error {
	var reg gauges
	host := r.BuildHost
	imageLabels := []string{"image", "host"}
	gauge := reg.gauge
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
	deployedVulns := gauge("jenkins_image_deployed_vulnerabilities", "Vulnerabilities, by severity, of the image the deploy tag holds, from its last scan.", "image", "host", "severity")
	deployedCreated := gauge("jenkins_image_deployed_created_timestamp_seconds", "Unix time the image the deploy tag holds was built.", imageLabels...)
	ageLimit := gauge("jenkins_images_image_age_limit_seconds", "A deployed image older than this is stale (jenkins_images_max_image_age_days).", "host")
	cacheBytes := gauge("jenkins_images_build_cache_bytes", "Size of the builder's build cache after the last run's builds.", "host", "builder")
	cacheLimit := gauge("jenkins_images_build_cache_limit_bytes", "Size policy of the builder's build cache (jenkins_images_cache_limit).", "host", "builder")
	lastRunSuccess := gauge("jenkins_images_last_success_timestamp_seconds", "Unix time the last run that passed for every image started.", "host")
	firstRun := gauge("jenkins_images_first_run_timestamp_seconds", "Unix time the first recorded run started.", "host")
	successLimit := gauge("jenkins_images_success_interval_limit_seconds", "Longest time without a passing run before it is an outage (jenkins_images_max_hours_without_success).", "host")

	for _, e := range r.Images() {
		l := labels{"image": e.Name, "host": host}
		if e.Built {
			buildDuration.With(l).Set(e.Duration)
			built.With(l).Set(1)
		} else {
			buildDuration.With(l).Set(0)
			built.With(l).Set(0)
		}
		success.With(l).Set(b2f(e.Passed()))
		if !e.Passed() {
			gateFailed.With(labels{"image": e.Name, "host": host, "gate": e.Gate}).Set(1)
		}
		if e.CacheHitRatio != nil {
			cacheHit.With(l).Set(*e.CacheHitRatio)
		}
		if e.Size > 0 {
			size.With(l).Set(float64(e.Size))
		}
		for _, sev := range []string{"critical", "high", "medium", "low", "unknown"} {
			if n, ok := e.Scan.Counts[sev]; ok {
				vulns.With(labels{"image": e.Name, "host": host, "severity": sev}).Set(float64(n))
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
		if e.Deployed != nil {
			if t, ok := e.Deployed.CreatedAt(); ok {
				deployedCreated.With(l).Set(float64(t.Unix()))
			}
			if scan := DeployedScan(r, e, h); scan != nil {
				for _, sev := range []string{"critical", "high", "medium", "low", "unknown"} {
					deployedVulns.With(labels{"image": e.Name, "host": host, "severity": sev}).Set(float64(scan.Counts[sev]))
				}
			}
		}
	}
	hl := labels{"host": host}
	runSuccess.With(hl).Set(b2f(r.Verdict == "passed"))
	runDuration.With(hl).Set(r.Duration)
	runTime.With(hl).Set(float64(r.Started().Unix()))
	if t := parseTime(r.LastSuccess); !t.IsZero() {
		lastRunSuccess.With(hl).Set(float64(t.Unix()))
	}
	if t := parseTime(r.FirstRun); !t.IsZero() {
		firstRun.With(hl).Set(float64(t.Unix()))
	}
	if limits.ImageAge > 0 {
		ageLimit.With(hl).Set(limits.ImageAge.Seconds())
	}
	if limits.WithoutSuccess > 0 {
		successLimit.With(hl).Set(limits.WithoutSuccess.Seconds())
	}
	if c := r.BuildCache; c != nil && c.Error == "" {
		bl := labels{"host": host, "builder": c.Builder}
		cacheBytes.With(bl).Set(float64(c.TotalBytes))
		if strings.TrimSpace(c.Limit) != "" {
			n, err := units.RAMInBytes(c.Limit)
			if err != nil {
				return fmt.Errorf("report.build_cache.limit: %q is not a size such as 10GB: %v", c.Limit, err)
			}
			cacheLimit.With(bl).Set(float64(n))
		}
	}
	if err := writeAtomic(path, reg.text()); err != nil {
		return fmt.Errorf("metrics_path: %w", err)
	}
	return nil
}

// gauges are the run's metric families: the few lines of a registry this
// report needs (a gauge per name, a sample per label set), written in the
// text format by Prometheus' own encoder (expfmt), sorted as a registry
// sorts them. (client_golang's registry and collectors cost the binary more
// than the rest of the report.)
type gauges struct{ families []*gaugeVec }

type labels map[string]string

type gaugeVec struct {
	name, help string
	labels     []string
	samples    map[string]*dto.Metric
}

func (g *gauges) gauge(name, help string, labelNames ...string) *gaugeVec {
	v := &gaugeVec{name: name, help: help, labels: labelNames, samples: map[string]*dto.Metric{}}
	g.families = append(g.families, v)
	return v
}

// gaugeSample is one labelled gauge of v.
type gaugeSample struct{ m *dto.Metric }

func (v *gaugeVec) With(l labels) gaugeSample {
	var key strings.Builder
	pairs := make([]*dto.LabelPair, 0, len(v.labels))
	for _, n := range v.labels {
		val := l[n]
		key.WriteString(val + "\x00")
		pairs = append(pairs, &dto.LabelPair{Name: proto(n), Value: proto(val)})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].GetName() < pairs[j].GetName() })
	m, ok := v.samples[key.String()]
	if !ok {
		m = &dto.Metric{Label: pairs, Gauge: &dto.Gauge{Value: new(float64)}}
		v.samples[key.String()] = m
	}
	return gaugeSample{m}
}

func (s gaugeSample) Set(f float64) { *s.m.Gauge.Value = f }

// text is the families in the Prometheus text format, by name, each one's
// samples by their label values.
func (g *gauges) text() []byte {
	sort.Slice(g.families, func(i, j int) bool { return g.families[i].name < g.families[j].name })
	var buf bytes.Buffer
	for _, v := range g.families {
		if len(v.samples) == 0 {
			continue
		}
		keys := make([]string, 0, len(v.samples))
		for k := range v.samples {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		mf := &dto.MetricFamily{Name: proto(v.name), Help: proto(v.help), Type: dto.MetricType_GAUGE.Enum()}
		for _, k := range keys {
			mf.Metric = append(mf.Metric, v.samples[k])
		}
		_, _ = expfmt.MetricFamilyToText(&buf, mf)
	}
	return buf.Bytes()
}

func proto(s string) *string { return &s }

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
