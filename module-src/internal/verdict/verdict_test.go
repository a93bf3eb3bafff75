package verdict

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDecide(t *testing.T) {
	on := Settings{Scan: true, Validation: true, Metadata: true, FailOn: []string{"CRITICAL"}}
	signing := on
	signing.Sign = true
	check := on
	check.CheckMode = true
	checkSigning := signing
	checkSigning.CheckMode = true
	noFailOn := on
	noFailOn.FailOn = nil
	strictScanner := on
	strictScanner.FailOnScannerError = true
	force := on
	force.Force = true

	built := Build{Changed: true, ImageID: "sha256:new"}
	passedScan := &Scan{Status: "passed", Passed: true}
	failedScan := &Scan{Status: "failed", Msg: "2 CRITICAL findings"}
	errorScan := &Scan{Status: "error", Msg: "no vulnerability DB"}
	okChecks := []Check{{Name: "java"}, {Name: "tool"}}
	badChecks := []Check{{Name: "java"}, {Name: "tool", Failed: true, Msg: "tool: output lacks Apache Maven"}}
	deployed := "sha256:old"

	for _, c := range []struct {
		name     string
		s        Settings
		img      Image
		gate     string
		reason   string
		promote  bool
		rollback bool
		sign     bool
		gated    bool
		scan     string
		would    bool
	}{
		{"build failed", on, Image{Build: Build{Failed: true, Msg: "build of x failed: RUN false"}, Deployed: deployed},
			GateBuild, "build of x failed: RUN false", false, false, false, false, "skipped", false},
		{"unchanged: the deploy tag holds the candidate", on, Image{Build: Build{ImageID: deployed}, Deployed: deployed},
			GateNotNeeded, "", false, false, false, false, "skipped", false},
		{"unchanged, forced: gated again", force, Image{Build: Build{ImageID: deployed}, Deployed: deployed, Scan: passedScan, Checks: okChecks},
			GatePassed, "", true, true, false, true, "passed", false},
		{"new image, nothing deployed yet: promoted, no rollback", on, Image{Build: built, Scan: passedScan, Checks: okChecks},
			GatePassed, "", true, false, false, true, "passed", false},
		{"passes every gate: promoted, the deployed image kept", on, Image{Build: built, Deployed: deployed, Scan: passedScan, Checks: okChecks},
			GatePassed, "", true, true, false, true, "passed", false},
		{"scan fails alone", on, Image{Build: built, Deployed: deployed, Scan: failedScan, Checks: okChecks},
			GateScan, "2 CRITICAL findings", false, false, false, true, "failed", false},
		{"scan fails, no severity fails the gate", noFailOn, Image{Build: built, Deployed: deployed, Scan: failedScan, Checks: okChecks},
			GatePassed, "", true, true, false, true, "failed", false},
		{"scanner error, tolerated", on, Image{Build: built, Deployed: deployed, Scan: errorScan},
			GatePassed, "", true, true, false, true, "error", false},
		{"scanner error, fail_on_scanner_error", strictScanner, Image{Build: built, Deployed: deployed, Scan: errorScan},
			GateScan, "no vulnerability DB", false, false, false, true, "error", false},
		{"a scan with no status counts as an error", strictScanner, Image{Build: built, Scan: &Scan{Msg: "scan_path: bad"}},
			GateScan, "scan_path: bad", false, false, false, true, "error", false},
		{"validation fails alone", on, Image{Build: built, Deployed: deployed, Scan: passedScan, Checks: badChecks},
			GateValidation, "tool: output lacks Apache Maven", false, false, false, true, "passed", false},
		{"metadata fails alone", on, Image{Build: built, Deployed: deployed, Scan: passedScan, Checks: okChecks,
			Metadata: []string{"runs as root (no USER)", "has no HEALTHCHECK"}},
			GateMetadata, "runs as root (no USER); has no HEALTHCHECK", false, false, false, true, "passed", false},
		{"signing fails alone", signing, Image{Build: built, Deployed: deployed, Scan: passedScan, Checks: okChecks,
			Signing: Signing{Error: "key: wrong password"}},
			GateSigning, "key: wrong password", false, false, true, true, "passed", false},
		{"signing never reached", signing, Image{Build: built, Deployed: deployed, Scan: passedScan, Checks: okChecks},
			GateSigning, "not signed", false, false, true, true, "passed", false},
		{"signed and verified: promoted", signing, Image{Build: built, Deployed: deployed, Scan: passedScan, Checks: okChecks,
			Signing: Signing{OK: true, Digest: "sha256:d"}},
			GatePassed, "", true, true, true, true, "passed", false},
		{"scan and validation fail: the scan is the gate named", on, Image{Build: built, Deployed: deployed, Scan: failedScan, Checks: badChecks},
			GateScan, "2 CRITICAL findings", false, false, false, true, "failed", false},
		{"validation and metadata fail: validation is named", on, Image{Build: built, Scan: passedScan, Checks: badChecks, Metadata: []string{"no label x"}},
			GateValidation, "tool: output lacks Apache Maven", false, false, false, true, "passed", false},
		{"every gate fails with signing on: nothing is signed", signing, Image{Build: built, Deployed: deployed, Scan: failedScan, Checks: badChecks,
			Metadata: []string{"no label x"}},
			GateScan, "2 CRITICAL findings", false, false, false, true, "failed", false},
		{"gates off: promoted", Settings{}, Image{Build: built, Deployed: deployed},
			GatePassed, "", true, true, false, true, "skipped", false},
		{"a scan result with the gate off is not read", Settings{Validation: true}, Image{Build: built, Scan: failedScan},
			GatePassed, "", true, false, false, true, "skipped", false},
		{"check mode, would be built: promotion waits for a real run", check, Image{Build: Build{Changed: true, ImageID: deployed}, Deployed: deployed},
			GatePassed, "", false, true, false, true, "skipped", true},
		{"check mode, a new image would be built", check, Image{Build: Build{Changed: true}},
			GatePassed, "", false, false, false, true, "skipped", true},
		{"check mode, a candidate left by a failed run: promotion predicted", check, Image{Build: Build{ImageID: "sha256:left"}, Deployed: deployed, Scan: failedScan},
			GatePassed, "", true, true, false, true, "skipped", false},
		{"check mode with signing: no signing gate", checkSigning, Image{Build: Build{ImageID: "sha256:left"}, Deployed: deployed},
			GatePassed, "", true, true, false, true, "skipped", false},
		{"check mode, unchanged", check, Image{Build: Build{ImageID: deployed}, Deployed: deployed},
			GateNotNeeded, "", false, false, false, false, "skipped", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := Decide(c.s, c.img)
			assert.Equal(t, c.gate, v.Gate, "gate")
			assert.Equal(t, c.reason, v.Reason, "reason")
			assert.Equal(t, c.promote, v.Promote, "promote")
			assert.Equal(t, c.rollback, v.Rollback, "rollback")
			assert.Equal(t, c.sign, v.Sign, "sign")
			assert.Equal(t, c.gated, v.Gated, "gated")
			assert.Equal(t, c.scan, v.ScanStatus, "scan status")
			assert.Equal(t, c.would, v.WouldBuild, "would build")
			assert.Equal(t, v.Gate == GatePassed || v.Gate == GateNotNeeded, v.Passed())
			if v.Promote {
				assert.True(t, v.Passed(), "only a candidate that passed is promoted")
				assert.True(t, v.ScanOK && v.Validated && v.MetadataOK, "only after every gate")
				if c.s.Sign && !c.s.CheckMode {
					assert.True(t, c.img.Signing.OK, "never unsigned when signing is on")
				}
			}
		})
	}
}

func TestSummaryNamesTheGateAndWhy(t *testing.T) {
	s := Settings{Scan: true, Validation: true, Metadata: true, FailOn: []string{"CRITICAL"}}
	built := Build{Changed: true, ImageID: "sha256:new"}
	cases := []struct {
		img      Image
		findings []string
		want     string
	}{
		{Image{Build: built, Scan: &Scan{Status: "failed", Msg: "x"}}, []string{"CVE-1", "CVE-2"}, "python: failed at the scan gate (CVE-1, CVE-2)"},
		{Image{Build: built, Checks: []Check{{Failed: true, Msg: "did not answer 200 within 5s (budget)"}}}, nil,
			"python: failed at the validation gate - did not answer 200 within 5s (budget)"},
		{Image{Build: built, Metadata: []string{"runs as root (no USER)", "has no HEALTHCHECK"}}, nil,
			"python: failed at the metadata gate - runs as root (no USER); has no HEALTHCHECK"},
		{Image{Build: Build{Failed: true, Msg: "boom"}}, nil, "python: failed at the build gate - boom"},
		{Image{Build: Build{Failed: true}}, nil, "python: failed at the build gate"},
		{Image{Build: built}, nil, ""},
		{Image{Build: Build{ImageID: "a"}, Deployed: "a"}, nil, ""},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Summary("python", Decide(s, c.img), c.findings))
	}
}

func TestMetadataRules(t *testing.T) {
	oci := []string{"org.opencontainers.image.version", "org.opencontainers.image.revision"}
	controller := MetadataRules{Labels: oci, NonRoot: true, Expose: []string{"8080/tcp"}, Healthcheck: true}
	agent := MetadataRules{Labels: oci, NonRoot: true}
	good := Config{Labels: map[string]string{oci[0]: "1", oci[1]: "abc"}, User: "jenkins", ExposedPorts: []string{"8080/tcp", "50000/tcp"}, Healthcheck: true}
	assert.Empty(t, controller.Problems(good))
	assert.Empty(t, agent.Problems(Config{Labels: good.Labels, User: "1000"}))
	for _, user := range []string{"", "root", "0", "0:0"} {
		assert.Equal(t, []string{"runs as root (no USER)"}, agent.Problems(Config{Labels: good.Labels, User: user}), user)
	}
	assert.Equal(t, []string{"no label org.opencontainers.image.version", "no label org.opencontainers.image.revision",
		"runs as root (no USER)", "does not expose 8080/tcp", "has no HEALTHCHECK"}, controller.Problems(Config{}))
	assert.Equal(t, "OCI labels set, runs as a non-root user; exposes 8080/tcp, has a HEALTHCHECK", controller.Passed())
	assert.Equal(t, "OCI labels set, runs as a non-root user", agent.Passed())
	assert.Equal(t, "exposes 8080/tcp", MetadataRules{Expose: []string{"8080/tcp"}}.Passed())
}

func TestConfigOfAnInspectDocument(t *testing.T) {
	doc := map[string]any{"Config": map[string]any{"User": "jenkins", "Labels": map[string]any{"a": "1"},
		"ExposedPorts": map[string]any{"8080/tcp": map[string]any{}}, "Healthcheck": map[string]any{"Test": []any{"CMD", "true"}}}}
	c := ConfigOf(doc)
	assert.Equal(t, Config{Labels: map[string]string{"a": "1"}, User: "jenkins", ExposedPorts: []string{"8080/tcp"}, Healthcheck: true}, c)
	empty := ConfigOf(map[string]any{"Config": map[string]any{"Labels": nil, "ExposedPorts": nil, "Healthcheck": nil}})
	assert.Equal(t, Config{Labels: map[string]string{}}, empty)
}
