package buildctx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDockerfileBuildKitOnly(t *testing.T) {
	cases := []struct {
		name string
		df   string
		want []string
	}{
		{"classic", "FROM a\nRUN echo hi\nCOPY --chown=1:1 x /x\n", nil},
		{"cache mount", "FROM a\nRUN --mount=type=cache,target=/c true\n", []string{"line 2: RUN --mount=type=cache,target=/c"}},
		{"secret mount", "FROM a\n\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n", []string{"line 3: RUN --mount=type=secret,id=tok"}},
		{"network flag", "FROM a\nRUN --network=none true\n", []string{"line 2: RUN --network=none"}},
		{"copy link and chmod", "FROM a\nCOPY --link --chmod=755 x /x\n", []string{"line 2: COPY --link", "line 2: COPY --chmod=755"}},
		{"heredoc", "FROM a\nRUN <<EOF\necho hi\nEOF\n", []string{"line 2: heredoc in RUN"}},
		{"syntax directive", "# syntax=docker/dockerfile:1\nFROM a\n", []string{"line 1: '# syntax=docker/dockerfile:1' directive (a frontend image)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			df, err := ParseDockerfile([]byte(c.df))
			require.NoError(t, err)
			assert.Equal(t, c.want, df.BuildKitOnly)
		})
	}
}

func TestParseDockerfileErrors(t *testing.T) {
	_, err := ParseDockerfile([]byte("FROM\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1")
	_, err = ParseDockerfile([]byte("root:x:0:0:root:/root:/bin/bash\n"))
	require.Error(t, err, "not a Dockerfile")
	assert.Contains(t, err.Error(), "line 1: unknown instruction")
	_, err = ParseDockerfile([]byte("# comment\nfrom a\nRun true\n"))
	assert.NoError(t, err, "instructions are case-insensitive")
}
