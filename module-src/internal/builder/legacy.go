package builder

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	archive "github.com/moby/go-archive"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/guard"
)

// Legacy is the engine's classic builder (POST /build without BuildKit), for
// engines without BuildKit and for users who ask for it.
type Legacy struct {
	api *client.Client
}

// NewLegacy returns the classic builder of the engine api talks to.
func NewLegacy(api *client.Client) *Legacy { return &Legacy{api: api} }

// Name implements Builder.
func (b *Legacy) Name() string { return "legacy (docker engine classic builder)" }

// Driver implements Builder.
func (b *Legacy) Driver() string { return DriverLegacy }

// Features implements Builder (featuresOf).
func (b *Legacy) Features(context.Context) (Features, error) {
	return featuresOf(DriverLegacy, false, nil), nil
}

var stepLine = regexp.MustCompile(`^Step \d+/\d+ : `)

// Build implements Builder.
func (b *Legacy) Build(ctx context.Context, req Request) (*Result, error) {
	if len(req.Secrets) > 0 || len(req.SSH) > 0 || len(req.CacheTo) > 0 || req.Export != nil {
		return nil, errors.New("secrets, ssh, cache exports and file outputs need BuildKit; the classic builder has none of them")
	}
	var cacheFrom []string
	for _, c := range req.CacheFrom {
		if c.Type != "registry" {
			return nil, fmt.Errorf("the classic builder takes image names as cache sources, not type=%s", c.Type)
		}
		cacheFrom = append(cacheFrom, c.Attrs["ref"])
	}
	rel, err := filepath.Rel(req.ContextDir, req.DockerfilePath)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("the classic builder needs the Dockerfile inside the build context (%s is outside %s)", req.DockerfilePath, req.ContextDir)
	}
	// The Dockerfile and .dockerignore always travel, as with the docker CLI.
	excludes := append(append([]string{}, req.Excludes...), "!"+filepath.ToSlash(rel), "!.dockerignore")
	tar, err := archive.TarWithOptions(req.ContextDir, &archive.TarOptions{ExcludePatterns: excludes})
	if err != nil {
		return nil, fmt.Errorf("archive build context: %w", err)
	}
	defer tar.Close()

	args := make(map[string]*string, len(req.Args))
	for k, v := range req.Args {
		args[k] = &v
	}
	hosts := joinKV(req.ExtraHosts, ":")
	resp, err := b.api.ImageBuild(ctx, tar, build.ImageBuildOptions{
		Tags:        req.Tags,
		Dockerfile:  filepath.ToSlash(rel),
		BuildArgs:   args,
		Labels:      req.Labels,
		Target:      req.Target,
		Platform:    strings.Join(req.Platforms, ","),
		NoCache:     req.NoCache,
		PullParent:  req.Pull,
		NetworkMode: req.Network,
		ExtraHosts:  hosts,
		CacheFrom:   cacheFrom,
		ShmSize:     req.ShmSize,
		Remove:      req.Remove,
		ForceRemove: req.Remove,
		Memory:      req.Limits.Memory,
		MemorySwap:  req.Limits.MemorySwap,
		CPUShares:   req.Limits.CPUShares,
		CPUSetCPUs:  req.Limits.CPUSetCPUs,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return nil, fmt.Errorf("start classic build: %w", err)
	}
	defer resp.Body.Close()

	progress := req.Progress
	if progress == nil {
		progress = io.Discard
	}
	res := &Result{Builder: b.Name()}
	pr, pw := io.Pipe()
	counted := make(chan struct{})
	go func() { // count steps from the text the engine streams
		defer close(counted)
		_ = guard.Func(func() error {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				line := sc.Text()
				if stepLine.MatchString(line) {
					res.Steps++
				} else if strings.Contains(line, "---> Using cache") {
					res.CachedSteps++
				}
			}
			return nil
		})() // counting is best effort: a panic only loses the count
		io.Copy(io.Discard, pr)
	}()
	err = jsonmessage.DisplayJSONMessagesStream(resp.Body, io.MultiWriter(progress, pw), 0, false, func(msg jsonmessage.JSONMessage) {
		var aux struct{ ID string }
		if msg.Aux != nil && json.Unmarshal(*msg.Aux, &aux) == nil && aux.ID != "" {
			res.ImageID = aux.ID
		}
	})
	pw.Close()
	<-counted
	if err != nil {
		var jerr *jsonmessage.JSONError
		if errors.As(err, &jerr) {
			return nil, &StepError{Msg: jerr.Message}
		}
		return nil, fmt.Errorf("classic build: %w", err)
	}
	if res.ImageID == "" {
		return nil, errors.New("classic build finished without reporting an image ID")
	}
	return res, nil
}
