package buildkitreport

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/docker/go-units"
)

//go:embed page.html
var pageSource string

// styleSource is the pages' shared style sheet (template "style").
//
//go:embed style.html
var styleSource string

// funcs are the templates' helpers (page.html, hosts.html).
var funcs = template.FuncMap{
	"seconds": func(s float64) string {
		if s < 60 {
			return fmt.Sprintf("%.1f s", s)
		}
		return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
	},
	"percent": func(p *float64) string { return fmt.Sprintf("%.0f%%", *p*100) },
	"bytes":   func(n int64) string { return units.BytesSize(float64(n)) },
	"signedBytes": func(n int64) string {
		s := units.BytesSize(math.Abs(float64(n)))
		if n > 0 {
			return "+" + s
		}
		return "−" + s
	},
	"deref": func(v any) any {
		switch x := v.(type) {
		case *bool:
			return *x
		case *string:
			return *x
		}
		return v
	},
	"join": strings.Join,
}

var page = template.Must(template.Must(template.New("page").Funcs(funcs).Parse(pageSource)).Parse(styleSource))

type imageView struct {
	NamedEntry
	DurationPct int
	SizeDelta   int64
	StatusText  string
	StatusClass string
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
	if err := page.Execute(&buf, v); err != nil {
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
