package builder

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
	"github.com/moby/sys/atomicwriter"
)

// buildx keeps its builders as JSON files under $BUILDX_CONFIG (default
// $DOCKER_CONFIG/buildx, else ~/.docker/buildx): instances/<name>, one node
// group each, and activity/<name> with the time it was last used. Writing the
// same records keeps `docker buildx ls` in step with our builders.

type nodeGroup struct {
	Name    string
	Driver  string
	Nodes   []node
	Dynamic bool
}

type node struct {
	Name       string
	Endpoint   string
	Platforms  []any
	DriverOpts map[string]string
	Flags      []string
	Files      map[string][]byte
}

func buildxDir() string {
	if d := os.Getenv("BUILDX_CONFIG"); d != "" {
		return d
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "buildx")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker", "buildx")
}

func readNodeGroup(name string) (*nodeGroup, error) {
	dir := buildxDir()
	if dir == "" {
		return nil, os.ErrNotExist
	}
	b, err := os.ReadFile(filepath.Join(dir, "instances", name))
	if err != nil {
		return nil, err
	}
	var ng nodeGroup
	if err := json.Unmarshal(b, &ng); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "instances", name), err)
	}
	return &ng, nil
}

// storeEndpoint is how buildx names the engine a node runs on: the docker
// context "default" for the local socket, else the engine's address.
func storeEndpoint(host string) string {
	if host == "" || host == "unix:///var/run/docker.sock" {
		return "default"
	}
	return host
}

// saveToStore records the builder in buildx's store, keeping a builder that
// buildx made as it is (only its last-activity time moves).
func (c *Container) saveToStore(cfg []byte) error {
	dir := buildxDir()
	if dir == "" {
		return nil
	}
	for _, d := range []string{"instances", "activity", "defaults"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	lock := flock.New(filepath.Join(dir, ".lock"))
	if err := lock.Lock(); err != nil {
		return err
	}
	defer lock.Unlock()
	if _, err := readNodeGroup(c.Name); os.IsNotExist(err) {
		n := node{Name: c.node, Endpoint: storeEndpoint(c.host), DriverOpts: c.driverOpts()}
		if len(cfg) > 0 {
			n.Files = map[string][]byte{"buildkitd.toml": cfg}
			n.Flags = []string{}
		}
		b, err := json.Marshal(nodeGroup{Name: c.Name, Driver: "docker-container", Nodes: []node{n}})
		if err != nil {
			return err
		}
		if err := atomicwriter.WriteFile(filepath.Join(dir, "instances", c.Name), b, 0o600); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return atomicwriter.WriteFile(filepath.Join(dir, "activity", c.Name), []byte(time.Now().UTC().Format(time.RFC3339)), 0o600)
}
