package buildkitimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/moby/sys/atomicwriter"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/transient"
)

// A promotion (repository with force_tag and rollback_tag) moves two tags:
// first the rollback tag onto the image the deploy tag names, then the deploy
// tag onto the new image. No engine moves two tags at once, so a run killed
// between the two leaves the rollback tag on the deployed image and the
// image it named before named by nothing. Before the first move the
// promotion is written to a journal on the host (state dir promotions/); the
// journal goes when both moves are done. The next buildkit_image run that
// reads or moves the deploy tag (the jenkins_images role looks the deploy tag
// up on every run) settles a journal it finds before anything else:
//
//   - the deploy tag names the new image: the promotion was done; only the
//     journal is left;
//   - the deploy tag still names the image it named before: the promotion was
//     cut; the rollback tag is put back on the image it named before (or
//     removed, if there was none): the run that decides to promote again does
//     the whole promotion;
//   - anything else: something else moved the tags since; they are left as
//     they are, with a warning.
//
// So at every instant the deploy tag names the image it named before or the
// new one, and the rollback tag the image deployed before or, until the next
// run, the deployed one.

// journalVersion is the journal's format.
const journalVersion = 1

// promotion is a journal entry: one promotion in flight.
type promotion struct {
	Version     int    `json:"version"`
	Engine      string `json:"engine"`
	Deploy      string `json:"deploy"`   // the tag moved onto To
	Rollback    string `json:"rollback"` // the tag that keeps From
	From        string `json:"from"`     // the image ID Deploy named before
	RollbackWas string `json:"rollback_was,omitempty"`
	To          string `json:"to"`
	Started     string `json:"started"`
	PID         int    `json:"pid"`
}

// promotionKey is the lock and journal key of a deploy tag on this engine.
func (r *runner) promotionKey(deploy string) string {
	if named, err := reference.ParseNormalizedNamed(deploy); err == nil {
		deploy = named.String()
	}
	return "promotion\x00" + r.e.Host + "\x00" + deploy
}

func (r *runner) journalPath(deploy string) string {
	dir := r.stateDir("promotions")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("jenkins_ha.buildkit-promotions-%d", os.Getuid()))
	}
	sum := sha256.Sum256([]byte(r.promotionKey(deploy)))
	return filepath.Join(dir, hex.EncodeToString(sum[:12])+".json")
}

// rollbackRef is rollback_tag in the repository of the deploy tag repo:tag.
func rollbackRef(repo, tag string) string { return repo + ":" + tag }

// checkRollbackTag refuses a rollback_tag that cannot work, before any work.
func (r *runner) checkRollbackTag() error {
	o := r.o
	if o.RollbackTag == "" {
		return nil
	}
	if o.Repository == "" {
		return errors.New("rollback_tag: needs repository (the tag whose image it keeps when repository moves)")
	}
	if !validTag.MatchString(o.RollbackTag) {
		return fmt.Errorf("rollback_tag: %q is not a valid docker tag", o.RollbackTag)
	}
	if repo, tag := splitRepository(o.Repository, r.tag, o.Tag); tag == o.RollbackTag {
		return fmt.Errorf("rollback_tag: %q is the tag repository moves (%s:%s); give another", o.RollbackTag, repo, tag)
	}
	return nil
}

// splitRepository is repository as tagInto reads it: its name and its tag,
// else tag (an image ID as name: docker_image takes the tag option), else latest.
func splitRepository(repository, tag, optTag string) (repo, repoTag string) {
	repo, repoTag = repository, tag
	if named, err := reference.ParseNormalizedNamed(repository); err == nil {
		if tagged, ok := named.(reference.Tagged); ok {
			repo, repoTag = repository[:len(repository)-len(tagged.Tag())-1], tagged.Tag()
		}
	}
	if repoTag == "" {
		repoTag = optTag
	}
	if repoTag == "" {
		repoTag = "latest"
	}
	return repo, repoTag
}

// promote moves target onto the image source names, first keeping the
// image target names now under rollback, through the journal.
func (r *runner) promote(ctx context.Context, source map[string]any, target, rollback string) error {
	release, err := r.lock(ctx, r.promotionKey(target), target)
	if err != nil {
		return err
	}
	defer release()
	cur, err := r.inspect(ctx, target) // under the lock: what it names now
	if err != nil {
		return err
	}
	to := imageID(source)
	if cur == nil || imageID(cur) == to {
		return r.moveTag(ctx, to, target)
	}
	rb, err := r.inspect(ctx, rollback)
	if err != nil {
		return err
	}
	p := promotion{Version: journalVersion, Engine: r.e.Host, Deploy: target, Rollback: rollback, From: imageID(cur),
		RollbackWas: idOrEmpty(rb), To: to, Started: time.Now().UTC().Format(time.RFC3339), PID: os.Getpid()}
	journal := r.journalPath(target)
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(journal), 0o700); err != nil {
		return fmt.Errorf("promotion journal: %w", err)
	}
	if err := atomicwriter.WriteFile(journal, b, 0o600); err != nil {
		return fmt.Errorf("promotion journal: %w", err)
	}
	if p.RollbackWas != p.From {
		if err := r.moveTag(ctx, p.From, rollback); err != nil {
			return err // the next run settles the journal
		}
	}
	r.actions = append(r.actions, fmt.Sprintf("Tagged image %s to %s", target, rollback))
	r.res.Data["rollback"] = map[string]any{"tag": rollback, "image": p.From}
	if err := r.moveTag(ctx, to, target); err != nil {
		return err
	}
	if err := os.Remove(journal); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("promotion journal: %w", err)
	}
	return nil
}

// moveTag tags the image id as ref, retrying while the engine restarts (a
// tag is the same tag however often it is made).
func (r *runner) moveTag(ctx context.Context, id, ref string) error {
	_, err := retry.Do(ctx, r.retryPolicy(), transient.Is, func(ctx context.Context) error {
		cctx, cancel := r.e.Call(ctx)
		defer cancel()
		return r.e.API.ImageTag(cctx, id, ref)
	})
	if err != nil {
		return fmt.Errorf("Error: failed to tag image - %w", err)
	}
	return nil
}

// settlePromotions settles the journal of each of refs (the tags this run
// reads or moves) that an interrupted run left.
func (r *runner) settlePromotions(ctx context.Context, refs ...string) error {
	for _, ref := range refs {
		if ref == "" || isImageID(ref) {
			continue
		}
		if _, err := os.Stat(r.journalPath(ref)); err != nil {
			continue // the usual case: nothing in flight
		}
		if err := r.settle1(ctx, ref); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) settle1(ctx context.Context, deploy string) error {
	journal := r.journalPath(deploy)
	if r.m.CheckMode {
		r.m.Warn(fmt.Sprintf("a promotion of %s was interrupted (journal %s); a run outside check mode settles it", deploy, journal))
		r.res.Data["promotion_interrupted"] = true
		return nil
	}
	release, err := r.lock(ctx, r.promotionKey(deploy), deploy)
	if err != nil {
		return err
	}
	defer release()
	b, err := os.ReadFile(journal)
	if os.IsNotExist(err) {
		return nil // another run settled it while this one waited
	}
	if err != nil {
		return fmt.Errorf("promotion journal: %w", err)
	}
	var p promotion
	if err := json.Unmarshal(b, &p); err != nil || p.Version != journalVersion {
		r.m.Warn(fmt.Sprintf("promotion journal %s is not one this module reads (%v); removed", journal, err))
		return os.Remove(journal)
	}
	cur, err := r.inspect(ctx, p.Deploy)
	if err != nil {
		return err
	}
	rb, err := r.inspect(ctx, p.Rollback)
	if err != nil {
		return err
	}
	deployed, kept := idOrEmpty(cur), idOrEmpty(rb)
	settled := map[string]any{"deploy": p.Deploy, "rollback": p.Rollback, "from": p.From, "to": p.To}
	switch {
	case deployed == p.To:
		settled["outcome"] = "done" // both moves were made
	case deployed == p.From && kept == p.From && p.RollbackWas != p.From:
		settled["outcome"] = "undone"
		r.res.Changed = true
		if err := r.restoreRollback(ctx, p); err != nil {
			return err
		}
	case deployed == p.From:
		settled["outcome"] = "undone" // cut before the first move: nothing moved
	default:
		settled["outcome"] = "left"
		r.m.Warn(fmt.Sprintf("a promotion of %s to %s was interrupted, and the tags moved since (%s names %s, %s names %s): left as they are",
			p.Deploy, p.To, p.Deploy, orNone(deployed), p.Rollback, orNone(kept)))
	}
	r.res.Data["promotion_settled"] = settled
	if err := os.Remove(journal); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("promotion journal: %w", err)
	}
	return nil
}

// restoreRollback puts the rollback tag back where it was before a cut
// promotion moved it onto the deployed image.
func (r *runner) restoreRollback(ctx context.Context, p promotion) error {
	if p.RollbackWas != "" {
		prev, err := r.inspect(ctx, p.RollbackWas)
		if err != nil {
			return err
		}
		if prev != nil {
			r.actions = append(r.actions, fmt.Sprintf("Tagged image %s to %s (a promotion of %s to %s was interrupted: the rollback tag is put back)",
				p.RollbackWas, p.Rollback, p.Deploy, p.To))
			return r.moveTag(ctx, p.RollbackWas, p.Rollback)
		}
		r.m.Warn(fmt.Sprintf("a promotion of %s was interrupted; the image %s named before (%s) is gone, so %s is removed rather than left naming the deployed image",
			p.Deploy, p.Rollback, p.RollbackWas, p.Rollback))
	}
	// The deploy tag still names the image: this only removes the name.
	r.actions = append(r.actions, fmt.Sprintf("Removed tag %s (a promotion of %s to %s was interrupted; there was no rollback image before)", p.Rollback, p.Deploy, p.To))
	cctx, cancel := r.e.Call(ctx)
	defer cancel()
	if _, err := r.e.API.ImageRemove(cctx, p.Rollback, image.RemoveOptions{}); err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("remove %s: %w", p.Rollback, err)
	}
	return nil
}

func idOrEmpty(doc map[string]any) string {
	if doc == nil {
		return ""
	}
	return imageID(doc)
}

func orNone(id string) string {
	if id == "" {
		return "nothing"
	}
	return id
}
