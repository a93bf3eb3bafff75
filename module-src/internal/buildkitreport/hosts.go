package buildkitreport

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"
)

// HostsReport is one run of the role over several build hosts: each host's
// report (as buildkit_report kept it on that host's run), side by side. It
// is the host view of the HTML report and of the metrics.
type HostsReport struct {
	// BuildTimestamp is the earliest start of the hosts' runs.
	BuildTimestamp string `json:"build_timestamp"`
	Verdict        string `json:"verdict"`
	// Hosts are the hosts that reported, by name.
	Hosts map[string]*Report `json:"hosts"`
	// Missing are the play's hosts that did not get as far as a report
	// (unreachable, or failed before it).
	Missing []string `json:"missing_hosts"`
	Summary struct {
		Built     []string `json:"built"` // "host/image"
		Unchanged []string `json:"unchanged"`
		Promoted  []string `json:"promoted"`
		Failed    []string `json:"failed"`
	} `json:"summary"`
}

// HostImage is one image as one host built it.
type HostImage struct {
	Host string
	NamedEntry
}

// NewHostsReport puts the hosts' reports together.
func NewHostsReport(hosts map[string]*Report, missing []string) *HostsReport {
	hr := &HostsReport{Hosts: hosts, Missing: append([]string{}, missing...), Verdict: "passed"}
	sort.Strings(hr.Missing)
	var first time.Time
	for _, name := range hr.HostNames() {
		r := hosts[name]
		if r.BuildHost == "" {
			r.BuildHost = name
		}
		if t := r.Started(); !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
		if r.Verdict == "" {
			r.Verdict = "passed"
			if len(r.Summary.Failed) > 0 {
				r.Verdict = "failed"
			}
		}
		if r.Verdict != "passed" {
			hr.Verdict = "failed"
		}
		for _, e := range r.Images() {
			id := name + "/" + e.Name
			switch {
			case !e.Passed():
				hr.Summary.Failed = append(hr.Summary.Failed, id+": failed at the "+e.Gate+" gate")
			case e.Status == "built":
				hr.Summary.Built = append(hr.Summary.Built, id)
			default:
				hr.Summary.Unchanged = append(hr.Summary.Unchanged, id)
			}
			if e.Promoted {
				hr.Summary.Promoted = append(hr.Summary.Promoted, id)
			}
		}
	}
	if len(hr.Missing) > 0 {
		hr.Verdict = "failed"
		for _, m := range hr.Missing {
			hr.Summary.Failed = append(hr.Summary.Failed, m+": no report (the host did not get as far as its report)")
		}
	}
	if !first.IsZero() {
		hr.BuildTimestamp = first.UTC().Format(time.RFC3339)
	}
	return hr
}

// HostNames are the reporting hosts, sorted.
func (hr *HostsReport) HostNames() []string {
	names := make([]string, 0, len(hr.Hosts))
	for n := range hr.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Images are every host's images, by image then host.
func (hr *HostsReport) Images() []HostImage {
	var out []HostImage
	for _, h := range hr.HostNames() {
		for _, e := range hr.Hosts[h].Images() {
			out = append(out, HostImage{Host: h, NamedEntry: e})
		}
	}
	order := map[string]int{}
	for i, e := range out {
		if _, ok := order[e.Name]; !ok {
			order[e.Name] = i
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Name] < order[out[j].Name] })
	return out
}

type hostRow struct {
	Host                     string
	Report                   *Report
	Built, Unchanged, Failed int
	BuildSeconds             float64
	Builders                 []string
}

type hostsView struct {
	R       *HostsReport
	Rows    []hostRow
	Images  []imageRow
	Missing []string
}

type imageRow struct {
	HostImage
	StatusText, StatusClass string
}

// RenderHostsHTML is the host view: one row per host, one per image and host.
func RenderHostsHTML(hr *HostsReport) ([]byte, error) {
	v := hostsView{R: hr, Missing: hr.Missing}
	for _, h := range hr.HostNames() {
		r := hr.Hosts[h]
		row := hostRow{Host: h, Report: r}
		seen := map[string]bool{}
		for _, e := range r.Images() {
			switch {
			case !e.Passed():
				row.Failed++
			case e.Status == "built":
				row.Built++
			default:
				row.Unchanged++
			}
			if e.Built {
				row.BuildSeconds += e.Duration
				if e.Builder != "" && !seen[e.Builder] {
					seen[e.Builder] = true
					row.Builders = append(row.Builders, e.Builder)
				}
			}
		}
		v.Rows = append(v.Rows, row)
	}
	for _, e := range hr.Images() {
		ir := imageRow{HostImage: e}
		ir.StatusText, ir.StatusClass = e.NamedEntry.statusText()
		v.Images = append(v.Images, ir)
	}
	var buf bytes.Buffer
	if err := hostsPage(v).Render(context.Background(), &buf); err != nil {
		return nil, fmt.Errorf("render the hosts report: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteHostsMetrics writes the host view's metrics: whether each host
// reported and passed, its images by status and build time, and which host
// (and node of a multi-node builder) built each image. Their names differ
// from the per-host files' (jenkins_images_hosts_*), so node_exporter reads
// both from one directory.
func WriteHostsMetrics(path string, hr *HostsReport) error {
	var reg gauges
	gauge := reg.gauge
	passed := gauge("jenkins_images_hosts_passed", "1 if every build host of the last run reported and passed.")
	reported := gauge("jenkins_images_hosts_host_reported", "1 if the build host got as far as its report in the last run.", "host")
	hostPassed := gauge("jenkins_images_hosts_host_passed", "1 if the build host passed every gate of its images in the last run.", "host")
	images := gauge("jenkins_images_hosts_images", "Images of the last run on each build host, by status (built, unchanged, failed).", "host", "status")
	seconds := gauge("jenkins_images_hosts_build_seconds", "Seconds of image builds on each build host in the last run.", "host")
	builtOn := gauge("jenkins_images_hosts_image_built_on", "1 for the build host (and node of a multi-node builder) that built the image in the last run.", "image", "host", "node")
	passed.With(labels{}).Set(b2f(hr.Verdict == "passed"))
	for _, h := range hr.HostNames() {
		r := hr.Hosts[h]
		l := labels{"host": h}
		reported.With(l).Set(1)
		hostPassed.With(l).Set(b2f(r.Verdict == "passed"))
		count := map[string]int{"built": 0, "unchanged": 0, "failed": 0}
		total := 0.0
		for _, e := range r.Images() {
			switch {
			case !e.Passed():
				count["failed"]++
			case e.Status == "built":
				count["built"]++
			default:
				count["unchanged"]++
			}
			if e.Built {
				total += e.Duration
				nodes := e.BuilderNodes
				if len(nodes) == 0 {
					nodes = []string{e.Builder}
				}
				for _, n := range nodes {
					builtOn.With(labels{"image": e.Name, "host": h, "node": n}).Set(1)
				}
			}
		}
		for st, n := range count {
			images.With(labels{"host": h, "status": st}).Set(float64(n))
		}
		seconds.With(l).Set(total)
	}
	for _, m := range hr.Missing {
		reported.With(labels{"host": m}).Set(0)
		hostPassed.With(labels{"host": m}).Set(0)
	}
	if err := writeAtomic(path, reg.text()); err != nil {
		return fmt.Errorf("metrics_path: %w", err)
	}
	return nil
}

func hostBadge(verdict string) string {
	if verdict == "passed" {
		return "built"
	}
	return "failed"
}

// cacheText is a host's build cache as the host view shows it.
func cacheText(c *BuildCache) string {
	switch {
	case c == nil:
		return "—"
	case c.Error != "":
		return c.Error
	}
	return size(c.TotalBytes) + " (" + c.Builder + ")"
}
