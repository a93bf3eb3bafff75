package integration

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bigContext lays out a context of files×size bytes of random data.
func bigContext(b *testing.B, files, size int) string {
	b.Helper()
	dir := b.TempDir()
	buf := make([]byte, size)
	for i := 0; i < files; i++ {
		_, _ = rand.Read(buf)
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("f%04d.bin", i))
		require.NoError(b, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(b, os.WriteFile(p, buf, 0o644))
	}
	require.NoError(b, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM local/busybox:latest\nCOPY . /ctx\n"), 0o644))
	time.Sleep(50 * time.Millisecond)
	return dir
}

// BenchmarkNoOp100MB times a second, unchanged build of a 100 MB / 2,000-file
// context: buildkit_image (which decides from the context's metadata and one
// engine call) next to `docker buildx build` of the same context, when the
// pinned buildx is built (BUILDX=path, see .ci/tools/build.sh).
//
//	go test ./tests/integration -run '^$' -bench NoOp100MB -benchtime 5x
func BenchmarkNoOp100MB(b *testing.B) {
	dir := bigContext(b, 2000, 50<<10)
	name := "bk-bench-noop"
	defer removeImage(name + ":latest")
	args := buildArgs(name, dir, nil)
	first := run(b, "buildkit_image", args)
	require.False(b, first.failed(), first.msg())

	b.Run("buildkit_image", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			res := run(b, "buildkit_image", args)
			if res.failed() || res.changed() {
				b.Fatalf("no-op run changed or failed: %v", res.msg())
			}
		}
	})

	buildx := os.Getenv("BUILDX")
	if buildx == "" {
		b.Log("BUILDX not set: docker buildx build not measured")
		return
	}
	cfg := b.TempDir()
	plugins := filepath.Join(cfg, "cli-plugins")
	require.NoError(b, os.MkdirAll(plugins, 0o755))
	require.NoError(b, os.Symlink(buildx, filepath.Join(plugins, "docker-buildx")))
	buildxRun := func() {
		cmd := exec.Command("docker", "buildx", "build", "--progress", "quiet", "-t", name+"-buildx:latest", dir)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfg)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("buildx: %v\n%s", err, out)
		}
	}
	buildxRun()
	defer removeImage(name + "-buildx:latest")
	b.Run("docker_buildx_build", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buildxRun()
		}
	})
}
