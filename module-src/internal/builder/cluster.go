package builder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/docker/client"
)

// Cluster is a builder made of several BuildKit daemons, its nodes: standalone
// daemons (driver remote) or BuildKit containers on the engine (driver
// docker-container), kept in buildx's builder store as one builder with
// several nodes, as `docker buildx create --append` makes it. Each node is a
// builder of its own (NodeBuildKit): the module places each build (each
// platform of it) on a node, so a node's BuildKit keeps its own copies of the
// contexts and its own cache, as it does.
type Cluster struct {
	Name   string
	Driver string // DriverRemote or DriverDockerContainer
	Nodes  []*Node
	// FromStore says the nodes came from buildx's builder store (a builder
	// made by `docker buildx create --append`), not from builder.nodes.
	FromStore bool

	api  *client.Client
	host string // the engine's address: a docker-container node's endpoint in buildx's store
}

// Node is one daemon of a Cluster.
type Node struct {
	Name string
	// Endpoint is where it is: a remote daemon's address, or a
	// docker-container node's container.
	Endpoint string
	// Declared are the platforms the user says it runs natively (buildx
	// create --platform); when empty, those of its first worker platform's
	// architecture are (BuildKit lists a daemon's own platform first, then
	// the emulated ones).
	Declared []string

	remote    Remote
	container *Container
	bk        *DaemonBuildKit
}

// Builder is the node as a builder of its own.
func (n *Node) Builder() *DaemonBuildKit { return n.bk }

// Cluster is the multi-node builder the choice names, and whether it is one:
// builder.nodes, or, for a builder.name without an endpoint or nodes, a
// builder of several nodes (or a remote one) in buildx's builder store.
func (c *Choice) Cluster(api *client.Client, host string) (*Cluster, bool, error) {
	if c == nil || (c.Driver != DriverRemote && c.Driver != DriverDockerContainer) {
		return nil, false, nil
	}
	cl := &Cluster{Name: c.Name, Driver: c.Driver, api: api, host: host}
	nodes := c.Nodes
	if len(nodes) == 0 {
		if c.Name == "" || c.Endpoint != "" {
			return nil, false, nil
		}
		ng, err := readNodeGroup(c.Name)
		if err != nil || ng.Driver != c.Driver || (c.Driver == DriverDockerContainer && len(ng.Nodes) < 2) || len(ng.Nodes) == 0 {
			return nil, false, nil
		}
		cl.FromStore = true
		for _, n := range ng.Nodes {
			nc := NodeChoice{Name: n.Name, Platforms: storePlatforms(n.Platforms)}
			if c.Driver == DriverRemote {
				nc.Endpoint = n.Endpoint
				nc.CA, nc.Cert, nc.Key, nc.ServerName = n.DriverOpts["cacert"], n.DriverOpts["cert"], n.DriverOpts["key"], n.DriverOpts["servername"]
			}
			nodes = append(nodes, nc)
		}
	}
	if cl.Name == "" {
		return nil, true, fmt.Errorf("builder.nodes: give the builder a builder.name (buildx's store keeps it under that name)")
	}
	if err := validBuilderName(cl.Name); err != nil {
		return nil, true, err
	}
	seen := map[string]bool{}
	for i, n := range nodes {
		opt := fmt.Sprintf("builder.nodes[%d]", i)
		if err := validBuilderName(n.Name); err != nil {
			return nil, true, fmt.Errorf("%s.name: %v", opt, strings.TrimPrefix(err.Error(), "builder.name: "))
		}
		if seen[n.Name] {
			return nil, true, fmt.Errorf("%s.name: %q is given twice", opt, n.Name)
		}
		seen[n.Name] = true
		for j, p := range n.Platforms {
			if _, err := platforms.Parse(p); err != nil {
				return nil, true, fmt.Errorf("%s.platforms[%d]: %q is not a platform (os/arch[/variant], e.g. linux/arm64): %v", opt, j, p, err)
			}
		}
		node := &Node{Name: n.Name, Declared: normalized(n.Platforms)}
		switch c.Driver {
		case DriverRemote:
			r := Remote{Endpoint: n.Endpoint, CA: or(n.CA, c.CA), Cert: or(n.Cert, c.Cert), Key: or(n.Key, c.Key),
				ServerName: or(n.ServerName, c.ServerName), Insecure: c.Insecure}
			if n.Endpoint == "" {
				return nil, true, fmt.Errorf("%s.endpoint: a remote node needs the daemon's address (unix:// or tcp://)", opt)
			}
			if err := r.check(false); err != nil {
				return nil, true, errors.New(strings.Replace(err.Error(), "builder.", opt+".", 1))
			}
			node.remote, node.Endpoint = r, r.Endpoint
			node.bk = &DaemonBuildKit{name: fmt.Sprintf("buildkit (%s/%s: remote %s)", cl.Name, n.Name, r.Endpoint),
				driver: DriverRemote, connect: r.Connect, api: api}
		case DriverDockerContainer:
			for k, v := range map[string]string{"endpoint": n.Endpoint, "ca": n.CA, "cert": n.Cert, "key": n.Key, "server_name": n.ServerName} {
				if v != "" {
					return nil, true, fmt.Errorf("%s.%s: a docker-container node is a BuildKit container on this engine; %s is for remote nodes", opt, k, k)
				}
			}
			ct := newNodeContainer(Container{Name: cl.Name, Image: c.Image, Memory: c.Memory, CPUs: c.CPUs, Network: c.Network,
				Config: c.Config, InsecureRegistries: c.InsecureRegistries, RegistryMirrors: c.RegistryMirrors}, n.Name, api, host)
			if err := ct.Check(); err != nil {
				return nil, true, err
			}
			node.container, node.Endpoint = ct, ct.ContainerName()
			node.bk = &DaemonBuildKit{name: fmt.Sprintf("buildkit (%s/%s: docker-container %s)", cl.Name, n.Name, ct.ContainerName()),
				driver: DriverDockerContainer, connect: ct.Connect, api: api}
		}
		cl.Nodes = append(cl.Nodes, node)
	}
	if len(cl.Nodes) == 0 {
		return nil, true, fmt.Errorf("builder.nodes: list at least one node")
	}
	return cl, true, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func normalized(ps []string) []string {
	var out []string
	for _, p := range ps {
		if s, err := platforms.Parse(p); err == nil {
			out = append(out, platforms.Format(platforms.Normalize(s)))
		}
	}
	return out
}

// Node is the node called name, nil when there is none.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Display is how results name the builder.
func (c *Cluster) Display() string {
	return fmt.Sprintf("buildkit (%s: %s cluster of %d nodes)", c.Name, c.Driver, len(c.Nodes))
}

// NodeStatus is what a probe found of one node.
type NodeStatus struct {
	Node string
	// Err is why it cannot build now (nil: it answers).
	Err error
	// Platforms are those its RUN steps run on, natively or emulated.
	Platforms []string
	// Native are those it runs natively.
	Native []string
	// Actions are what was done to make it answer (a docker-container node created or started).
	Actions []string
}

// Up says whether the node answers.
func (s NodeStatus) Up() bool { return s.Err == nil }

// Probe asks every node at once whether it answers and what it runs, each
// within timeout. A docker-container node is created or started first, as
// a docker-container builder is.
func (c *Cluster) Probe(ctx context.Context, timeout time.Duration) []NodeStatus {
	out := make([]NodeStatus, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.probe(ctx, n, timeout)
		}()
	}
	wg.Wait()
	return out
}

func (c *Cluster) probe(ctx context.Context, n *Node, timeout time.Duration) NodeStatus {
	st := NodeStatus{Node: n.Name}
	if n.container != nil {
		ectx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		acts, err := n.container.Ensure(ectx)
		cancel()
		st.Actions = acts
		if err != nil {
			st.Err = err
			return st
		}
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	have, err := n.bk.Platforms(pctx)
	if err != nil {
		st.Err = err
		return st
	}
	st.Platforms = have
	st.Native = nativeOf(n.Declared, have)
	return st
}

// Alive says whether the node answers now (within timeout).
func (n *Node) Alive(ctx context.Context, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := n.bk.connect(pctx)
	if err != nil {
		return err
	}
	return c.Close()
}

// nativeOf are the platforms a node runs natively: the declared ones, else
// those of its first worker platform's OS and architecture (BuildKit lists
// the daemon's own platform first, the emulated ones after it).
func nativeOf(declared, workers []string) []string {
	if len(declared) > 0 {
		return declared
	}
	if len(workers) == 0 {
		return nil
	}
	first, err := platforms.Parse(workers[0])
	if err != nil {
		return nil
	}
	var out []string
	for _, w := range workers {
		if p, err := platforms.Parse(w); err == nil && p.OS == first.OS && p.Architecture == first.Architecture {
			out = append(out, w)
		}
	}
	return out
}

// Features of a cluster are those of a BuildKit daemon of its own (each node is one).
func (c *Cluster) Features() Features {
	return Features{Has: map[Feature]bool{BuildKit: true, DirectPush: true, CacheExport: true, MultiPlatform: true, Attestations: true}}
}

// newNodeContainer is a docker-container node of a cluster: container
// buildx_buildkit_<node>, set up by the cluster (which keeps buildx's store).
func newNodeContainer(c Container, node string, api *client.Client, host string) *Container {
	c.api, c.host, c.node, c.inCluster = api, host, node, true
	return &c
}

// describeNodes is "a (linux/amd64), b (down: ...)" for messages.
func describeNodes(st []NodeStatus) string {
	var parts []string
	for _, s := range st {
		if s.Up() {
			parts = append(parts, fmt.Sprintf("%s runs %s", s.Node, strings.Join(s.Platforms, ", ")))
		} else {
			parts = append(parts, fmt.Sprintf("%s does not answer (%v)", s.Node, s.Err))
		}
	}
	return strings.Join(parts, "; ")
}

// CacheUsage implements BuildCache: the records of every node that answers
// (their IDs prefixed with the node's name); an error when none answers.
func (c *Cluster) CacheUsage(ctx context.Context) ([]CacheRecord, error) {
	var out []CacheRecord
	var errs []string
	for _, n := range c.Nodes {
		recs, err := n.bk.CacheUsage(ctx)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		for _, r := range recs {
			r.ID = n.Name + "/" + r.ID
			out = append(out, r)
		}
	}
	if len(errs) == len(c.Nodes) {
		return nil, fmt.Errorf("builder %s: no node answers: %s", c.Name, strings.Join(errs, "; "))
	}
	return out, nil
}

// PruneCache implements BuildCache: each node that answers is pruned with o.
func (c *Cluster) PruneCache(ctx context.Context, o PruneOptions) (int, int64, error) {
	deleted, reclaimed := 0, int64(0)
	var errs []string
	for _, n := range c.Nodes {
		d, r, err := n.bk.PruneCache(ctx, o)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		deleted, reclaimed = deleted+d, reclaimed+r
	}
	if len(errs) > 0 {
		return deleted, reclaimed, fmt.Errorf("builder %s: %s", c.Name, strings.Join(errs, "; "))
	}
	return deleted, reclaimed, nil
}
