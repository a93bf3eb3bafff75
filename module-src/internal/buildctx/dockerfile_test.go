package buildctx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDockerfileBaseImages(t *testing.T) {
	cases := []struct {
		name string
		df   string
		args map[string]string
		want []string
	}{
		{"plain", "FROM debian:bookworm\nRUN true\n", nil, []string{"debian:bookworm"}},
		{"scratch is no image", "FROM scratch\nCOPY a /\n", nil, nil},
		{"stages are not images", "FROM golang:1.26 AS build\nRUN go build\nFROM debian:bookworm\nCOPY --from=build /x /x\nFROM build AS test\n", nil,
			[]string{"golang:1.26", "debian:bookworm"}},
		{"stage names are case-insensitive", "FROM alpine AS Base\nFROM base\n", nil, []string{"alpine"}},
		{"global ARG default", "ARG BASE=debian:bookworm-slim\nFROM ${BASE}\n", nil, []string{"debian:bookworm-slim"}},
		{"user arg overrides default", "ARG BASE=debian:bookworm-slim\nFROM $BASE\n", map[string]string{"BASE": "local/busybox"}, []string{"local/busybox"}},
		{"undeclared arg is not used", "FROM ${BASE:-alpine}\n", map[string]string{"BASE": "ignored"}, []string{"alpine"}},
		{"ARG after FROM does not affect FROM", "FROM a\nARG B=c\nFROM ${B:-d}\n", nil, []string{"a", "d"}},
		{"platform flag", "FROM --platform=linux/amd64 debian:bookworm\n", nil, []string{"debian:bookworm"}},
		{"duplicates once", "FROM a\nFROM a\n", nil, []string{"a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			df, err := ParseDockerfile([]byte(c.df), c.args)
			require.NoError(t, err)
			assert.Equal(t, c.want, df.BaseImages)
		})
	}
}

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
			df, err := ParseDockerfile([]byte(c.df), nil)
			require.NoError(t, err)
			assert.Equal(t, c.want, df.BuildKitOnly)
		})
	}
}

func TestParseDockerfileErrors(t *testing.T) {
	_, err := ParseDockerfile([]byte("FROM\n"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1")
	_, err = ParseDockerfile([]byte("root:x:0:0:root:/root:/bin/bash\n"), nil)
	require.Error(t, err, "not a Dockerfile")
	assert.Contains(t, err.Error(), "line 1: unknown instruction")
	_, err = ParseDockerfile([]byte("# comment\nfrom a\nRun true\n"), nil)
	assert.NoError(t, err, "instructions are case-insensitive")
}
