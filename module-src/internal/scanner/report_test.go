package scanner

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleReport = `{
  "SchemaVersion": 2,
  "ArtifactName": "img",
  "Metadata": {"OS": {"Family": "alpine", "Name": "3.22.1"}},
  "Results": [
    {"Target": "img (alpine 3.22.1)", "Class": "os-pkgs", "Type": "alpine",
     "Packages": [{"Name": "busybox"}, {"Name": "musl"}],
     "Vulnerabilities": [
       {"VulnerabilityID": "CVE-2099-0002", "PkgName": "busybox", "InstalledVersion": "1.36.1-r2", "Severity": "CRITICAL", "Status": "affected"},
       {"VulnerabilityID": "CVE-2099-0001", "PkgName": "busybox", "InstalledVersion": "1.36.1-r2", "FixedVersion": "1.36.1-r5", "Severity": "CRITICAL", "Status": "fixed"},
       {"VulnerabilityID": "CVE-2099-0003", "PkgName": "musl", "InstalledVersion": "1.2.5-r0", "FixedVersion": "1.2.5-r1", "Severity": "HIGH", "Status": "fixed"},
       {"VulnerabilityID": "CVE-2099-0004", "PkgName": "musl", "InstalledVersion": "1.2.5-r0", "Severity": "LOW", "Status": "affected"},
       {"VulnerabilityID": "CVE-2099-0005", "PkgName": "musl", "InstalledVersion": "1.2.5-r0", "Severity": "WEIRD"},
       {"VulnerabilityID": "CVE-2099-0001", "PkgName": "busybox", "InstalledVersion": "1.36.1-r2", "FixedVersion": "1.36.1-r5", "Severity": "CRITICAL", "Status": "fixed"}
     ]}
  ]
}`

func TestGate(t *testing.T) {
	r, err := ParseReport([]byte(sampleReport))
	require.NoError(t, err)

	cases := []struct {
		name    string
		gate    Gate
		passed  bool
		counts  map[string]int
		failing []string
	}{
		{"critical fails", Gate{FailOn: []string{"CRITICAL"}}, false,
			map[string]int{"critical": 2, "high": 1, "medium": 0, "low": 1, "unknown": 1}, []string{"CVE-2099-0001", "CVE-2099-0002"}},
		{"ignore unfixed drops the unfixed critical", Gate{FailOn: []string{"CRITICAL"}, IgnoreUnfixed: true}, false,
			map[string]int{"critical": 1, "high": 1, "medium": 0, "low": 0, "unknown": 0}, []string{"CVE-2099-0001"}},
		{"high and critical, worst first", Gate{FailOn: []string{"high", "CRITICAL"}}, false,
			map[string]int{"critical": 2, "high": 1, "medium": 0, "low": 1, "unknown": 1}, []string{"CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0003"}},
		{"medium only passes", Gate{FailOn: []string{"MEDIUM"}}, true,
			map[string]int{"critical": 2, "high": 1, "medium": 0, "low": 1, "unknown": 1}, nil},
		{"unknown severities count as UNKNOWN", Gate{FailOn: []string{"UNKNOWN"}}, false,
			map[string]int{"critical": 2, "high": 1, "medium": 0, "low": 1, "unknown": 1}, []string{"CVE-2099-0005"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := c.gate.Apply(r)
			assert.Equal(t, c.passed, v.Passed)
			assert.Equal(t, c.counts, v.Counts)
			var ids []string
			for _, f := range v.Failing {
				ids = append(ids, f.ID)
			}
			assert.Equal(t, c.failing, ids)
			assert.Equal(t, 2, v.Packages)
		})
	}
}

func TestSummaryNamesTheWorstFindings(t *testing.T) {
	r, err := ParseReport([]byte(sampleReport))
	require.NoError(t, err)
	v := Gate{FailOn: []string{"CRITICAL", "HIGH"}}.Apply(r)
	assert.Equal(t, "CRITICAL CVE-2099-0001 (busybox 1.36.1-r2, fixed in 1.36.1-r5); CRITICAL CVE-2099-0002 (busybox 1.36.1-r2, no fix yet); and 1 more", v.Summary(2))
}

func TestParseReportRejectsOtherSchemas(t *testing.T) {
	_, err := ParseReport([]byte(`{"SchemaVersion": 1}`))
	assert.ErrorContains(t, err, "schema version 1")
	_, err = ParseReport([]byte(`not json`))
	assert.Error(t, err)
}
