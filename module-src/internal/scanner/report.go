// Package scanner runs the Trivy CLI on an image and decides a vulnerability
// gate from its JSON report in Go (Trivy's own --severity would filter the
// report and the exit code together).
package scanner

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Severities in Trivy's order, worst first.
var Severities = []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}

func severityRank(s string) int {
	for i, v := range Severities {
		if v == s {
			return i
		}
	}
	return len(Severities)
}

// Report is the part of Trivy's JSON report the gate reads.
type Report struct {
	SchemaVersion int    `json:"SchemaVersion"`
	ArtifactName  string `json:"ArtifactName"`
	Metadata      struct {
		OS *struct {
			Family string `json:"Family"`
			Name   string `json:"Name"`
			EOSL   bool   `json:"EOSL"`
		} `json:"OS"`
	} `json:"Metadata"`
	Results []struct {
		Target          string          `json:"Target"`
		Class           string          `json:"Class"`
		Type            string          `json:"Type"`
		Packages        []any           `json:"Packages"`
		Vulnerabilities []Vulnerability `json:"Vulnerabilities"`
	} `json:"Results"`
}

// Vulnerability is one finding.
type Vulnerability struct {
	VulnerabilityID  string `json:"VulnerabilityID"`
	PkgName          string `json:"PkgName"`
	InstalledVersion string `json:"InstalledVersion"`
	FixedVersion     string `json:"FixedVersion"`
	Severity         string `json:"Severity"`
	Status           string `json:"Status"`
	Title            string `json:"Title"`
}

// ParseReport reads a Trivy JSON report.
func ParseReport(b []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse Trivy report: %w", err)
	}
	if r.SchemaVersion != 2 {
		return nil, fmt.Errorf("parse Trivy report: schema version %d, expected 2", r.SchemaVersion)
	}
	return &r, nil
}

// Finding is a vulnerability as the module reports it.
type Finding struct {
	ID        string `json:"id"`
	Package   string `json:"package"`
	Installed string `json:"installed"`
	Fixed     string `json:"fixed"`
	Severity  string `json:"severity"`
	Status    string `json:"status"`
	Target    string `json:"target"`
}

// Gate is the user's threshold.
type Gate struct {
	FailOn        []string // severities that fail the gate
	IgnoreUnfixed bool     // findings without a fixed version do not count at all
}

// Verdict is the gate applied to a report.
type Verdict struct {
	Passed   bool
	Counts   map[string]int // lower-case severity -> findings that count
	Failing  []Finding      // findings at a failing severity, worst first
	Packages int            // packages Trivy found
}

// Apply counts the report's findings by severity and fails the gate on any
// finding at a severity in FailOn. Trivy's ignore file was applied by Trivy.
func (g Gate) Apply(r *Report) Verdict {
	v := Verdict{Passed: true, Counts: map[string]int{}}
	for _, s := range Severities {
		v.Counts[strings.ToLower(s)] = 0
	}
	failOn := map[string]bool{}
	for _, s := range g.FailOn {
		failOn[strings.ToUpper(s)] = true
	}
	seen := map[string]bool{}
	for _, res := range r.Results {
		v.Packages += len(res.Packages)
		for _, x := range res.Vulnerabilities {
			if g.IgnoreUnfixed && x.FixedVersion == "" {
				continue
			}
			// The same CVE in the same package can be reported per target; count it once.
			key := x.VulnerabilityID + "\x00" + x.PkgName + "\x00" + x.InstalledVersion
			if seen[key] {
				continue
			}
			seen[key] = true
			sev := strings.ToUpper(x.Severity)
			if severityRank(sev) == len(Severities) {
				sev = "UNKNOWN"
			}
			v.Counts[strings.ToLower(sev)]++
			if failOn[sev] {
				v.Passed = false
				v.Failing = append(v.Failing, Finding{ID: x.VulnerabilityID, Package: x.PkgName, Installed: x.InstalledVersion,
					Fixed: x.FixedVersion, Severity: sev, Status: x.Status, Target: res.Target})
			}
		}
	}
	sort.SliceStable(v.Failing, func(i, j int) bool {
		a, b := v.Failing[i], v.Failing[j]
		if severityRank(a.Severity) != severityRank(b.Severity) {
			return severityRank(a.Severity) < severityRank(b.Severity)
		}
		return a.ID < b.ID
	})
	return v
}

// Summary names the worst failing findings, for the failure message.
func (v Verdict) Summary(max int) string {
	var parts []string
	for i, f := range v.Failing {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(v.Failing)-max))
			break
		}
		fix := "no fix yet"
		if f.Fixed != "" {
			fix = "fixed in " + f.Fixed
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s %s, %s)", f.Severity, f.ID, f.Package, f.Installed, fix))
	}
	return strings.Join(parts, "; ")
}
