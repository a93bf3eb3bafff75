package buildkitimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/reference"
	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/transient"
)

// registryError is an error the registry reported while pushing or pulling.
type registryError struct{ msg string }

func (e *registryError) Error() string { return e.msg }

// registryHost is the registry part of an image reference, as docker_image
// reports it ("docker.io" for Docker Hub).
func registryHost(repo string) (host, path string, err error) {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return "", "", err
	}
	return reference.Domain(named), reference.Path(named), nil
}

// registryAuth is the X-Registry-Auth value for host: registry_username and
// registry_password when given and host is the registry of name or
// repository (never sent to the registry of a base image), else the docker
// CLI's config.json lookup (credential helpers included).
func (r *runner) registryAuth(host string) (string, error) {
	if r.o.RegistryUsername != "" && r.ownRegistry(host) {
		return registry.EncodeAuthConfig(registry.AuthConfig{Username: r.o.RegistryUsername, Password: r.o.RegistryPassword, ServerAddress: host})
	}
	cfg := dockerconfig.LoadDefaultConfigFile(io.Discard)
	key := host
	if host == "docker.io" {
		key = "https://index.docker.io/v1/"
	}
	ac, err := cfg.GetAuthConfig(key)
	if err != nil {
		return "", fmt.Errorf("credentials for %s from the docker config: %w", host, err)
	}
	if ac.Password != "" {
		r.m.AddNoLogValue(ac.Password)
	}
	if ac.IdentityToken != "" {
		r.m.AddNoLogValue(ac.IdentityToken)
	}
	return registry.EncodeAuthConfig(registry.AuthConfig{
		Username: ac.Username, Password: ac.Password, Auth: ac.Auth, ServerAddress: host,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	})
}

// ownRegistry says whether host is the registry of name or repository.
func (r *runner) ownRegistry(host string) bool {
	for _, n := range []string{r.o.Name, r.o.Repository} {
		if h, _, err := registryHost(n); err == nil && n != "" && h == host {
			return true
		}
	}
	return false
}

// stream reads an engine JSON message stream and returns the status and
// stream lines seen.
func stream(rc io.ReadCloser) ([]string, error) {
	defer rc.Close()
	dec := json.NewDecoder(rc)
	var statuses []string
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return statuses, nil
		} else if err != nil {
			return statuses, err
		}
		if msg.Error != nil {
			return statuses, &registryError{msg: msg.Error.Message}
		}
		if msg.ErrorMessage != "" {
			return statuses, &registryError{msg: msg.ErrorMessage}
		}
		if msg.Status != "" {
			statuses = append(statuses, msg.Status)
		}
		if msg.Stream != "" { // image load reports "Loaded image: …" here
			statuses = append(statuses, strings.Split(strings.TrimRight(msg.Stream, "\n"), "\n")...)
		}
	}
}

// push pushes repo:tag unless the registry's tag already points at this
// image, retrying transient registry errors. changed is true only when the
// registry's tag moved.
func (r *runner) push(ctx context.Context, repo, tag string) error {
	if isImageID(repo) {
		return fmt.Errorf("Cannot push an image ID: %s", repo)
	}
	host, path, err := registryHost(repo)
	if err != nil {
		return fmt.Errorf("push %s: %w", repo, err)
	}
	target := repo + ":" + tag
	auth, err := r.registryAuth(host)
	if err != nil {
		return err
	}
	local, err := r.inspect(ctx, target)
	if err != nil {
		return err
	}
	if local == nil {
		if r.m.CheckMode { // it would have been built, loaded or tagged by now
			r.actions = append(r.actions, fmt.Sprintf("Pushed image %s to %s/%s:%s", r.name, host, path, tag))
			r.res.Changed = true
			return nil
		}
		return fmt.Errorf("Error pushing image %s: no such image in the engine", target)
	}
	// The registry is asked for the tag's manifest digest (GET /distribution)
	// before anything is sent: a tag that already points at this image needs
	// no push, and that is also how check mode knows what a push would do.
	if d := r.remoteDigest(ctx, target, auth); d != "" && hasRepoDigest(local, repo, d) {
		local["push_status"] = "Image is up to date"
		r.res.Data["image"] = local
		return nil
	}
	r.actions = append(r.actions, fmt.Sprintf("Pushed image %s to %s/%s:%s", r.name, host, path, tag))
	r.res.Changed = true
	if r.m.CheckMode {
		return nil
	}
	var statuses []string
	retries, err := retry.Do(ctx, r.retryPolicy(), transient.Is, func(ctx context.Context) error {
		rc, err := r.e.API.ImagePush(ctx, target, image.PushOptions{RegistryAuth: auth})
		if err != nil {
			return err
		}
		statuses, err = stream(rc)
		return err
	})
	r.res.Data["push_retries"] = retries
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "unauthorized") || strings.Contains(msg, "authentication required") || strings.Contains(msg, "no basic auth credentials") {
			return fmt.Errorf("Error pushing image %s/%s:%s - %s. Try logging into %s first.", host, path, tag, msg, host)
		}
		if strings.Contains(msg, "denied") {
			return fmt.Errorf("Error pushing image %s/%s:%s - %s. Does the repository exist?", host, path, tag, msg)
		}
		return fmt.Errorf("Error pushing image %s: %s", target, msg)
	}
	status := any(nil)
	if len(statuses) > 0 {
		status = statuses[len(statuses)-1]
	}
	doc, err := r.inspect(ctx, target)
	if err != nil {
		return err
	}
	doc = orEmpty(doc)
	doc["push_status"] = status
	r.res.Data["image"] = doc
	return nil
}

// remoteDigest is the manifest digest the registry has under ref, "" if none (or unknown).
func (r *runner) remoteDigest(ctx context.Context, ref, auth string) string {
	cctx, cancel := r.e.Call(ctx)
	defer cancel()
	di, err := r.e.API.DistributionInspect(cctx, ref, auth)
	if err != nil {
		return ""
	}
	return string(di.Descriptor.Digest)
}

// hasRepoDigest says whether the engine knows the image as repo@digest.
func hasRepoDigest(doc map[string]any, repo, digest string) bool {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return false
	}
	digests, _ := doc["RepoDigests"].([]any)
	for _, d := range digests {
		s, _ := d.(string)
		n, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			continue
		}
		if c, ok := n.(reference.Canonical); ok && c.Name() == named.Name() && string(c.Digest()) == digest {
			return true
		}
	}
	return false
}

// tagInto is docker_image's repository option: tag the image as repository
// (its tag, else tag) when that name is missing or force_tag, then push it if asked.
func (r *runner) tagInto(ctx context.Context, repository string, push bool) error {
	if _, err := reference.ParseNormalizedNamed(repository); err != nil {
		return fmt.Errorf("repository: %q is not a valid image name: %v", repository, err)
	}
	repo, repoTag := splitRepository(repository, r.tag, r.o.Tag)
	target := repo + ":" + repoTag
	existing, err := r.inspect(ctx, target)
	if err != nil {
		return err
	}
	if existing == nil || r.o.ForceTag {
		source, err := r.inspect(ctx, r.ref)
		if err != nil {
			return err
		}
		if source == nil && !r.m.CheckMode {
			return fmt.Errorf("Error: failed to tag image - %s does not exist", r.ref)
		}
		// docker_image records the tag action with force_tag even when the
		// name already holds this image; that alone is no change.
		if existing != nil && source != nil && imageID(existing) == imageID(source) {
			r.actions = append(r.actions, fmt.Sprintf("Tagged image %s to %s", r.ref, target))
			r.res.Data["image"] = existing
		} else {
			r.res.Changed = true
			rollback := ""
			if existing != nil && r.o.RollbackTag != "" {
				rollback = rollbackRef(repo, r.o.RollbackTag)
			}
			if r.m.CheckMode && rollback != "" {
				r.actions = append(r.actions, fmt.Sprintf("Tagged image %s to %s", target, rollback))
			}
			if !r.m.CheckMode {
				var err error
				if rollback != "" {
					err = r.promote(ctx, source, target, rollback) // both moves, journaled (promote.go)
				} else {
					err = r.moveTag(ctx, imageID(source), target)
				}
				if err != nil {
					return err
				}
			}
			r.actions = append(r.actions, fmt.Sprintf("Tagged image %s to %s", r.ref, target))
			if !r.m.CheckMode {
				after, err := r.inspect(ctx, target)
				if err != nil {
					return err
				}
				r.res.Data["image"] = orEmpty(after)
			}
		}
	}
	if push {
		return r.push(ctx, repo, repoTag)
	}
	return nil
}

// pull is source=pull: docker_image pulls when the image is missing or
// force_source; changed is false when the pull left the same image ID.
func (r *runner) pull(ctx context.Context, before map[string]any) error {
	r.actions = append(r.actions, fmt.Sprintf("Pulled image %s", r.ref))
	r.res.Changed = true
	host, _, err := registryHost(r.name)
	if err != nil {
		return fmt.Errorf("name: %w", err)
	}
	auth, err := r.registryAuth(host)
	if err != nil {
		return err
	}
	if r.m.CheckMode {
		// A pull that would leave the same image is no change: the engine
		// already knows the image under the digest the registry has now.
		// (docker_image says changed here whatever the registry holds.)
		if before != nil && !isImageID(r.ref) {
			if d := r.remoteDigest(ctx, r.ref, auth); d != "" && hasRepoDigest(before, r.name, d) {
				r.res.Changed = false
				r.res.Diff = idDiff(r.ref, idOrNil(before), idOrNil(before))
				return nil
			}
		}
		r.res.Diff = idDiff(r.ref, idOrNil(before), "(pulled image)")
		return nil
	}
	platform := ""
	if r.o.Pull != nil {
		platform = r.o.Pull.Platform
	}
	retries, err := r.pullWith(ctx, r.ref, auth, platform)
	r.res.Data["pull_retries"] = retries
	if err != nil {
		return fmt.Errorf("Error pulling image %s - %v", r.ref, err)
	}
	after, err := r.inspect(ctx, r.ref)
	if err != nil {
		return err
	}
	if after == nil {
		return fmt.Errorf("pulled %s, but the engine has no image under that name", r.ref)
	}
	r.settle(before, after)
	return nil
}

// pullImage pulls ref into the engine with the docker config's credentials
// for its registry, retrying transient registry errors; it returns the retries.
func (r *runner) pullImage(ctx context.Context, ref, platform string) (int, error) {
	host, _, err := registryHost(ref)
	if err != nil {
		return 0, fmt.Errorf("name: %w", err)
	}
	auth, err := r.registryAuth(host)
	if err != nil {
		return 0, err
	}
	return r.pullWith(ctx, ref, auth, platform)
}

// pullWith pulls ref with the given registry auth, retrying transient registry errors.
func (r *runner) pullWith(ctx context.Context, ref, auth, platform string) (int, error) {
	return retry.Do(ctx, r.retryPolicy(), transient.Is, func(ctx context.Context) error {
		rc, err := r.e.API.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth, Platform: platform})
		if err != nil {
			return err
		}
		_, err = stream(rc)
		return err
	})
}

func idOrNil(doc map[string]any) any {
	if doc == nil {
		return nil
	}
	return imageID(doc)
}
