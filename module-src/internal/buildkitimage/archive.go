package buildkitimage

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/client"
)

// archiveManifest is what an image tarball says it holds: the IDs the
// image may have (docker save's manifest.json config digest, which is the
// image ID on the classic store; and, in an OCI layout from the containerd
// store, index.json's manifest digests, which are the image ID there) and the
// RepoTags of the first image.
func archiveManifest(path string) (ids []string, tags []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	seenManifest, seenIndex := false, false
	for !(seenManifest && seenIndex) {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		switch h.Name {
		case "manifest.json":
			seenManifest = true
			var m []struct {
				Config   string
				RepoTags []string
			}
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				return nil, nil, fmt.Errorf("manifest.json: %w", err)
			}
			if len(m) == 0 {
				return nil, nil, errors.New("manifest.json lists no image")
			}
			// "<hex>.json" (docker save before 25) or "blobs/sha256/<hex>" (OCI layout).
			ids = append(ids, "sha256:"+strings.TrimSuffix(filepath.Base(m[0].Config), ".json"))
			tags = m[0].RepoTags
		case "index.json":
			seenIndex = true
			var idx struct {
				Manifests []struct {
					Digest string `json:"digest"`
				} `json:"manifests"`
			}
			if err := json.NewDecoder(tr).Decode(&idx); err != nil {
				return nil, nil, fmt.Errorf("index.json: %w", err)
			}
			for _, m := range idx.Manifests {
				ids = append(ids, m.Digest)
			}
		}
	}
	if !seenManifest {
		return nil, nil, errors.New("no manifest.json in the archive")
	}
	return ids, tags, nil
}

// archive is docker_image's archive_path: write `docker save` of the image to
// the file unless the file already holds this image under this name.
func (r *runner) archive(ctx context.Context) error {
	doc, err := r.inspect(ctx, r.ref)
	if err != nil {
		return err
	}
	if doc == nil {
		if r.m.CheckMode {
			r.actions = append(r.actions, fmt.Sprintf("Archived image %s to %s, since none present", r.ref, r.o.ArchivePath))
			r.res.Changed = true
		}
		return nil
	}
	name := r.ref
	if isImageID(r.ref) {
		name = imageID(doc)
	}
	reason := ""
	ids, tags, err := archiveManifest(r.o.ArchivePath)
	id := ""
	if len(ids) > 0 {
		id = ids[0]
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		reason = "since none present"
	case err != nil:
		r.m.Debugf(1, "unable to read the archive's manifest: %v", err)
		reason = "overwriting an unreadable archive file"
	case slices.Contains(ids, imageID(doc)) && (isImageID(r.ref) || slices.Equal(tags, []string{normalizedTag(r.ref)}) || slices.Equal(tags, []string{r.ref})):
		r.res.Data["image"] = doc
		return nil
	default:
		// docker_image names the archived image by its bare hash (the config file's name).
		reason = fmt.Sprintf("overwriting archive with image %s named %s", strings.TrimPrefix(id, "sha256:"), strings.Join(tags, ", "))
	}
	r.actions = append(r.actions, fmt.Sprintf("Archived image %s to %s, %s", name, r.o.ArchivePath, reason))
	r.res.Changed = true
	r.res.Data["image"] = doc
	if r.m.CheckMode {
		return nil
	}
	return r.saveTo(ctx, r.ref, r.o.ArchivePath)
}

// saveTo writes `docker save` of ref to dest. It is written beside dest and
// renamed into place: an interrupted save never leaves a truncated archive
// under the name.
func (r *runner) saveTo(ctx context.Context, ref, dest string) error {
	rc, err := r.e.API.ImageSave(ctx, []string{ref})
	if err != nil {
		return fmt.Errorf("Error getting image %s - %w", ref, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".archive-*")
	if err != nil {
		return fmt.Errorf("Error writing image archive %s - %w", dest, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, rc); err != nil {
		tmp.Close()
		return fmt.Errorf("Error writing image archive %s - %w", dest, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("Error writing image archive %s - %w", dest, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("Error writing image archive %s - %w", dest, err)
	}
	return nil
}

// normalizedTag is how docker save names a reference in RepoTags: the
// familiar form ("foo:latest", not "docker.io/library/foo:latest").
func normalizedTag(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(named)
}

// load is source=load: load the archive and check that it held the image asked for.
func (r *runner) load(ctx context.Context, before map[string]any) error {
	st, err := os.Stat(r.o.LoadPath)
	if err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("Error loading image %s. Specified path %s does not exist.", r.name, r.o.LoadPath)
	}
	r.actions = append(r.actions, fmt.Sprintf("Loaded image %s from %s", r.ref, r.o.LoadPath))
	r.res.Changed = true
	if r.m.CheckMode {
		// The archive says which image it holds: loading the image the name
		// already has is no change, as the real run finds after loading it.
		// (docker_image says changed here whatever the archive holds.)
		if before != nil {
			ids, tags, err := archiveManifest(r.o.LoadPath)
			named := isImageID(r.ref) || slices.ContainsFunc(tags, func(t string) bool { return normalizedTag(t) == normalizedTag(r.ref) })
			if err == nil && named && slices.Contains(ids, imageID(before)) {
				r.res.Changed = false
			}
		}
		return nil
	}
	f, err := os.Open(r.o.LoadPath)
	if err != nil {
		return fmt.Errorf("Error opening image %s - %w", r.o.LoadPath, err)
	}
	defer f.Close()
	resp, err := r.e.API.ImageLoad(ctx, f, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("Error loading image %s - %w", r.name, err)
	}
	lines, loadErr := stream(resp.Body)
	var out []string
	for _, l := range lines {
		out = append(out, strings.TrimSpace(l))
	}
	if loadErr != nil {
		// The engine reports a broken archive inside a 200 response; like
		// docker_image, judge by what was loaded, and keep the engine's words.
		out = append(out, loadErr.Error())
	}
	r.res.Data["stdout"] = strings.Join(out, "\n")
	var names, ids []string
	for _, l := range out {
		if v, ok := strings.CutPrefix(l, "Loaded image ID:"); ok {
			ids = append(ids, strings.ToLower(strings.TrimSpace(v)))
		} else if v, ok := strings.CutPrefix(l, "Loaded image:"); ok {
			names = append(names, strings.TrimSpace(v))
		}
	}
	if len(names) == 0 && len(ids) == 0 {
		return errors.New("Detected no loaded images. Archive potentially corrupt?")
	}
	found := slices.Contains(names, r.ref)
	if isImageID(r.ref) {
		want := strings.ToLower(r.ref)
		if !strings.HasPrefix(want, "sha256:") {
			want = "sha256:" + want
		}
		found = slices.Contains(ids, want)
	}
	// docker_image's lists: names quoted, IDs not, sorted together.
	listed := func(names []string) string {
		var out []string
		for _, n := range names {
			out = append(out, "'"+n+"'")
		}
		out = append(out, ids...)
		slices.Sort(out)
		return strings.Join(out, ", ")
	}
	if !found {
		return fmt.Errorf("The archive did not contain image '%s'. Instead, found %s.", r.ref, listed(names))
	}
	if loadErr != nil {
		return fmt.Errorf("Error loading image %s - %w", r.name, loadErr)
	}
	if others := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == r.ref }); !isImageID(r.ref) && len(others) > 0 {
		r.m.Warn(fmt.Sprintf("The archive contained more images than specified: %s", listed(others)))
	}
	after, err := r.inspect(ctx, r.ref)
	if err != nil {
		return err
	}
	r.settle(before, after)
	return nil
}
