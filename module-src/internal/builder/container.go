package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-units"
	"github.com/gofrs/flock"
	bkclient "github.com/moby/buildkit/client"
	"github.com/pelletier/go-toml/v2"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/guard"
)

// DefaultContainerName is the seed's builder name, used when builder.name is not set.
const DefaultContainerName = "jenkins-builder"

// configLabel holds a digest of what the container was created from (image,
// network, buildkitd.toml), so a changed configuration recreates it.
const configLabel = "io.jenkins-ha.buildkit.builder.config"

// Container is a BuildKit daemon in a container on the engine, run the way
// buildx's docker-container driver runs one: container buildx_buildkit_<node>,
// state in the volume buildx_buildkit_<node>_state, privileged, with an init.
// The builder is recorded in buildx's builder store, so `docker buildx ls`
// lists it and a builder made by `docker buildx create` is reused.
type Container struct {
	Name               string
	Image              string
	Memory             string // e.g. "4g"
	CPUs               string // e.g. "2" or "1.5"
	Network            string // container network mode, e.g. "host"
	Config             string // path of a buildkitd.toml
	InsecureRegistries []string
	RegistryMirrors    []string

	api         *client.Client
	host        string // the engine's address, for buildx's store
	node        string // the node's name: buildx's store says, else <name>0
	storeDriver string // the builder's driver in buildx's store, "" if not there
	storeConfig []byte // buildkitd.toml kept in buildx's store for this builder
	inCluster   bool   // a node of a Cluster, which keeps buildx's store itself
}

// NewContainer returns the container builder c on the engine api at host.
func NewContainer(c Container, api *client.Client, host string) *Container {
	c.api, c.host = api, host
	if c.Name == "" {
		c.Name = DefaultContainerName
	}
	c.node = c.Name + "0"
	// A builder in buildx's store (made by `docker buildx create`, or by us)
	// brings its node name and driver options for what the task does not set.
	ng, err := readNodeGroup(c.Name)
	if err == nil {
		c.storeDriver = ng.Driver
	}
	if err == nil && ng.Driver == "docker-container" && len(ng.Nodes) > 0 {
		c.node = ng.Nodes[0].Name
		o := ng.Nodes[0].DriverOpts
		if c.Image == "" {
			c.Image = o["image"]
		}
		if c.Network == "" {
			c.Network = o["network"]
		}
		if c.Memory == "" {
			c.Memory = o["memory"]
		}
		if q, p := o["cpu-quota"], o["cpu-period"]; c.CPUs == "" && q != "" {
			qf, err1 := strconv.ParseFloat(q, 64)
			pf, err2 := strconv.ParseFloat(p, 64)
			if err2 != nil || pf == 0 {
				pf, err2 = cpuPeriod, nil
			}
			if err1 == nil && err2 == nil {
				c.CPUs = strconv.FormatFloat(qf/pf, 'f', -1, 64)
			}
		}
		if c.Config == "" && len(c.InsecureRegistries)+len(c.RegistryMirrors) == 0 {
			c.storeConfig = ng.Nodes[0].Files["buildkitd.toml"]
		}
	}
	return &c
}

// ContainerName is the name of the builder's container.
func (c *Container) ContainerName() string { return "buildx_buildkit_" + c.node }

// StateVolume is the name of the builder's state volume.
func (c *Container) StateVolume() string { return c.ContainerName() + "_state" }

// Check refuses options that cannot work before anything is created.
func (c *Container) Check() error {
	if err := validBuilderName(c.Name); err != nil {
		return err
	}
	if c.Memory != "" {
		if _, err := units.RAMInBytes(c.Memory); err != nil {
			return fmt.Errorf("builder.memory: %q is not a size (e.g. 4g)", c.Memory)
		}
	}
	if c.CPUs != "" {
		if f, err := strconv.ParseFloat(c.CPUs, 64); err != nil || f <= 0 {
			return fmt.Errorf("builder.cpus: %q is not a positive number of CPUs (e.g. 2 or 1.5)", c.CPUs)
		}
	}
	if c.Config != "" {
		if len(c.InsecureRegistries)+len(c.RegistryMirrors) > 0 {
			return errors.New("builder.config and builder.insecure_registries/registry_mirrors: give either a buildkitd.toml or the registry lists, not both")
		}
		if _, err := os.Stat(c.Config); err != nil {
			return fmt.Errorf("builder.config: %v", err)
		}
	}
	if c.storeDriver != "" && c.storeDriver != "docker-container" {
		return fmt.Errorf("builder.name: %q is a %s builder in buildx's builder store, not docker-container", c.Name, c.storeDriver)
	}
	return nil
}

func validBuilderName(n string) error {
	if n == "" || len(n) > 200 {
		return fmt.Errorf("builder.name: %q must be 1 to 200 characters", n)
	}
	for i, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && (r == '-' || r == '_' || r == '.')
		if !ok {
			return fmt.Errorf("builder.name: %q may hold letters, digits, '-', '_' and '.', and must start with a letter or digit", n)
		}
	}
	return nil
}

// buildkitdConfig is the buildkitd.toml the builder runs with: the user's
// file, or one made from the registry lists.
func (c *Container) buildkitdConfig() ([]byte, error) {
	if c.Config != "" {
		b, err := os.ReadFile(c.Config)
		if err != nil {
			return nil, fmt.Errorf("builder.config: %w", err)
		}
		return b, nil
	}
	if len(c.InsecureRegistries)+len(c.RegistryMirrors) == 0 {
		return c.storeConfig, nil
	}
	registries := map[string]map[string]any{}
	for _, r := range c.InsecureRegistries {
		registries[r] = map[string]any{"http": true, "insecure": true}
	}
	if len(c.RegistryMirrors) > 0 {
		hub := registries["docker.io"]
		if hub == nil {
			hub = map[string]any{}
			registries["docker.io"] = hub
		}
		hub["mirrors"] = c.RegistryMirrors
	}
	b, err := toml.Marshal(map[string]any{"registry": registries})
	if err != nil {
		return nil, fmt.Errorf("render buildkitd.toml: %w", err)
	}
	return b, nil
}

func (c *Container) limits() (memory, cpuQuota int64) {
	if c.Memory != "" {
		memory, _ = units.RAMInBytes(c.Memory)
	}
	if c.CPUs != "" {
		f, _ := strconv.ParseFloat(c.CPUs, 64)
		cpuQuota = int64(f * cpuPeriod)
	}
	return memory, cpuQuota
}

const cpuPeriod = 100000 // CFS period in µs; cpus=2 is a quota of 200000

// Ensure creates the builder if it is missing, starts it if it is stopped,
// applies changed limits to the running container, recreates it (keeping its
// state volume) when its image, network or buildkitd.toml changed, and waits
// until BuildKit answers. It returns what it did, in docker_image's wording.
func (c *Container) Ensure(ctx context.Context) ([]string, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	cfgBytes, err := c.buildkitdConfig()
	if err != nil {
		return nil, err
	}
	want := c.configDigest(cfgBytes)
	// Several builds start at once (the role builds its images concurrently):
	// one of them creates or changes the builder, the others wait and reuse it.
	lockName := c.Name
	if c.inCluster {
		lockName = c.Name + "-" + c.node
	}
	lock, err := builderLock(lockName)
	if err != nil {
		return nil, fmt.Errorf("builder %s: %w", c.Name, err)
	}
	if ok, err := lock.TryLockContext(ctx, 100*time.Millisecond); err != nil || !ok {
		return nil, fmt.Errorf("builder %s: wait for another run setting it up: %v", c.Name, err)
	}
	defer lock.Unlock()
	var actions []string
	name := c.ContainerName()
	info, err := c.api.ContainerInspect(ctx, name)
	switch {
	case cerrdefs.IsNotFound(err):
		how, err := c.create(ctx, cfgBytes, want)
		if err != nil {
			return nil, err
		}
		actions = append(actions, fmt.Sprintf("Created builder %s (container %s)", c.Name, name))
		if how != "" {
			actions = append(actions, fmt.Sprintf("Builder %s runs %s", c.Name, how))
		}
	case err != nil:
		return nil, fmt.Errorf("builder %s: inspect container %s: %w", c.Name, name, err)
	default:
		have := info.Config.Labels[configLabel]
		if have != "" && have != want {
			// Ours, made from another image/network/config: recreate, keep the state.
			if err := c.api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true}); err != nil {
				return nil, fmt.Errorf("builder %s: remove container %s to recreate it: %w", c.Name, name, err)
			}
			if _, err := c.create(ctx, cfgBytes, want); err != nil {
				return nil, err
			}
			actions = append(actions, fmt.Sprintf("Recreated builder %s: its image, network or buildkitd config changed (state volume kept)", c.Name))
			break
		}
		if a, err := c.updateLimits(ctx, info.HostConfig); err != nil {
			return nil, err
		} else if a != "" {
			actions = append(actions, a)
		}
		if !info.State.Running {
			if err := c.api.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
				return nil, fmt.Errorf("builder %s: start container %s: %w", c.Name, name, err)
			}
			actions = append(actions, fmt.Sprintf("Started builder %s", c.Name))
		}
	}
	if err := c.waitReady(ctx); err != nil {
		return actions, err
	}
	if c.inCluster {
		return actions, nil
	}
	if err := c.saveToStore(cfgBytes); err != nil {
		return actions, fmt.Errorf("builder %s: buildx builder store: %w", c.Name, err)
	}
	return actions, nil
}

// builderLock is the host-level lock on a builder's setup, beside the
// modules' image locks (the user's cache directory, else the temp directory).
func builderLock(name string) (*flock.Flock, error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("jenkins_ha.buildkit-locks-%d", os.Getuid()))
	if d, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(d, "jenkins_ha.buildkit", "locks")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	return flock.New(filepath.Join(dir, "builder-"+name+".lock")), nil
}

func (c *Container) configDigest(cfg []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "image=%s\nnetwork=%s\n", c.Image, c.Network)
	h.Write(cfg)
	return hex.EncodeToString(h.Sum(nil))[:24]
}

func (c *Container) create(ctx context.Context, cfgBytes []byte, digest string) (string, error) {
	if c.Image == "" {
		return "", fmt.Errorf("builder %s does not exist and builder.image is not set: give the BuildKit image to run (e.g. moby/buildkit:buildx-stable-1, pulled by the engine if missing)", c.Name)
	}
	if _, err := c.api.ImageInspect(ctx, c.Image); err != nil {
		if !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("builder.image %s: %w", c.Image, err)
		}
		rc, err := c.api.ImagePull(ctx, c.Image, image.PullOptions{})
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if err != nil {
			return "", fmt.Errorf("builder.image %s is not in the engine and could not be pulled: %w", c.Image, err)
		}
	}
	err := c.createWith(ctx, cfgBytes, digest, true)
	if err == nil || !strings.Contains(err.Error(), "apply caps") {
		return "", err
	}
	// The engine runs where it cannot grant every capability (inside another
	// container, say), so --privileged cannot start. BuildKit gets what it
	// needs instead: CAP_SYS_ADMIN, unconfined seccomp/AppArmor, a writable
	// cgroup tree, and its build steps placed in the builder's own cgroup so
	// that memory and cpus still bound them.
	_ = c.api.ContainerRemove(ctx, c.ContainerName(), container.RemoveOptions{Force: true})
	if err2 := c.createWith(ctx, cfgBytes, digest, false); err2 != nil {
		return "", fmt.Errorf("%v; without --privileged: %w", err, err2)
	}
	return "without --privileged (the engine cannot grant every capability here): CAP_SYS_ADMIN, unconfined seccomp and AppArmor, build steps in the builder's cgroup", nil
}

func (c *Container) createWith(ctx context.Context, cfgBytes []byte, digest string, privileged bool) error {
	memory, quota := c.limits()
	init := true
	hc := &container.HostConfig{
		Privileged:    privileged,
		Init:          &init,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: c.StateVolume(), Target: "/var/lib/buildkit"}},
		NetworkMode:   container.NetworkMode(c.Network),
	}
	if !privileged {
		hc.CapAdd = []string{"SYS_ADMIN"}
		hc.SecurityOpt = []string{"seccomp=unconfined", "apparmor=unconfined"}
		hc.MaskedPaths, hc.ReadonlyPaths = []string{}, []string{} // the CLI's systempaths=unconfined
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"})
	}
	if memory > 0 {
		hc.Memory = memory
	}
	if quota > 0 {
		hc.CPUPeriod, hc.CPUQuota = cpuPeriod, quota
	}
	cfg := &container.Config{Image: c.Image, Labels: map[string]string{configLabel: digest}}
	if len(cfgBytes) > 0 || !privileged {
		cfg.Cmd = []string{"--config", "/etc/buildkit/buildkitd.toml"}
	}
	name := c.ContainerName()
	created, err := c.api.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if err != nil {
		return fmt.Errorf("builder %s: create container %s: %w", c.Name, name, err)
	}
	if !privileged {
		if cfgBytes, err = withCgroupParent(cfgBytes, "/docker/"+created.ID); err != nil {
			return fmt.Errorf("builder %s: %w", c.Name, err)
		}
	}
	if len(cfgBytes) > 0 {
		if err := c.api.CopyToContainer(ctx, name, "/etc", configTar(cfgBytes), container.CopyToContainerOptions{}); err != nil {
			return fmt.Errorf("builder %s: copy buildkitd.toml into %s: %w", c.Name, name, err)
		}
	}
	if err := c.api.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		return fmt.Errorf("builder %s: start container %s: %w", c.Name, name, err)
	}
	return nil
}

// withCgroupParent sets [worker.oci] defaultCgroupParent in a buildkitd.toml
// unless the user set it.
func withCgroupParent(cfg []byte, parent string) ([]byte, error) {
	doc := map[string]any{}
	if err := toml.Unmarshal(cfg, &doc); err != nil {
		return nil, fmt.Errorf("buildkitd.toml: %w", err)
	}
	worker, _ := doc["worker"].(map[string]any)
	if worker == nil {
		worker = map[string]any{}
		doc["worker"] = worker
	}
	oci, _ := worker["oci"].(map[string]any)
	if oci == nil {
		oci = map[string]any{}
		worker["oci"] = oci
	}
	if _, set := oci["defaultCgroupParent"]; !set {
		oci["defaultCgroupParent"] = parent
	}
	return toml.Marshal(doc)
}

// configTar is a tar stream holding buildkit/buildkitd.toml.
func configTar(cfg []byte) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "buildkit/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.WriteHeader(&tar.Header{Name: "buildkit/buildkitd.toml", Mode: 0o644, Size: int64(len(cfg))})
	_, _ = tw.Write(cfg)
	_ = tw.Close()
	return &buf
}

// updateLimits applies builder.memory and builder.cpus to the running
// container (a live update: no restart, the cache stays warm).
func (c *Container) updateLimits(ctx context.Context, hc *container.HostConfig) (string, error) {
	memory, quota := c.limits()
	var upd container.UpdateConfig
	var what []string
	if memory > 0 && hc.Memory != memory {
		upd.Memory, upd.MemorySwap = memory, 2*memory
		what = append(what, "memory "+c.Memory)
	}
	haveQuota, havePeriod := hc.CPUQuota, hc.CPUPeriod
	if hc.NanoCPUs > 0 {
		haveQuota, havePeriod = hc.NanoCPUs/10000, cpuPeriod
	}
	if quota > 0 && (haveQuota != quota || havePeriod != cpuPeriod) {
		upd.CPUPeriod, upd.CPUQuota = cpuPeriod, quota
		what = append(what, "cpus "+c.CPUs)
	}
	if len(what) == 0 {
		return "", nil
	}
	if _, err := c.api.ContainerUpdate(ctx, c.ContainerName(), upd); err != nil {
		return "", fmt.Errorf("builder %s: apply %s: %w", c.Name, strings.Join(what, ", "), err)
	}
	return fmt.Sprintf("Updated builder %s: %s", c.Name, strings.Join(what, ", ")), nil
}

// waitReady waits until the daemon in the container answers.
func (c *Container) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for delay := 100 * time.Millisecond; time.Now().Before(deadline); delay = min(delay*2, 2*time.Second) {
		cl, err := c.Connect(ctx)
		if err == nil {
			cl.Close()
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	return fmt.Errorf("builder %s: BuildKit in container %s did not answer within 30s: %v%s", c.Name, c.ContainerName(), last, c.logTail(ctx))
}

func (c *Container) logTail(ctx context.Context) string {
	rc, err := c.api.ContainerLogs(ctx, c.ContainerName(), container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "10"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, rc)
	if out.Len() == 0 {
		return ""
	}
	return "; container log:\n" + out.String()
}

// Connect dials BuildKit inside the container through the engine's exec API
// (`buildctl dial-stdio`), so it works wherever the engine is.
func (c *Container) Connect(ctx context.Context) (*bkclient.Client, error) {
	name := c.ContainerName()
	cl, err := bkclient.New(ctx, "", bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return c.dialStdio(ctx)
	}))
	if err != nil {
		return nil, fmt.Errorf("connect to builder %s: %w", c.Name, err)
	}
	if _, err := cl.ListWorkers(ctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("builder %s (container %s) does not answer: %w", c.Name, name, err)
	}
	return cl, nil
}

func (c *Container) dialStdio(ctx context.Context) (net.Conn, error) {
	name := c.ContainerName()
	ex, err := c.api.ContainerExecCreate(ctx, name, container.ExecOptions{
		Cmd: []string{"buildctl", "dial-stdio"}, AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", name, err)
	}
	hj, err := c.api.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("attach to exec in %s: %w", name, err)
	}
	return newDemuxConn(hj.Conn, hj.Reader), nil
}

// demuxConn is an exec's hijacked connection with its multiplexed output
// stream reduced to stdout; stderr is kept for error messages.
type demuxConn struct {
	net.Conn
	pr     *io.PipeReader
	stderr *bytes.Buffer
}

func newDemuxConn(conn net.Conn, r io.Reader) *demuxConn {
	pr, pw := io.Pipe()
	d := &demuxConn{Conn: conn, pr: pr, stderr: &bytes.Buffer{}}
	go func() {
		err := guard.Func(func() error {
			_, err := stdcopy.StdCopy(pw, d.stderr, r)
			return err
		})()
		if err == nil && d.stderr.Len() > 0 {
			err = errors.New(strings.TrimSpace(d.stderr.String()))
		}
		pw.CloseWithError(err)
	}()
	return d
}

func (d *demuxConn) Read(p []byte) (int, error) { return d.pr.Read(p) }

func (d *demuxConn) Close() error {
	d.pr.Close()
	return d.Conn.Close()
}

// Remove deletes the builder's container, its state volume when
// removeState, and its entry in buildx's store. Nothing else.
func (c *Container) Remove(ctx context.Context, removeState bool) ([]string, error) {
	var actions []string
	name := c.ContainerName()
	err := c.api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true})
	switch {
	case err == nil:
		actions = append(actions, "Removed container "+name)
	case !cerrdefs.IsNotFound(err):
		return actions, fmt.Errorf("builder %s: remove container %s: %w", c.Name, name, err)
	}
	if removeState {
		err := c.api.VolumeRemove(ctx, c.StateVolume(), true)
		switch {
		case err == nil:
			actions = append(actions, "Removed volume "+c.StateVolume())
		case !cerrdefs.IsNotFound(err):
			return actions, fmt.Errorf("builder %s: remove volume %s: %w", c.Name, c.StateVolume(), err)
		}
	}
	return actions, nil
}

// Reset removes the builder's container and state volume and creates it
// again from the same image, network and limits (or the ones given now).
func (c *Container) Reset(ctx context.Context) ([]string, error) {
	info, err := c.api.ContainerInspect(ctx, c.ContainerName())
	if err == nil {
		if c.Image == "" {
			c.Image = info.Config.Image
		}
		if c.Network == "" && info.HostConfig.NetworkMode != "default" {
			c.Network = string(info.HostConfig.NetworkMode)
		}
		if c.Memory == "" && info.HostConfig.Memory > 0 {
			c.Memory = strconv.FormatInt(info.HostConfig.Memory, 10)
		}
		if c.CPUs == "" && info.HostConfig.CPUQuota > 0 && info.HostConfig.CPUPeriod > 0 {
			c.CPUs = strconv.FormatFloat(float64(info.HostConfig.CPUQuota)/float64(info.HostConfig.CPUPeriod), 'f', -1, 64)
		}
	} else if !cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("builder %s: inspect container %s: %w", c.Name, c.ContainerName(), err)
	}
	actions, err := c.Remove(ctx, true)
	if err != nil {
		return actions, err
	}
	more, err := c.Ensure(ctx)
	return append(actions, more...), err
}

// Status is "running", "stopped" or "missing".
func (c *Container) Status(ctx context.Context) (string, error) {
	info, err := c.api.ContainerInspect(ctx, c.ContainerName())
	switch {
	case cerrdefs.IsNotFound(err):
		return "missing", nil
	case err != nil:
		return "", err
	case info.State.Running:
		return "running", nil
	}
	return "stopped", nil
}

// driverOpts are the builder's options in buildx's --driver-opt spelling.
func (c *Container) driverOpts() map[string]string {
	o := map[string]string{}
	if c.Image != "" {
		o["image"] = c.Image
	}
	if c.Network != "" {
		o["network"] = c.Network
	}
	if c.Memory != "" {
		o["memory"] = c.Memory
	}
	if _, quota := c.limits(); quota > 0 {
		o["cpu-period"] = strconv.Itoa(cpuPeriod)
		o["cpu-quota"] = strconv.FormatInt(quota, 10)
	}
	return o
}
