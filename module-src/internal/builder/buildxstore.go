package builder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/platforms"
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

// openStore makes buildx's store directories and locks the store as buildx
// does; dir is "" when there is no home to keep it in.
func openStore() (dir string, unlock func(), err error) {
	dir = buildxDir()
	if dir == "" {
		return "", nil, nil
	}
	for _, d := range []string{"instances", "activity", "defaults"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return "", nil, err
		}
	}
	lock := flock.New(filepath.Join(dir, ".lock"))
	if err := lock.Lock(); err != nil {
		return "", nil, err
	}
	return dir, func() { _ = lock.Unlock() }, nil
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
	dir, unlock, err := openStore()
	if dir == "" || err != nil {
		return err
	}
	defer unlock()
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

// storePlatform is a platform as buildx's store writes it (an OCI platform).
type storePlatform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

// storePlatforms reads a node's platforms from buildx's store.
func storePlatforms(ps []any) []string {
	var out []string
	for _, p := range ps {
		m, _ := p.(map[string]any)
		os, _ := m["os"].(string)
		arch, _ := m["architecture"].(string)
		if os == "" || arch == "" {
			continue
		}
		s := os + "/" + arch
		if v, _ := m["variant"].(string); v != "" {
			s += "/" + v
		}
		out = append(out, s)
	}
	return out
}

// SaveToStore records the cluster in buildx's store as one builder with a
// node per daemon, the way `docker buildx create --append` does, so `docker
// buildx ls` lists the builder and its nodes. A builder of that name with
// another driver is refused; one made by buildx and used as it is (its
// nodes read from the store) is kept (only its last-activity time moves).
func (c *Cluster) SaveToStore() error {
	dir, unlock, err := openStore()
	if dir == "" || err != nil {
		return err
	}
	defer unlock()
	if old, err := readNodeGroup(c.Name); err == nil && old.Driver != c.Driver {
		return fmt.Errorf("builder.name: %q is a %s builder in buildx's builder store, not %s", c.Name, old.Driver, c.Driver)
	} else if err != nil && !os.IsNotExist(err) {
		return err
	}
	if !c.FromStore {
		ng := nodeGroup{Name: c.Name, Driver: c.Driver}
		for _, n := range c.Nodes {
			sn := node{Name: n.Name, DriverOpts: map[string]string{}}
			for _, p := range n.Declared {
				if spec, err := platforms.Parse(p); err == nil {
					sn.Platforms = append(sn.Platforms, storePlatform{OS: spec.OS, Architecture: spec.Architecture, Variant: spec.Variant})
				}
			}
			switch {
			case n.container != nil:
				sn.Endpoint = storeEndpoint(c.host)
				sn.DriverOpts = n.container.driverOpts()
				if cfg, err := n.container.buildkitdConfig(); err == nil && len(cfg) > 0 {
					sn.Files = map[string][]byte{"buildkitd.toml": cfg}
					sn.Flags = []string{}
				}
			default:
				sn.Endpoint = n.remote.Endpoint
				for k, v := range map[string]string{"cacert": n.remote.CA, "cert": n.remote.Cert, "key": n.remote.Key} {
					if v != "" {
						if abs, err := filepath.Abs(v); err == nil {
							v = abs
						}
						sn.DriverOpts[k] = v
					}
				}
				if n.remote.ServerName != "" {
					sn.DriverOpts["servername"] = n.remote.ServerName
				}
			}
			ng.Nodes = append(ng.Nodes, sn)
		}
		b, err := json.Marshal(ng)
		if err != nil {
			return err
		}
		if prev, err := os.ReadFile(filepath.Join(dir, "instances", c.Name)); err != nil || !bytes.Equal(prev, b) {
			if err := atomicwriter.WriteFile(filepath.Join(dir, "instances", c.Name), b, 0o600); err != nil {
				return err
			}
		}
	}
	return atomicwriter.WriteFile(filepath.Join(dir, "activity", c.Name), []byte(time.Now().UTC().Format(time.RFC3339)), 0o600)
}
