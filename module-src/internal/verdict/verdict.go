// Package verdict decides what happens to each candidate of an image set:
// whether it goes through the gates at all, the first gate it failed and
// why, whether it is signed, and whether the deploy tag moves to it (and the
// deployed image to the rollback tag first). It is the one place of these
// rules, with no I/O: buildkit_image_set feeds it what the builds, scans,
// probes, metadata and signing said, and acts on what it decides.
package verdict

import (
	"slices"
	"strings"
)

// The gates, in the order a candidate meets them. Gate names what stopped a
// candidate: one of these, GatePassed, or GateNotNeeded.
const (
	GateBuild      = "build"
	GateScan       = "scan"
	GateValidation = "validation"
	GateMetadata   = "metadata"
	GateSigning    = "signing"
	GatePassed     = "passed"
	// GateNotNeeded: the candidate is the image the deploy tag already holds.
	GateNotNeeded = "not needed (already deployed)"
)

// Settings are the run's switches.
type Settings struct {
	Scan       bool // the vulnerability gate is on
	Validation bool // functional validation is on
	Metadata   bool // the metadata gate is on
	Sign       bool // candidates are signed and verified before promotion
	// FailOn are the severities that fail the scan gate; none: the scan
	// runs and is reported, but never fails the gate.
	FailOn []string
	// FailOnScannerError: a scan that came to no verdict fails the gate.
	FailOnScannerError bool
	// Force: every candidate goes through the gates, even one the deploy
	// tag already holds.
	Force bool
	// CheckMode: nothing runs; what a real run would do is predicted.
	CheckMode bool
}

// Build is what building the candidate did.
type Build struct {
	Failed bool
	Msg    string
	// Changed: the candidate's image changed (check mode: would change).
	Changed bool
	// ImageID is the candidate's image ID after the build ("" when there is
	// none; in check mode, the image under the candidate tag now).
	ImageID string
}

// Scan is what the vulnerability scan said (nil: it did not run).
type Scan struct {
	Status string // passed, failed or error ("" counts as error)
	Passed bool
	Msg    string
}

// Check is one validation probe's outcome.
type Check struct {
	Name     string
	Failed   bool
	Msg      string
	Duration float64
}

// Signing is what signing and verifying the candidate said.
type Signing struct {
	OK     bool   // signed and verified
	Digest string // the digest signed and verified
	Error  string // the first failure of push, sign, verify
}

// Image is one candidate and what its steps said.
type Image struct {
	Build Build
	// Deployed is the image ID the deploy tag held before the run ("": none).
	Deployed string
	Scan     *Scan
	Checks   []Check
	// Metadata are the metadata gate's problems (none: it passed, or did not run).
	Metadata []string
	Signing  Signing
}

// Verdict is what happens to a candidate.
type Verdict struct {
	// Gated: the candidate goes through the gates (it built, and it is not
	// the deployed image, or Force).
	Gated bool
	// ScanStatus is the scan's outcome: skipped, passed, failed or error.
	ScanStatus string
	ScanOK     bool
	Validated  bool
	MetadataOK bool
	// Sign: the candidate passed scan, validation and metadata, and is to
	// be signed (signing on, a real run).
	Sign bool
	// Gate is the first gate it failed, GatePassed, or GateNotNeeded.
	Gate string
	// Reason says why it failed Gate ("" when it did not fail).
	Reason string
	// Rollback: the deploy tag's image goes under the rollback tag first.
	Rollback bool
	// Promote: the deploy tag moves to the candidate.
	Promote bool
	// WouldBuild: check mode predicts a new candidate, which a real run
	// would then gate (there is no candidate to tag yet).
	WouldBuild bool
}

// Gated says whether a built candidate goes through the gates: it is not
// the image the deploy tag holds (a candidate that is is already deployed),
// or Force. In check mode a candidate that would be built would be a new
// image, so it would be gated.
func Gated(s Settings, b Build, deployed string) bool {
	if b.Failed {
		return false
	}
	if s.CheckMode && b.Changed {
		return true
	}
	id := b.ImageID
	if id == "" {
		id = "(new)"
	}
	return s.Force || id != deployed
}

// Decide is the verdict on one candidate, from what its steps said.
func Decide(s Settings, img Image) Verdict {
	v := Verdict{ScanStatus: "skipped", ScanOK: true, Validated: true, MetadataOK: true}
	if img.Build.Failed {
		v.Gate, v.Reason = GateBuild, img.Build.Msg
		return v
	}
	v.Gated = Gated(s, img.Build, img.Deployed)
	if !v.Gated {
		v.Gate = GateNotNeeded
		return v
	}
	if img.Scan != nil && s.Scan && !s.CheckMode {
		v.ScanStatus = img.Scan.Status
		if v.ScanStatus == "" {
			v.ScanStatus = "error"
		}
		v.ScanOK = img.Scan.Passed || len(s.FailOn) == 0 || (v.ScanStatus == "error" && !s.FailOnScannerError)
	}
	var failed []string
	for _, c := range img.Checks {
		if c.Failed {
			v.Validated = false
			if c.Msg != "" {
				failed = append(failed, c.Msg)
			}
		}
	}
	v.MetadataOK = len(img.Metadata) == 0
	passed := v.ScanOK && v.Validated && v.MetadataOK
	signing := s.Sign && !s.CheckMode
	v.Sign = signing && passed
	switch {
	case !v.ScanOK:
		v.Gate = GateScan
		if img.Scan != nil {
			v.Reason = img.Scan.Msg
		}
	case !v.Validated:
		v.Gate, v.Reason = GateValidation, strings.Join(failed, "; ")
	case !v.MetadataOK:
		v.Gate, v.Reason = GateMetadata, strings.Join(img.Metadata, "; ")
	case signing && !img.Signing.OK:
		v.Gate, v.Reason = GateSigning, img.Signing.Error
		if v.Reason == "" {
			v.Reason = "not signed"
		}
	default:
		v.Gate = GatePassed
	}
	cleared := passed && (!signing || img.Signing.OK)
	v.Rollback = cleared && img.Deployed != ""
	v.WouldBuild = s.CheckMode && img.Build.Changed
	v.Promote = cleared && !v.WouldBuild
	return v
}

// Summary is the line a failed candidate gets in the run's summary (""
// when it did not fail): "<name>: failed at the <gate> gate", with the
// scan's findings or the reason.
func Summary(name string, v Verdict, findings []string) string {
	if v.Gate == GatePassed || v.Gate == GateNotNeeded || v.Gate == "" {
		return ""
	}
	line := name + ": failed at the " + v.Gate + " gate"
	switch v.Gate {
	case GateScan:
		line += " (" + strings.Join(findings, ", ") + ")"
	case GateBuild, GateValidation, GateMetadata, GateSigning:
		if v.Reason != "" {
			line += " - " + v.Reason
		}
	}
	return line
}

// ConfigOf reads what the metadata gate needs from an engine inspect document.
func ConfigOf(doc map[string]any) Config {
	cfg, _ := doc["Config"].(map[string]any)
	c := Config{Labels: map[string]string{}}
	if labels, ok := cfg["Labels"].(map[string]any); ok {
		for k, v := range labels {
			c.Labels[k], _ = v.(string)
		}
	}
	c.User, _ = cfg["User"].(string)
	if ports, ok := cfg["ExposedPorts"].(map[string]any); ok {
		for p := range ports {
			c.ExposedPorts = append(c.ExposedPorts, p)
		}
		slices.Sort(c.ExposedPorts)
	}
	c.Healthcheck = cfg["Healthcheck"] != nil
	return c
}

// Passed says whether the image is fine after the run: it passed its gates
// or is the deployed image.
func (v Verdict) Passed() bool { return v.Gate == GatePassed || v.Gate == GateNotNeeded }
