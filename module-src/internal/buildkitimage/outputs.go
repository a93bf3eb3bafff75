package buildkitimage

import (
	"context"
	"fmt"
	"os"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
)

// outputs handles build.outputs, in docker_image_build's shapes: type
// docker/image entries name (and push) the image in the engine; local, tar and
// oci entries write the build result to dest with a second, fully cached solve.
// built says whether the image was (or in check mode would be) built this run;
// a file output that exists is only rewritten then.
func (r *runner) outputs(ctx context.Context, req builder.Request, built bool) error {
	for i, o := range r.o.Build.Outputs {
		switch o.Type {
		case "docker", "image":
			if o.Dest != "" {
				return fmt.Errorf("build.outputs[%d].dest: type=%s outputs go to the engine; use archive_path for a tarball", i, o.Type)
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
			if _, err := os.Stat(o.Dest); err == nil && !built {
				continue
			}
			r.actions = append(r.actions, fmt.Sprintf("Exported image %s as %s to %s", r.ref, o.Type, o.Dest))
			r.res.Changed = true
			if r.m.CheckMode {
				continue
			}
			out := req
			out.Export = &builder.Export{Type: o.Type, Dest: o.Dest}
			out.Progress = nil
			bk := builder.NewEngineBuildKit(r.e.API)
			if _, err := bk.Build(ctx, out); err != nil {
				return fmt.Errorf("build.outputs[%d]: export %s to %s: %w", i, o.Type, o.Dest, err)
			}
		}
	}
	return nil
}
