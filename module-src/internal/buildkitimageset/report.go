package buildkitimageset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/moby/sys/atomicwriter"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitcache"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitreport"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/verdict"
)

// GatePromotion names a candidate that passed every gate but whose deploy
// (or rollback) tag could not be moved.
const GatePromotion = "promotion"

// result assembles the module's result: per image what each step said, the
// lines the play shows, the run's report (buildkit_report's input) and
// changed.
func (s *set) result(data map[string]any, cache *buildkitreport.BuildCache) (module.Result, error) {
	r := s.report(cache)
	changed := false
	var images, lines, scans []any
	for _, it := range s.items {
		changed = changed || len(it.wrote) > 0 || isTrue(it.build["changed"]) || isTrue(it.rollback["changed"]) || isTrue(it.promote["changed"]) ||
			isTrue(it.pushed["changed"])
		for _, step := range it.signing {
			changed = changed || isTrue(step.(map[string]any)["changed"])
		}
		images = append(images, s.details(it))
		lines = append(lines, s.line(it))
		if it.v.WouldBuild && it.v.Gated && it.deployRef != "" {
			lines = append(lines, fmt.Sprintf("%s: would be built, then scanned and validated, and promoted to %s if it passes", it.Name, s.o.DeployTag))
		}
		if it.trivy != "" {
			scans = append(scans, map[string]any{"name": it.Name, "src": it.trivy, "dest": trivyName(it)})
		}
	}
	data["images"] = images
	data["lines"] = lines
	data["scans"] = orEmpty(scans)
	if archive, err := s.scansArchive(); err != nil {
		s.m.Warn("the scans' Trivy reports were not packed for the reports (the SARIF report will say their findings are not listed): " + err.Error())
	} else if archive != "" {
		data["scans_archive"] = archive
	}
	data["report"] = r
	data["summary"] = r.Summary
	data["sessions"] = s.shared.Sessions()
	msg := fmt.Sprintf("%d built, %d unchanged, %d promoted, %d failed", len(r.Summary.Built), len(r.Summary.Unchanged), len(r.Summary.Promoted), len(r.Summary.Failed))
	return module.Result{Changed: changed, Msg: msg, Data: data}, nil
}

// cacheInfo is the builder's build cache (what buildkit_cache state=info
// says of it), with a warning when it is over report.cache_limit. Measuring
// walks every cache record (a second or more on a large cache), so this
// host's last measurement of the same builder is taken when it is younger
// than report.cache_max_age; else the cache is measured once the builds are
// done, while the gates run.
func (s *set) cacheInfo(ctx context.Context) *buildkitreport.BuildCache {
	c := &buildkitreport.BuildCache{Limit: s.o.Report.CacheLimit}
	record := s.cacheRecordPath()
	var last buildkitreport.BuildCache
	if b, err := os.ReadFile(record); err == nil && json.Unmarshal(b, &last) == nil {
		if t, err := time.Parse(time.RFC3339, last.Measured); err == nil && time.Since(t) < time.Duration(s.o.Report.CacheMaxAge)*time.Second {
			c.Builder, c.TotalBytes, c.Measured = last.Builder, last.TotalBytes, last.Measured
		}
	}
	if c.Measured == "" {
		s.builds.Wait()
		info, err := buildkitcache.Usage(ctx, s.o.Options, s.o.Builder)
		if err != nil {
			c.Error = err.Error()
			return c
		}
		c.Builder, _ = info["builder"].(string)
		c.TotalBytes, _ = info["total_bytes"].(int64)
		c.Measured = time.Now().UTC().Format(time.RFC3339)
		if b, err := json.Marshal(c); err == nil && record != "" {
			_ = os.MkdirAll(filepath.Dir(record), 0o700)
			_ = atomicwriter.WriteFile(record, b, 0o600) // only saves a later run time
		}
	}
	if limit, err := units.RAMInBytes(c.Limit); err == nil && c.Limit != "" && c.TotalBytes > limit {
		s.m.Warn(fmt.Sprintf("the build cache of %s holds %s, over report.cache_limit %s: prune it (buildkit_cache state=pruned)",
			c.Builder, units.BytesSize(float64(c.TotalBytes)), c.Limit))
	}
	return c
}

// cacheRecordPath is where this host keeps its last measurement of the
// builder's cache: beside buildkit_image's state (context_cache_dir's parent).
func (s *set) cacheRecordPath() string {
	dir := s.o.CacheDir
	if dir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(d, "jenkins_ha.buildkit", "context")
	}
	key, _ := json.Marshal([]any{s.o.Options, s.o.Builder})
	sum := sha256.Sum256(key)
	return filepath.Join(filepath.Dir(dir), "cache-usage", hex.EncodeToString(sum[:16])+".json")
}

// report is the run's report in the form buildkit_report reads
// (jenkins_build_report): one entry per image, the summary, the cache.
func (s *set) report(cache *buildkitreport.BuildCache) *buildkitreport.Report {
	r := &buildkitreport.Report{BuildTimestamp: s.started.Format(time.RFC3339), BuildHost: s.host(), BuildCache: cache}
	if s.o.Report != nil {
		r.BuildConfiguration = s.o.Report.Configuration
	}
	r.Summary.Built, r.Summary.Unchanged, r.Summary.Promoted, r.Summary.Failed = []string{}, []string{}, []string{}, []string{}
	for _, it := range s.items {
		e := s.entry(it)
		if it.Kind == "controller" {
			r.BuildResults.Master = e
		} else {
			if r.BuildResults.Agents == nil {
				r.BuildResults.Agents = map[string]*buildkitreport.Entry{}
			}
			r.BuildResults.Agents[it.Name] = e
		}
		switch e.Status {
		case "built":
			r.Summary.Built = append(r.Summary.Built, it.Name)
		case "unchanged":
			r.Summary.Unchanged = append(r.Summary.Unchanged, it.Name)
		}
		if e.Promoted {
			r.Summary.Promoted = append(r.Summary.Promoted, it.Name)
		}
		if it.promoErr != "" {
			r.Summary.Failed = append(r.Summary.Failed, it.Name+": failed at the promotion gate - "+it.promoErr)
		} else if line := verdict.Summary(it.Name, it.v, e.Scan.Findings); line != "" {
			r.Summary.Failed = append(r.Summary.Failed, line)
		}
	}
	return r
}

// entry is one image's result in the report.
func (s *set) entry(it *item) *buildkitreport.Entry {
	b := it.build
	ran := b["builder"] != nil
	doc, _ := b["image"].(map[string]any)
	e := &buildkitreport.Entry{
		Image:       it.candidate,
		Built:       ran && !isTrue(b["failed"]),
		Status:      "unchanged",
		Method:      "none",
		BuildReason: str(b["build_reason"]),
		ImageID:     imageID(doc),
		Size:        int64(number(doc["Size"])),
		Duration:    number(b["build_duration"]),
		Gate:        it.v.Gate,
		Error:       it.v.Reason,
		Promoted:    it.promote != nil && !isTrue(it.promote["failed"]),
	}
	e.Builder, _ = b["builder"].(string)
	// A builder of several nodes: which built it, and where each share ran.
	for _, n := range asList(b["builder_nodes"]) {
		if name, ok := n.(string); ok {
			e.BuilderNodes = append(e.BuilderNodes, name)
		}
	}
	if pl, ok := b["placement"].([]any); ok {
		if raw, err := json.Marshal(pl); err == nil {
			_ = json.Unmarshal(raw, &e.Placement)
		}
	}
	switch {
	case isTrue(b["failed"]):
		e.Status = "failed"
	case ran:
		e.Status = "built"
	}
	if ran {
		e.Method = "buildkit"
		if b["builder_driver"] == "legacy" {
			e.Method = "legacy"
		}
	}
	if total := number(b["total_steps"]); total > 0 {
		ratio := math.Round(number(b["cached_steps"])/total*1000) / 1000
		e.CacheHitRatio = &ratio
	}
	if it.deployRef != "" {
		e.DeployTag = it.deployRef
	}
	if it.promoErr != "" {
		e.Gate, e.Error = GatePromotion, it.promoErr
	}
	sc := it.scan
	e.Scan = buildkitreport.Scan{Status: "skipped", Counts: map[string]int{}, Findings: []string{}}
	if sc != nil {
		if st := str(sc["scan_status"]); st != "" {
			e.Scan.Status = st
		}
		if counts, ok := sc["counts"].(map[string]any); ok {
			for k, v := range counts {
				e.Scan.Counts[k] = int(number(v))
			}
		}
		if list, ok := sc["findings"].([]any); ok {
			for _, f := range list {
				if fm, ok := f.(map[string]any); ok {
					e.Scan.Findings = append(e.Scan.Findings, str(fm["id"]))
				}
			}
		}
		e.Scan.Report, e.Scan.SBOM, e.Scan.Msg = str(sc["report_path"]), str(sc["sbom_path"]), str(sc["msg"])
		if it.trivy != "" {
			e.Scan.TrivyReport = trivyName(it)
		}
		if d, ok := sc["scan_duration"]; ok {
			f := number(d)
			e.ScanDuration = &f
		}
	}
	before := it.deployed
	if e.Promoted {
		before = doc
	}
	if id := imageID(before); id != "" {
		e.Deployed = &buildkitreport.Deployed{ImageID: id, Created: str(before["Created"])}
	}
	if e.Promoted && imageID(it.deployed) != "" && it.rollRef != "" {
		rb := it.rollRef
		e.RollbackTag = &rb
	}
	if !it.v.Gated {
		return e
	}
	validated := it.v.Validated && it.v.MetadataOK
	e.Validated = &validated
	e.Checks = map[string]*buildkitreport.Check{"validation": s.validationCheck(it), "metadata": s.metadataCheck(it)}
	if s.settings.Validation {
		d := 0.0
		for _, p := range it.checks {
			d += number(p.res["duration"])
		}
		e.ValidationDuration = &d
	}
	if s.settings.Sign && !s.settings.CheckMode && it.v.ScanOK && it.v.Validated && it.v.MetadataOK {
		c := &buildkitreport.Check{Status: "failed", Detail: it.sign.Error}
		if it.sign.OK {
			c.Status = "passed"
			c.Detail = fmt.Sprintf("signed %s@%s with %s (SBOM and gate verdict attested); verified with %s", it.Repository, it.sign.Digest, s.o.Sign.Key, s.o.Sign.PublicKey)
		} else if c.Detail == "" {
			c.Detail = "not signed"
		}
		e.Checks["signing"] = c
	}
	return e
}

// validationCheck is the validation gate's outcome in the report.
func (s *set) validationCheck(it *item) *buildkitreport.Check {
	if !s.settings.Validation {
		return &buildkitreport.Check{Status: "skipped", Detail: s.switchName("validation") + " is false"}
	}
	c := &buildkitreport.Check{Status: "passed"}
	var failed, passed []string
	for _, p := range it.checks {
		c.Duration += number(p.res["duration"])
		switch {
		case p.failed:
			if msg := str(p.res["msg"]); msg != "" {
				failed = append(failed, msg)
			}
			c.Status = "failed"
		case !isTrue(p.res["skipped"]):
			passed = append(passed, p.name)
		}
	}
	if c.Status == "failed" {
		c.Detail = strings.Join(failed, "\n")
	} else {
		c.Detail = "passed: " + strings.Join(passed, ", ")
	}
	return c
}

// metadataCheck is the metadata gate's outcome in the report.
func (s *set) metadataCheck(it *item) *buildkitreport.Check {
	if !s.settings.Metadata {
		return &buildkitreport.Check{Status: "skipped", Detail: s.switchName("metadata") + " is false"}
	}
	if len(it.meta) > 0 {
		return &buildkitreport.Check{Status: "failed", Detail: strings.Join(it.meta, "; ")}
	}
	return &buildkitreport.Check{Status: "passed", Detail: s.rulesOf(it).Passed()}
}

// switchName is what the report calls the setting that turns a gate off:
// report.switches names it (the role gives its variables), else the option.
func (s *set) switchName(gate string) string {
	if s.o.Report != nil {
		if n := s.o.Report.Switches[gate]; n != "" {
			return n
		}
	}
	return gate + ".enabled"
}

// trivyName is where Trivy's report of the image's scan is kept beside the
// reports (relative to them): scans/<name>-<image ID, 12>.trivy.json.
func trivyName(it *item) string {
	doc, _ := it.build["image"].(map[string]any)
	id := strings.TrimPrefix(imageID(doc), "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return "scans/" + it.Name + "-" + id + ".trivy.json"
}

// line is what the play shows of an image's build.
func (s *set) line(it *item) string {
	b := it.build
	switch {
	case isTrue(b["failed"]):
		return it.Name + ": FAILED: " + str(b["msg"])
	case b["builder"] != nil:
		return fmt.Sprintf("%s: built by %s, %d/%d steps cached", it.Name, str(b["builder"]), int(number(b["cached_steps"])), int(number(b["total_steps"])))
	case s.m.CheckMode && isTrue(b["changed"]):
		reason := str(b["build_reason"])
		if reason == "" {
			reason = "inputs changed"
		}
		return fmt.Sprintf("%s: would be built (%s)", it.Name, reason)
	}
	return it.Name + ": unchanged, nothing built"
}

// details is what each step of an image said.
func (s *set) details(it *item) map[string]any {
	d := map[string]any{"name": it.Name, "image": it.candidate, "build": it.build, "deployed": it.deployed,
		"gate": it.v.Gate, "reason": it.v.Reason, "gated": it.v.Gated, "files_written": orEmptyStrings(it.wrote)}
	if it.promoErr != "" {
		d["gate"], d["reason"] = GatePromotion, it.promoErr
	}
	if it.scan != nil {
		d["scan"] = it.scan
	}
	if it.checks != nil {
		var checks []any
		for _, p := range it.checks {
			checks = append(checks, map[string]any{"name": p.name, "result": p.res})
		}
		d["validation"] = checks
	}
	if it.metaRan {
		d["metadata"] = map[string]any{"problems": orEmptyStrings(it.meta)}
	}
	if it.signing != nil {
		d["signing"] = it.signing
	}
	if it.rollback != nil {
		d["rollback"] = it.rollback
	}
	if it.promote != nil {
		d["promote"] = it.promote
	}
	if it.pushed != nil {
		d["push"] = it.pushed
	}
	return d
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

func orEmptyStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
