package buildkitreport

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/docker/go-units"
)

// The page is page.templ, compiled to Go by templ's generator (page_templ.go,
// committed; `make generate` after editing page.templ): no html/template, whose
// reflection would stop the linker from dropping unused methods binary-wide.

// duration is a duration as the page shows it: 42.5 s, 2m05s.
func duration(s float64) string {
	if s < 60 {
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
}

// percent is a ratio (0.75) as a percentage (75%).
func percent(p float64) string { return fmt.Sprintf("%.0f%%", p*100) }

// pct is a whole percentage as a CSS length (57%).
func pct(n int) string { return strconv.Itoa(n) + "%" }

// size is a size in bytes in binary units (9.537MiB).
func size(n int64) string { return units.BytesSize(float64(n)) }

// signedSize is a size change with its sign (+9.537MiB, −1KiB).
func signedSize(n int64) string {
	s := units.BytesSize(math.Abs(float64(n)))
	if n > 0 {
		return "+" + s
	}
	return "−" + s
}

// sizeDeltaClass colours a size change: up (grew) or down.
func sizeDeltaClass(n int64) string {
	if n > 0 {
		return "up"
	}
	return "down"
}

func verdictLabel(verdict string) string {
	if verdict == "passed" {
		return "PASSED"
	}
	return "FAILED"
}

// validation is the validation gate's outcome: passed, failed, or not run (nil).
func validation(v *bool) string {
	switch {
	case v == nil:
		return "not run"
	case *v:
		return "passed"
	}
	return "failed"
}

type imageView struct {
	NamedEntry
	DurationPct int
	SizeDelta   int64
	StatusText  string
	StatusClass string
}

// builtBy is what built the image: the builder, else the build method.
func (e imageView) builtBy() string {
	if e.Builder != "" {
		return e.Builder
	}
	return e.Method
}

// failure says which gate the image failed at, and why.
func (e imageView) failure() string {
	s := "Failed at the " + e.Gate + " gate"
	if len(e.Scan.Findings) > 0 {
		s += ": " + strings.Join(e.Scan.Findings, ", ")
	}
	if e.Error != "" {
		s += ": " + e.Error
	}
	return s
}

type runView struct {
	When     string
	Verdict  string
	Duration float64
	Height   int
}

type pageView struct {
	Report      *Report
	Verdict     string
	Images      []imageView
	History     []runView
	SuccessRate int
	MinDuration float64
	MaxDuration float64
}

// config is a value of the run's build configuration as text ("" when unset).
func (v pageView) config(key string) string {
	if x := v.Report.BuildConfiguration[key]; x != nil {
		return fmt.Sprint(x)
	}
	return ""
}

// RenderHTML is the page for r, with the runs of h (which includes r, last) as history.
func RenderHTML(r *Report, h History) ([]byte, error) {
	v := pageView{Report: r, Verdict: r.Verdict}
	var previous *Report
	if len(h) >= 2 {
		previous = h[len(h)-2]
	}
	var maxBuild float64
	for _, e := range r.Images() {
		maxBuild = math.Max(maxBuild, e.Duration)
	}
	for _, e := range r.Images() {
		iv := imageView{NamedEntry: e}
		if maxBuild > 0 {
			iv.DurationPct = int(math.Round(e.Duration / maxBuild * 100))
		}
		if previous != nil {
			for _, p := range previous.Images() {
				if p.Name == e.Name && p.Size > 0 && e.Size > 0 {
					iv.SizeDelta = e.Size - p.Size
				}
			}
		}
		iv.StatusText, iv.StatusClass = e.statusText()
		v.Images = append(v.Images, iv)
	}
	ok := 0
	v.MinDuration = math.Inf(1)
	for _, run := range h {
		v.MaxDuration = math.Max(v.MaxDuration, run.Duration)
		v.MinDuration = math.Min(v.MinDuration, run.Duration)
		if run.Verdict == "passed" {
			ok++
		}
	}
	if len(h) == 0 {
		v.MinDuration = 0
	} else {
		v.SuccessRate = ok * 100 / len(h)
	}
	for _, run := range h {
		height := 100
		if v.MaxDuration > 0 {
			height = int(math.Max(8, math.Round(run.Duration/v.MaxDuration*100)))
		}
		v.History = append(v.History, runView{When: run.BuildTimestamp, Verdict: run.Verdict, Duration: run.Duration, Height: height})
	}
	var buf bytes.Buffer
	if err := page(v).Render(context.Background(), &buf); err != nil {
		return nil, fmt.Errorf("render the HTML report: %w", err)
	}
	return buf.Bytes(), nil
}

// statusText is how the pages show an image's outcome: text and CSS class.
func (e NamedEntry) statusText() (text, class string) {
	switch {
	case !e.Passed():
		return "failed at " + e.Gate, "failed"
	case e.Status == "built":
		return "built", "built"
	}
	return "unchanged", "unchanged"
}
