package buildkitimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/sys/atomicwriter"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
)

// Several platforms, or attestations, cannot go through the engine's
// classic image store: a BuildKit daemon builder pushes them to the registry
// itself (a manifest list / an index with attestation manifests). The engine
// then holds no image to compare labels with, so each such push is recorded
// on the host (inputs digest -> pushed digest) and a later run is a no-op when
// the inputs are unchanged and the registry's tag still has the digest pushed.

// pushedByBuildKit says whether this build is pushed by the builder itself.
func (r *runner) pushedByBuildKit() bool {
	if !r.daemonDriver() || r.o.Build == nil {
		return false
	}
	b := r.o.Build
	return len(b.Platform) > 1 || b.Provenance != "" || b.SBOM
}

// checkPushedOptions refuses, before any work, what a builder push cannot do.
func (r *runner) checkPushedOptions() error {
	what := "build.provenance/build.sbom"
	if n := len(r.o.Build.Platform); n > 1 {
		what = fmt.Sprintf("build.platform lists %d platforms", n)
	}
	switch {
	case !r.o.Push:
		return fmt.Errorf("%s: the result goes from the builder to the registry (the engine's image store cannot hold it), so set push: true", what)
	case r.o.Repository != "":
		return fmt.Errorf("%s: the builder pushes under name itself; repository cannot be used with it", what)
	case r.o.ArchivePath != "":
		return fmt.Errorf("%s: the result is not in the engine, so archive_path cannot save it (a separate task with build.outputs type oci writes the build to a file)", what)
	case len(r.o.Build.Outputs) > 0:
		return fmt.Errorf("%s: build.outputs cannot be combined with a push by the builder", what)
	}
	return nil
}

type pushRecord struct {
	Ref    string `json:"ref"`
	Inputs string `json:"inputs"`
	Digest string `json:"digest"`
}

func (r *runner) pushRecordPath() string {
	dir := r.stateDir("pushed")
	if dir == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(r.ref))
	return filepath.Join(dir, hex.EncodeToString(sum[:12])+".json")
}

func (r *runner) readPushRecord() pushRecord {
	var rec pushRecord
	if p := r.pushRecordPath(); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			_ = json.Unmarshal(b, &rec)
		}
	}
	if rec.Ref != r.ref {
		return pushRecord{}
	}
	return rec
}

func (r *runner) writePushRecord(rec pushRecord) error {
	p := r.pushRecordPath()
	if p == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, _ := json.Marshal(rec)
	return atomicwriter.WriteFile(p, b, 0o600)
}

// buildPushed builds on the daemon builder and has it push the result.
// Its options were checked by checkOptions (checkPushedOptions).
func (r *runner) buildPushed(ctx context.Context, df *buildctx.Dockerfile, req builder.Request, inputs string, in *inputs) error {
	data := r.res.Data
	host, path, err := registryHost(r.name)
	if err != nil {
		return fmt.Errorf("push %s: %w", r.name, err)
	}
	auth, err := r.registryAuth(host)
	if err != nil {
		return err
	}
	rec := r.readPushRecord()
	remote := r.remoteDigest(ctx, r.ref, auth)
	platforms := req.Platforms
	if len(platforms) == 0 {
		platforms = []string{}
	}
	result := func(digest, status string) {
		img := map[string]any{"Id": digest, "RepoTags": []string{r.ref}, "RepoDigests": []string{r.name + "@" + digest}, "push_status": status}
		data["image"] = img
		data["manifest"] = map[string]any{"digest": digest, "platforms": platforms, "attestations": append([]string{}, slices.Sorted(maps.Keys(req.Attest))...)}
	}
	if !r.o.ForceSource && len(in.unresolved) == 0 && rec.Inputs == inputs && remote != "" && rec.Digest == remote {
		data["build_reason"] = "none: the inputs are unchanged and the registry's tag has the digest last pushed"
		result(remote, "Image is up to date")
		r.res.Diff = idDiff(r.ref, remote, remote)
		return nil
	}
	switch {
	case r.o.ForceSource:
		data["build_reason"] = "force_source"
	case len(in.unresolved) > 0:
		data["build_reason"] = in.describeUnresolved()
	case remote == "":
		data["build_reason"] = "image missing in the registry"
	case rec.Digest != remote:
		data["build_reason"] = "the registry's tag moved since the last push from this host"
	default:
		data["build_reason"] = "inputs changed"
	}
	r.actions = append(r.actions,
		fmt.Sprintf("Built image %s from %s", r.ref, r.o.Build.Path),
		fmt.Sprintf("Pushed image %s to %s/%s:%s", r.name, host, path, r.tag))
	r.res.Changed = true
	if r.m.CheckMode {
		r.res.Diff = idDiff(r.ref, nilIfEmpty(remote), "(new image)")
		return nil
	}
	bld, err := r.pickBuilder(ctx, df, req)
	if err != nil {
		return err
	}
	req.Push = true
	req.InsecurePush = r.insecureRegistry(host)
	req.NoLoad = true // the engine's own BuildKit stores it anyway; a daemon's result goes to the registry only
	if r.o.RegistryUsername != "" {
		req.Logins = map[string]builder.Login{host: {Username: r.o.RegistryUsername, Password: r.o.RegistryPassword}}
	}
	res, err := r.runBuild(ctx, bld, req)
	if err != nil {
		return err
	}
	if res.ImageID == "" {
		return fmt.Errorf("build of %s: the builder pushed but reported no digest", r.ref)
	}
	if err := r.writePushRecord(pushRecord{Ref: r.ref, Inputs: inputs, Digest: res.ImageID}); err != nil {
		r.m.Warn(fmt.Sprintf("could not record the push of %s on this host (the next run rebuilds): %v", r.ref, err))
	}
	result(res.ImageID, "Pushed")
	if remote == res.ImageID {
		r.res.Changed = false
	}
	r.res.Diff = idDiff(r.ref, nilIfEmpty(remote), res.ImageID)
	return nil
}

// insecureRegistry says whether host may be pushed to over plain HTTP: a
// loopback registry (as the engine treats it) or one in builder.insecure_registries.
func (r *runner) insecureRegistry(host string) bool {
	if r.o.Builder != nil && slices.Contains(r.o.Builder.InsecureRegistries, host) {
		return true
	}
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func nilIfEmpty(s string) any {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return s
}
