package buildkitimage

import (
	"context"
	"fmt"
	"os"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
)

// outputs handles build.outputs, in docker_image_build's shapes: type
// docker/image entries name (and push) the image in the engine; type docker
// with dest is the image's docker-load tarball; local, tar and oci entries
// write the build result to dest with a second, fully cached solve.
// built says whether the image was (or in check mode would be) built this run;
// a file output that exists is only rewritten then.
func (r *runner) outputs(ctx context.Context, req builder.Request, built bool) error {
	for i, o := range r.o.Build.Outputs {
		switch o.Type {
		case "docker", "image":
			if o.Dest != "" && o.Type == "image" {
				return fmt.Errorf("build.outputs[%d].dest: type=image outputs go to the engine; type=docker with dest writes a tarball", i)
			}
			if o.Dest != "" {
				// A `docker load` tarball of the image, as buildx's type=docker,dest= writes it.
				if err := r.fileOutput(ctx, req, built, i, o); err != nil {
					return err
				}
				continue
			}
			if len(o.Name) == 0 && o.Push {
				if err := r.push(ctx, r.name, r.tag); err != nil {
					return err
				}
			}
			for _, n := range o.Name {
				if err := r.tagInto(ctx, n, o.Push); err != nil {
					return fmt.Errorf("build.outputs[%d].name %s: %w", i, n, err)
				}
			}
		case "local", "tar", "oci":
			if o.Dest == "" {
				return fmt.Errorf("build.outputs[%d].dest: type=%s needs dest", i, o.Type)
			}
			if o.Push || len(o.Name) > 0 {
				return fmt.Errorf("build.outputs[%d]: name and push apply to type docker or image only", i)
			}
			if err := r.fileOutput(ctx, req, built, i, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileOutput writes the build result to o.Dest with a second, fully cached
// solve, unless the file is there and nothing was built this run.
func (r *runner) fileOutput(ctx context.Context, req builder.Request, built bool, i int, o Output) error {
	if o.Type == "docker" && (o.Push || len(o.Name) > 0) {
		return fmt.Errorf("build.outputs[%d]: type=docker with dest writes the image, under its name, to a tarball; name and push need an entry without dest", i)
	}
	if _, err := os.Stat(o.Dest); err == nil && !built {
		return nil
	}
	r.actions = append(r.actions, fmt.Sprintf("Exported image %s as %s to %s", r.ref, o.Type, o.Dest))
	r.res.Changed = true
	if r.m.CheckMode {
		return nil
	}
	if o.Type == "docker" {
		// The image is in the engine under its name already: its `docker
		// save` is the tarball (every engine has that; Docker 20.10's
		// BuildKit has no docker exporter).
		return r.saveTo(ctx, r.ref, o.Dest)
	}
	out := req
	out.Export = &builder.Export{Type: o.Type, Dest: o.Dest}
	out.Progress = nil
	bk := builder.NewEngineBuildKit(r.e.API)
	if _, err := bk.Build(ctx, out); err != nil {
		return fmt.Errorf("build.outputs[%d]: export %s to %s: %w", i, o.Type, o.Dest, err)
	}
	return nil
}
