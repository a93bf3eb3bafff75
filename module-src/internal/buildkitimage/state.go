package buildkitimage

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/atomicwriter"
)

// The module's state on the build host lives beside the context stat cache
// (context_cache_dir, by default ~/.cache/jenkins_ha.buildkit/context):
//
//	context/  the stat cache of each context (buildctx.Fingerprint)
//	sync/     what each builder's copy of each context holds (buildctx.Context.SessionKey)
//	built/    which inputs each image ID was built from (builtFrom)
//	pushed/   what each builder push sent (pushRecord)
//	locks/    a lock per image name (lockImage)

// stateDir is the directory of one kind of state, "" when there is no cache
// directory to keep it in.
func (r *runner) stateDir(kind string) string {
	dir := r.cacheDir()
	if dir == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(dir), kind)
}

// The inputs label alone does not prove an image is up to date: an image
// made from ours (docker commit, FROM ours) inherits the label. So each
// image this module builds is recorded by its ID (content-addressed: the
// same ID is the same image on any engine) with the inputs it was built
// from, and a build is skipped only when the image under the name is one
// this host built from the same inputs.

func (r *runner) builtPath(id string) string {
	dir := r.stateDir("built")
	hex := strings.TrimPrefix(id, "sha256:")
	if dir == "" || !imageIDPattern.MatchString("sha256:"+hex) {
		return ""
	}
	return filepath.Join(dir, hex)
}

// builtFrom is the inputs digest the image id was built from on this host,
// "" when it was not built here.
func (r *runner) builtFrom(id string) string {
	p := r.builtPath(id)
	if p == "" {
		return ""
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// recordBuilt records that image id was built from inputs.
func (r *runner) recordBuilt(id, inputs string) error {
	p := r.builtPath(id)
	if p == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return atomicwriter.WriteFile(p, []byte(inputs+"\n"), 0o600)
}
