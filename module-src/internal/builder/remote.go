package builder

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	bkclient "github.com/moby/buildkit/client"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/guard"
)

// Remote is a standalone BuildKit daemon at an address: unix:// or tcp://
// with mutual TLS (plain TCP only when the user says Insecure).
type Remote struct {
	Endpoint   string
	CA         string
	Cert       string
	Key        string
	ServerName string
	Insecure   bool // allow tcp:// without TLS
}

// Check refuses addresses and TLS settings that cannot work or are unsafe.
func (r Remote) Check() error { return r.check(true) }

// check is Check; socket says whether a unix socket must exist (a cluster's
// node whose socket is gone is a node that is down, not a wrong option).
func (r Remote) check(socket bool) error {
	switch {
	case strings.HasPrefix(r.Endpoint, "unix://"):
		if _, err := os.Stat(strings.TrimPrefix(r.Endpoint, "unix://")); err != nil && socket {
			return fmt.Errorf("builder.endpoint: %v", err)
		}
	case strings.HasPrefix(r.Endpoint, "tcp://"):
		if r.CA == "" && !r.Insecure {
			return fmt.Errorf("builder.endpoint %s is plain TCP: give builder.ca (and cert, key) for mutual TLS, or set builder.insecure: true", r.Endpoint)
		}
	default:
		return fmt.Errorf("builder.endpoint: %q must start with unix:// or tcp://", r.Endpoint)
	}
	if (r.Cert == "") != (r.Key == "") {
		return fmt.Errorf("builder.cert and builder.key go together")
	}
	for name, p := range map[string]string{"builder.ca": r.CA, "builder.cert": r.Cert, "builder.key": r.Key} {
		if p != "" {
			if _, err := os.Stat(p); err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
		}
	}
	return nil
}

// Connect dials the daemon and waits until it answers.
func (r Remote) Connect(ctx context.Context) (*bkclient.Client, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	var opts []bkclient.ClientOpt
	if r.CA != "" {
		server := r.ServerName
		if server == "" {
			host := strings.TrimPrefix(r.Endpoint, "tcp://")
			if i := strings.LastIndex(host, ":"); i > 0 {
				host = host[:i]
			}
			server = host
		}
		opts = append(opts, bkclient.WithServerConfig(server, r.CA))
		if r.Cert != "" {
			opts = append(opts, bkclient.WithCredentials(r.Cert, r.Key))
		}
	}
	c, err := bkclient.New(ctx, r.Endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to BuildKit at %s: %w", r.Endpoint, err)
	}
	if _, err := c.ListWorkers(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("BuildKit at %s does not answer%s: %w", r.Endpoint, r.tlsHint(err), err)
	}
	return c, nil
}

// tlsHint names the option to look at when a TLS handshake failed.
func (r Remote) tlsHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unknown authority"):
		return fmt.Sprintf(" (its certificate is not signed by builder.ca %s)", r.CA)
	case strings.Contains(msg, "certificate is valid for"):
		return " (its certificate does not name the host: set builder.server_name to a name it holds)"
	case strings.Contains(msg, "certificate required"):
		return " (it requires a client certificate: give builder.cert and builder.key)"
	case r.Cert != "" && (strings.Contains(msg, "bad certificate") || strings.Contains(msg, "broken pipe") || strings.Contains(msg, "unknown certificate")):
		return fmt.Sprintf(" (it refused the client certificate builder.cert %s: is it signed by the CA the daemon trusts?)", r.Cert)
	}
	return ""
}

// DaemonBuildKit builds on a BuildKit daemon of its own (a remote one or one
// in a container) and delivers the result: loaded into the engine (the docker
// exporter's tarball streamed into the engine's image load) and/or pushed by
// BuildKit itself (needed for several platforms and for attestations).
type DaemonBuildKit struct {
	name    string
	driver  string
	connect func(context.Context) (*bkclient.Client, error)
	api     *client.Client
}

// NewRemoteBuildKit returns the builder for the daemon r, loading into the engine api.
func NewRemoteBuildKit(r Remote, api *client.Client) *DaemonBuildKit {
	return &DaemonBuildKit{name: "buildkit (remote " + r.Endpoint + ")", driver: DriverRemote, connect: r.Connect, api: api}
}

// NewContainerBuildKit returns the builder for the container builder c.
func NewContainerBuildKit(c *Container, api *client.Client) *DaemonBuildKit {
	return &DaemonBuildKit{name: "buildkit (docker-container " + c.Name + ")", driver: DriverDockerContainer, connect: c.Connect, api: api}
}

// Name implements Builder.
func (b *DaemonBuildKit) Name() string { return b.name }

// Driver implements Builder.
func (b *DaemonBuildKit) Driver() string { return b.driver }

// Features implements Builder (featuresOf), with the platforms its workers
// run (natively or through binfmt emulators registered when it started):
// asking is also the proof that it answers.
func (b *DaemonBuildKit) Features(ctx context.Context) (Features, error) {
	have, err := b.Platforms(ctx)
	if err != nil {
		return Features{}, err
	}
	return featuresOf(b.driver, true, have), nil
}

// Describe is what the daemon says of itself (one connection).
func (b *DaemonBuildKit) Describe(ctx context.Context) (*Description, error) {
	return describe(ctx, b.connect)
}

// Platforms lists the platforms the daemon's workers can run (natively or
// through binfmt emulators registered when the daemon started).
func (b *DaemonBuildKit) Platforms(ctx context.Context) ([]string, error) {
	c, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		return nil, err
	}
	return platformsOf(workers), nil
}

// Build implements Builder.
func (b *DaemonBuildKit) Build(ctx context.Context, req Request) (*Result, error) {
	c, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var exports []bkclient.ExportEntry
	var load *engineLoad
	if !req.NoLoad {
		load = &engineLoad{api: b.api, ctx: ctx}
		exports = append(exports, bkclient.ExportEntry{
			Type:   bkclient.ExporterDocker,
			Attrs:  map[string]string{"name": strings.Join(req.Tags, ",")},
			Output: load.start,
		})
	}
	if req.Push {
		attrs := map[string]string{"name": strings.Join(req.Tags, ","), "push": "true"}
		if req.PushByDigest {
			// Only the manifest's digest names it: no tag moves (a node's
			// share of a build, merged into one index by the caller).
			attrs["name"] = repoOnly(req.Tags)
			attrs["push-by-digest"] = "true"
		}
		if req.InsecurePush {
			attrs["registry.insecure"] = "true"
		}
		exports = append(exports, bkclient.ExportEntry{Type: bkclient.ExporterImage, Attrs: attrs})
	}
	res, err := solve(ctx, c, req, exports, b.Name(), "")
	if load != nil {
		// A build that failed (a daemon that died in the middle of the
		// export) aborts the load: the engine never tags half an image.
		if lerr := load.finish(err); err == nil && lerr != nil {
			return nil, fmt.Errorf("load the image into the engine: %w", lerr)
		}
	}
	return res, err
}

// repoOnly is the tags' repositories without tags, comma-separated.
func repoOnly(tags []string) string {
	var out []string
	for _, t := range tags {
		if i := strings.LastIndex(t, ":"); i > strings.LastIndex(t, "/") {
			t = t[:i]
		}
		out = append(out, t)
	}
	return strings.Join(out, ",")
}

// engineLoad streams an image tarball into the engine's image load.
type engineLoad struct {
	api  *client.Client
	ctx  context.Context
	pw   *io.PipeWriter
	done chan error
}

func (l *engineLoad) start(map[string]string) (io.WriteCloser, error) {
	pr, pw := io.Pipe()
	l.pw, l.done = pw, make(chan error, 1)
	go func() {
		err := guard.Func(func() error {
			resp, err := l.api.ImageLoad(l.ctx, pr, client.ImageLoadWithQuiet(true))
			if err == nil {
				err = jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil)
				resp.Body.Close()
			}
			return err
		})()
		pr.CloseWithError(err)
		l.done <- err
	}()
	return pw, nil
}

// finish ends the stream into the engine's load: closed when the build
// succeeded, broken with its error when it did not (the load then fails and
// loads nothing), and waits for the load's own outcome.
func (l *engineLoad) finish(buildErr error) error {
	if l.done == nil {
		return nil
	}
	if buildErr != nil {
		l.pw.CloseWithError(fmt.Errorf("the build failed: %w", buildErr))
	} else {
		l.pw.Close()
	}
	return <-l.done
}
