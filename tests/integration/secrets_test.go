package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// savedImage is `docker save` of ref: the whole tarball, and every file in
// its layers by path.
func savedImage(t testing.TB, ref string) (raw []byte, files map[string][]byte) {
	t.Helper()
	raw, _, files = saveImage(t, ref)
	return raw, files
}

// saveImage is savedImage plus everything the tarball holds, with compressed
// layers expanded (the containerd image store saves gzip blobs), so that
// searching it for a secret means something on every engine.
func saveImage(t testing.TB, ref string) (saved, expanded []byte, files map[string][]byte) {
	t.Helper()
	rc, err := dockerClient(t).ImageSave(context.Background(), []string{ref})
	require.NoError(t, err)
	defer rc.Close()
	saved, err = io.ReadAll(rc)
	require.NoError(t, err)
	files = map[string][]byte{}
	var all bytes.Buffer
	outer := tar.NewReader(bytes.NewReader(saved))
	for {
		h, err := outer.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(outer)
		require.NoError(t, err)
		if len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			require.NoError(t, err)
			body, err = io.ReadAll(zr)
			require.NoError(t, err)
		}
		all.WriteString(h.Name + "\n")
		all.Write(body)
		if !strings.HasSuffix(h.Name, "layer.tar") && !strings.HasPrefix(h.Name, "blobs/") {
			continue
		}
		inner := tar.NewReader(bytes.NewReader(body))
		for {
			ih, err := inner.Next()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(inner)
			files[strings.TrimPrefix(ih.Name, "./")] = b
		}
	}
	return saved, all.Bytes(), files
}

func TestSecretsReachTheBuildAndNothingElse(t *testing.T) {
	const fileSecret = "file-secret-Zq8vX2"
	const envSecret = "env-secret-Lm4pR7"
	const valueSecret = "value-secret-Hw9tK3"
	t.Setenv("BK_TEST_TOKEN", envSecret)
	secretFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(secretFile, []byte(fileSecret+"\n"), 0o600))

	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM local/busybox:latest
RUN --mount=type=secret,id=f,required=true --mount=type=secret,id=e,required=true --mount=type=secret,id=v,required=true \
    wc -c < /run/secrets/f > /f.len && wc -c < /run/secrets/e > /e.len && wc -c < /run/secrets/v > /v.len && \
    echo "printing a secret to the log: $(cat /run/secrets/v)"
`})
	args := buildArgs(name, dir, map[string]any{"nocache": true, "secrets": []any{
		map[string]any{"id": "f", "type": "file", "src": secretFile},
		map[string]any{"id": "e", "type": "env", "env": "BK_TEST_TOKEN"},
		map[string]any{"id": "v", "type": "value", "value": valueSecret},
	}})
	res := run(t, "buildkit_image", args, map[string]any{"_ansible_verbosity": 4})
	require.False(t, res.failed(), res.msg())
	assert.True(t, res.changed())

	// Each type reached the build: the lengths were written by RUN.
	_, raw, files := saveImage(t, name+":latest")
	assert.Equal(t, "19", strings.TrimSpace(string(files["f.len"])), "file secret (with its newline)")
	assert.Equal(t, "17", strings.TrimSpace(string(files["e.len"])), "env secret")
	assert.Equal(t, "19", strings.TrimSpace(string(files["v.len"])), "value secret")

	// And appears in no output channel.
	out, err := json.Marshal(res)
	require.NoError(t, err)
	history, err := dockerClient(t).ImageHistory(context.Background(), name+":latest")
	require.NoError(t, err)
	hist, _ := json.Marshal(history)
	cli, _ := exec.Command("docker", "history", "--no-trunc", name+":latest").CombinedOutput()
	for _, secret := range []string{fileSecret, envSecret, valueSecret} {
		assert.NotContains(t, string(out), secret, "module result")
		assert.NotContains(t, string(hist), secret, "image history (API)")
		assert.NotContains(t, string(cli), secret, "docker history --no-trunc")
		assert.False(t, bytes.Contains(raw, []byte(secret)), "saved image tarball")
	}
	assert.Contains(t, res["stdout"], "printing a secret to the log: ********", "the build log is masked")

	// The secrets' values are not inputs: the same build is a no-op.
	again := run(t, "buildkit_image", args)
	require.False(t, again.failed(), again.msg())
	assert.False(t, again.changed())
}

func TestSecretErrorsNameTheOption(t *testing.T) {
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\n"})
	cases := []struct {
		secret map[string]any
		want   string
	}{
		{map[string]any{"id": "a", "type": "file", "src": "/does/not/exist"}, "build.secrets[0].src"},
		{map[string]any{"id": "a", "type": "env", "env": "BK_TEST_UNSET_VARIABLE"}, "build.secrets[0].env"},
		{map[string]any{"id": "a", "type": "file"}, "src"},
		{map[string]any{"id": "a", "type": "value", "value": "not-in-messages", "env": "Y"}, "mutually exclusive"},
		{map[string]any{"type": "value", "value": "x"}, "id"},
		{map[string]any{"id": "a", "type": "vault", "value": "x"}, "type"},
	}
	for _, c := range cases {
		res := run(t, "buildkit_image", buildArgs("bk-it-secret-errors", dir, map[string]any{"secrets": []any{c.secret}}))
		assert.True(t, res.failed(), "%v", c.secret)
		assert.Contains(t, res.msg(), c.want, "%v", c.secret)
	}
}

func TestSSHAgentForwarded(t *testing.T) {
	agent, err := exec.LookPath("ssh-agent")
	if err != nil {
		t.Fatalf("ssh-agent not installed (openssh-client): %v", err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command(agent, "-D", "-a", sock)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	name := uniqueName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM local/busybox:latest\nRUN --mount=type=ssh,required=true test -S \"$SSH_AUTH_SOCK\" && echo forwarded > /ssh.txt\n"})
	res := run(t, "buildkit_image", buildArgs(name, dir, map[string]any{"ssh": []any{map[string]any{"paths": []any{sock}}}}))
	require.False(t, res.failed(), res.msg())
	_, files := savedImage(t, name+":latest")
	assert.Equal(t, "forwarded\n", string(files["ssh.txt"]))

	missing := run(t, "buildkit_image", buildArgs(name, dir, map[string]any{"ssh": []any{map[string]any{"id": "default", "paths": []any{"/no/agent.sock"}}}}))
	assert.True(t, missing.failed())
	assert.Contains(t, missing.msg(), "build.ssh[0].paths")
}
