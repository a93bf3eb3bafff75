package buildctx

import (
	"context"
	"sort"
	"testing"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readSources(t *testing.T, df string, o SourceOptions) (*Sources, []string) {
	t.Helper()
	var asked []string
	src, err := ReadSources(context.Background(), []byte(df), o, func(_ context.Context, ref string, p ocispecs.Platform) ([]byte, error) {
		asked = append(asked, ref+" "+p.OS+"/"+p.Architecture)
		return nil, nil
	})
	require.NoError(t, err)
	sort.Strings(asked)
	return src, asked
}

func refs(src *Sources) []string {
	var out []string
	for _, im := range src.Images {
		out = append(out, im.Ref+" "+im.Platform)
	}
	sort.Strings(out)
	return out
}

func TestReadSourcesFindsEveryImageTheBuildReads(t *testing.T) {
	host := SourceOptions{BuildPlatform: "linux/amd64"}
	cases := []struct {
		name string
		df   string
		o    SourceOptions
		want []string
	}{
		{"plain FROM", "FROM debian:bookworm\nRUN true\n", host, []string{"docker.io/library/debian:bookworm linux/amd64"}},
		{"scratch reads nothing", "FROM scratch\nCOPY a /\n", host, nil},
		{"stages are not images", "FROM golang:1.26 AS build\nRUN go build\nFROM debian:bookworm\nCOPY --from=build /x /x\n", host,
			[]string{"docker.io/library/debian:bookworm linux/amd64", "docker.io/library/golang:1.26 linux/amd64"}},
		{"a stage the target does not reach is not read", "FROM a:1 AS unused\nFROM b:1\n", host, []string{"docker.io/library/b:1 linux/amd64"}},
		{"target", "FROM a:1 AS one\nFROM b:1 AS two\n", SourceOptions{BuildPlatform: "linux/amd64", Target: "one"}, []string{"docker.io/library/a:1 linux/amd64"}},
		{"automatic platform ARGs", "FROM x:${TARGETARCH}\n", host, []string{"docker.io/library/x:amd64 linux/amd64"}},
		{"each target platform", "FROM x-${TARGETARCH}:1\n", SourceOptions{BuildPlatform: "linux/amd64", Platforms: []string{"linux/amd64", "linux/arm64"}},
			[]string{"docker.io/library/x-amd64:1 linux/amd64", "docker.io/library/x-arm64:1 linux/arm64"}},
		{"a global ARG default from another ARG", "ARG NS=team\nARG BASE=${NS}/tool\nFROM ${BASE}:1\n", host, []string{"docker.io/team/tool:1 linux/amd64"}},
		{"build-arg overrides under a nested default", "ARG NS=team\nARG BASE=${NS}/tool\nFROM ${BASE}:1\n",
			SourceOptions{BuildPlatform: "linux/amd64", Args: map[string]string{"NS": "ours"}}, []string{"docker.io/ours/tool:1 linux/amd64"}},
		{"COPY --from an image", "FROM a:1\nCOPY --from=registry.example:5000/tools:2 /t /t\n", host,
			[]string{"docker.io/library/a:1 linux/amd64", "registry.example:5000/tools:2 linux/amd64"}},
		{"RUN --mount from an image", "FROM a:1\nRUN --mount=type=bind,from=helper:3,target=/h true\n", host,
			[]string{"docker.io/library/a:1 linux/amd64", "docker.io/library/helper:3 linux/amd64"}},
		{"FROM --platform=$BUILDPLATFORM", "FROM --platform=$BUILDPLATFORM golang:1 AS b\nFROM a:1\nCOPY --from=b /x /x\n",
			SourceOptions{BuildPlatform: "linux/amd64", Platforms: []string{"linux/arm64"}},
			[]string{"docker.io/library/a:1 linux/arm64", "docker.io/library/golang:1 linux/amd64"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, _ := readSources(t, c.df, c.o)
			assert.Equal(t, c.want, refs(src))
		})
	}
}

func TestReadSourcesURLsGitAndSyntax(t *testing.T) {
	df := "# syntax=docker/dockerfile:1.7\nFROM a:1\nADD https://example.com/x.tgz /x\n" +
		"ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/y /y\n" +
		"ADD https://github.com/moby/buildkit.git#v0.10.1 /src\n"
	src, _ := readSources(t, df, SourceOptions{BuildPlatform: "linux/amd64"})
	assert.Equal(t, "docker/dockerfile:1.7", src.Syntax)
	assert.Equal(t, []URLSource{
		{URL: "https://example.com/x.tgz"},
		{URL: "https://example.com/y", Checksum: "sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d"},
	}, src.URLs)
	require.Len(t, src.Git, 1)
	assert.Contains(t, src.Git[0], "github.com/moby/buildkit.git")
}

func TestReadSourcesResolverErrorsAreTheCallers(t *testing.T) {
	_, err := ReadSources(context.Background(), []byte("FROM a:1\n"), SourceOptions{}, func(context.Context, string, ocispecs.Platform) ([]byte, error) {
		return nil, assert.AnError
	})
	assert.ErrorIs(t, err, assert.AnError)
	_, err = ReadSources(context.Background(), []byte("FROM ${NOPE}\n"), SourceOptions{}, func(context.Context, string, ocispecs.Platform) ([]byte, error) {
		return nil, nil
	})
	assert.Error(t, err, "an empty base name after expansion is BuildKit's error too")
}
