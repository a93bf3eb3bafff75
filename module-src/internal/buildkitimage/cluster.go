package buildkitimage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"golang.org/x/sync/errgroup"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildctx"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/retry"
)

// A build on a cluster (builder.nodes, or a multi-node builder of buildx's
// store) is placed on its nodes (builder.Place, ranked by placement.go's
// record): each target platform on a node that runs it natively, an
// emulator only as a fallback. One node builds the whole build where it
// can, loading the result into the engine or pushing it under the tag as a
// single daemon builder does. When the platforms land on several nodes,
// each node pushes its share by digest only and the module merges them into
// one index, pushed under the tag last: the tag moves once, to a complete
// result. A node that does not answer is left out before the build; one
// that dies during it (it no longer answers after the failure) hands its
// share to the next node, and the result says where each share ran and why
// it moved.

// nodeProbeTimeout bounds asking a node whether it answers.
const nodeProbeTimeout = 10 * time.Second

// cluster is the multi-node builder the builder option names, nil when it
// names none (api nil: only the options are checked).
func (r *runner) cluster() (*builder.Cluster, error) {
	if r.e != nil {
		cl, _, err := r.o.Builder.Cluster(r.e.API, r.e.Host)
		return cl, err
	}
	cl, _, err := r.o.Builder.Cluster(nil, "")
	return cl, err
}

// share is the part of a build one node ran.
type share struct {
	node      *builder.Node
	platforms []string
	emulated  []string
	reason    string
	moved     []move
	direct    bool // built the whole request (loaded or pushed under the tag), not by digest
	res       *builder.Result
	retries   int
	fresh     bool
	log       string
}

type move struct {
	From   string `json:"node"`
	Reason string `json:"reason"`
}

// clusterRun is one build on a cluster.
type clusterRun struct {
	r    *runner
	cl   *builder.Cluster
	runs bool
	dflt bool // the request names no platform: the host's own

	mu       sync.Mutex
	st       []builder.NodeStatus
	down     map[string]string // node -> why it is left out
	affinity map[string]string // target platform -> the node that built it last
}

// errFellBack says a cluster could not build and builder.fallback moved the
// build to the engine's builders.
var errFellBack = errors.New("fell back from the cluster")

// clusterBuild builds req on the cluster cl. With builder.fallback, a
// cluster none of whose nodes answers returns errFellBack after saying so.
func (r *runner) clusterBuild(ctx context.Context, cl *builder.Cluster, df *buildctx.Dockerfile, req builder.Request) (*builder.Result, error) {
	needs := builder.Needs(req, df.BuildKitOnly)
	warned, err := builder.Check(cl.Display(), cl.Features(), needs, false, nil)
	if err != nil {
		return nil, err
	}
	for _, n := range warned {
		r.m.Warn(builder.Lacks(cl.Display(), n))
	}
	start := time.Now()
	bctxTimeout, cancel := context.WithTimeout(ctx, time.Duration(r.o.BuildTimeout)*time.Second)
	defer cancel()

	st := cl.Probe(bctxTimeout, nodeProbeTimeout)
	cr := &clusterRun{r: r, cl: cl, runs: df.Runs, st: st, down: map[string]string{}}
	for _, s := range st {
		r.actions = append(r.actions, s.Actions...)
		if !s.Up() {
			cr.down[s.Node] = "did not answer: " + oneLine(s.Err)
		}
	}
	if err := cl.SaveToStore(); err != nil {
		return nil, fmt.Errorf("builder %s: buildx builder store: %w", cl.Name, err)
	}
	targets := req.Platforms
	if len(targets) == 0 {
		// The engine's platform (the image is loaded into it), placed on a
		// node that runs it natively where one answers.
		p := r.buildPlatform(ctx)
		if p == "" {
			p = platforms.DefaultString()
		}
		targets, cr.dflt = []string{p}, true
	}
	plan, why, err := cr.place(bctxTimeout, targets)
	if err != nil {
		if len(cr.down) == len(cl.Nodes) && r.o.Builder.Fallback {
			r.actions = append(r.actions, fmt.Sprintf("Fell back from builder %s to the engine's BuildKit: %v", cl.Name, err))
			r.m.Warn(fmt.Sprintf("no node of builder %s answers (%v); building on the engine's BuildKit (builder.fallback)", cl.Name, err))
			r.skipDaemon = true
			return nil, errFellBack
		}
		return nil, fmt.Errorf("builder %s: %w", cl.Name, err)
	}
	built := map[string]string{}
	defer func() {
		if err := releaseLeases(context.WithoutCancel(ctx), r.stateDir("placement"), cl, r.ref, built); err != nil {
			r.m.Warn(fmt.Sprintf("could not update the placement record of builder %s (cache affinity is lost): %v", cl.Name, err))
		}
	}()

	direct := len(plan) == 1
	var shares []*share
	var mu sync.Mutex
	eg, ectx := errgroup.WithContext(bctxTimeout)
	for _, a := range plan {
		eg.Go(func() error {
			got, err := cr.runShare(ectx, a, why[a.Node], cr.affinityMoves(a), req, direct)
			mu.Lock()
			shares = append(shares, got...)
			mu.Unlock()
			return err
		})
	}
	err = eg.Wait()
	slices.SortFunc(shares, func(a, b *share) int {
		return slices.Index(targets, a.platforms[0]) - slices.Index(targets, b.platforms[0])
	})
	r.clusterResult(cl, shares, cr.downList(), start)
	if err != nil {
		return nil, r.buildError(bctxTimeout, ctx, err, cl.Display(), joinLogs(shares))
	}
	res := &builder.Result{Builder: r.res.Data["builder"].(string)}
	for _, s := range shares {
		res.Steps += s.res.Steps
		res.CachedSteps += s.res.CachedSteps
		res.Warnings = append(res.Warnings, s.res.Warnings...)
		for _, p := range s.platforms {
			built[p] = s.node.Name
		}
	}
	if len(shares) == 1 && shares[0].direct {
		res.ImageID = shares[0].res.ImageID
	} else {
		if !req.Push {
			return nil, fmt.Errorf("build of %s: its platforms were built on %d nodes, which only a push can bring together (set push: true)", r.ref, len(shares))
		}
		digest, err := r.mergeShares(bctxTimeout, shares)
		if err != nil {
			return nil, fmt.Errorf("build of %s: merge the platforms built on %d nodes into one index: %w (the tag was not moved)", r.ref, len(shares), err)
		}
		res.ImageID = digest
		r.actions = append(r.actions, fmt.Sprintf("Merged the platforms built on nodes %s into one index %s", strings.Join(shareNodes(shares), ", "), digest))
	}
	if cr.dflt {
		// The affinity of a build for the host's platform is kept under "".
		for p, n := range built {
			delete(built, p)
			built[""] = n
		}
	}
	for _, w := range res.Warnings {
		r.m.Warn("Dockerfile: " + w)
	}
	r.res.Data["total_steps"], r.res.Data["cached_steps"] = res.Steps, res.CachedSteps
	if res.Steps > 0 {
		r.res.Data["cache_hit_ratio"] = float64(res.CachedSteps) / float64(res.Steps)
	}
	return res, nil
}

// place puts the targets on the nodes that answer, ranked by this host's
// placement record, and leases them. why is each chosen node's reason.
func (cr *clusterRun) place(ctx context.Context, targets []string) ([]builder.Assignment, map[string]string, error) {
	r := cr.r
	book, err := openPlacement(ctx, r.stateDir("placement"), cr.cl)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, n := range cr.cl.Nodes {
		names = append(names, n.Name)
	}
	whys := map[string]map[string]string{}
	order := func(t string) []string {
		key := t
		if cr.dflt {
			key = ""
		}
		o, why := rankNodes(book.rec, r.ref, key, names)
		whys[t] = why
		return o
	}
	cr.mu.Lock()
	st := slices.Clone(cr.st)
	cr.mu.Unlock()
	plan, err := builder.Place(st, order, targets, cr.runs)
	if err != nil {
		_ = book.close()
		return nil, nil, err
	}
	why := map[string]string{}
	for _, a := range plan {
		why[a.Node] = whys[a.Platforms[0]][a.Node]
		book.lease(a.Node, r.ref)
	}
	if err := book.close(); err != nil {
		r.m.Warn(fmt.Sprintf("could not write the placement record of builder %s: %v", cr.cl.Name, err))
	}
	cr.mu.Lock()
	if cr.affinity == nil {
		cr.affinity = map[string]string{}
		for _, t := range targets {
			key := t
			if cr.dflt {
				key = ""
			}
			cr.affinity[t] = book.rec.Images[affinityKey(r.ref, key)]
		}
	}
	cr.mu.Unlock()
	return plan, why, nil
}

// affinityMoves are the moves of a share away from the node its platforms
// were last built on, when that node did not answer.
func (cr *clusterRun) affinityMoves(a builder.Assignment) []move {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	var out []move
	for _, p := range a.Platforms {
		last := cr.affinity[p]
		if reason, down := cr.down[last]; last != "" && last != a.Node && down && !slices.ContainsFunc(out, func(m move) bool { return m.From == last }) {
			out = append(out, move{From: last, Reason: reason + " (it built " + cr.r.ref + " last)"})
		}
	}
	return out
}

// runShare builds one node's share: the whole request (direct), or its
// platforms pushed by digest. When the node dies during the build, its
// platforms are placed again on the nodes that still answer and built there.
func (cr *clusterRun) runShare(ctx context.Context, a builder.Assignment, reason string, moved []move, req builder.Request, direct bool) ([]*share, error) {
	r := cr.r
	node := cr.cl.Node(a.Node)
	sub := req
	sub.Platforms = a.Platforms
	if cr.dflt && len(a.Emulated) == 0 {
		sub.Platforms = nil // the node's own platform is the host's
	}
	if !direct {
		sub.Push, sub.PushByDigest, sub.NoLoad = true, true, true
		sub.CacheTo = platformCaches(req.CacheTo, a.Platforms, false)
		sub.CacheFrom = platformCaches(req.CacheFrom, a.Platforms, true)
	}
	if len(a.Emulated) > 0 {
		reason += "; emulates " + strings.Join(a.Emulated, ", ") + " (no node that answers runs it natively)"
	} else if !cr.dflt && cr.runs {
		reason += "; runs " + strings.Join(a.Platforms, ", ") + " natively"
	}
	s := &share{node: node, platforms: a.Platforms, emulated: a.Emulated, reason: reason, moved: moved, direct: direct}
	var log tailBuffer
	sub.Progress = &log
	res, retries, fresh, err := r.solveOnNode(ctx, node, sub)
	s.res, s.retries, s.fresh, s.log = res, retries, fresh, log.String()
	if err == nil {
		return []*share{s}, nil
	}
	if ctx.Err() != nil {
		return []*share{s}, err
	}
	if aerr := node.Alive(ctx, nodeProbeTimeout); aerr == nil {
		return []*share{s}, err // the node is fine: the build itself failed
	}
	// The node died during the build: its share moves on.
	why := "died during the build: " + oneLine(err)
	cr.mu.Lock()
	cr.down[a.Node] = why
	for i := range cr.st {
		if cr.st[i].Node == a.Node {
			cr.st[i].Err = errors.New(why)
		}
	}
	cr.mu.Unlock()
	moved = append(slices.Clone(moved), move{From: a.Node, Reason: why})
	r.m.Warn(fmt.Sprintf("node %s of builder %s %s; its share (%s) moves to another node", a.Node, cr.cl.Name, why, strings.Join(a.Platforms, ", ")))
	replan, why2, err := cr.place(ctx, a.Platforms)
	if err != nil {
		return []*share{s}, fmt.Errorf("node %s %s, and no other node can take its share: %w", a.Node, why, err)
	}
	if direct && len(replan) == 1 {
		return cr.runShare(ctx, replan[0], why2[replan[0].Node], moved, req, true)
	}
	var out []*share
	var mu sync.Mutex
	eg, ectx := errgroup.WithContext(ctx)
	for _, b := range replan {
		eg.Go(func() error {
			got, err := cr.runShare(ectx, b, why2[b.Node], moved, req, false)
			mu.Lock()
			out = append(out, got...)
			mu.Unlock()
			return err
		})
	}
	return out, eg.Wait()
}

// solveOnNode runs the build on one node under its own session key (each
// node's BuildKit keeps its own copy of the context, and this host a record
// of each), retrying transient failures while the node still answers.
func (r *runner) solveOnNode(ctx context.Context, node *builder.Node, req builder.Request) (*builder.Result, int, bool, error) {
	bld := node.Builder()
	var sync *buildctx.Sync
	if r.bctx != nil {
		sync = r.bctx.SessionKey(r.stateDir("sync"), r.e.Host+"\x00"+bld.Name(), r.sum)
		req.SharedKey = sync.Key
	}
	var res *builder.Result
	retries, err := retry.Do(ctx, r.retryPolicy(), func(err error) bool {
		return transientBuildError(err) && node.Alive(ctx, nodeProbeTimeout) == nil
	}, func(ctx context.Context) error {
		var err error
		res, err = bld.Build(ctx, req)
		return err
	})
	if serr := sync.Done(err == nil); serr != nil {
		r.m.Warn(fmt.Sprintf("could not record what node %s holds of the context (its next build sends all of it): %v", node.Name, serr))
	}
	return res, retries, sync != nil && sync.Fresh, err
}

// clusterResult writes where the build ran into the result.
func (r *runner) clusterResult(cl *builder.Cluster, shares []*share, down []map[string]string, start time.Time) {
	data := r.res.Data
	var placement []map[string]any
	var nodes []string
	retries, fresh := 0, false
	for _, s := range shares {
		moved := []map[string]string{}
		for _, m := range s.moved {
			moved = append(moved, map[string]string{"node": m.From, "reason": m.Reason})
		}
		placement = append(placement, map[string]any{
			"node": s.node.Name, "endpoint": s.node.Endpoint, "platforms": s.platforms, "emulated": append([]string{}, s.emulated...),
			"reason": s.reason, "moved_from": moved, "fresh_copy": s.fresh, "build_retries": s.retries,
		})
		if !slices.Contains(nodes, s.node.Name) {
			nodes = append(nodes, s.node.Name)
		}
		retries += s.retries
		fresh = fresh || s.fresh
	}
	data["builder_driver"] = cl.Driver
	data["builder_nodes"] = nodes
	data["placement"] = placement
	data["nodes_down"] = down
	data["build_duration"] = time.Since(start).Seconds()
	data["build_retries"] = retries
	data["stdout"] = joinLogs(shares)
	if c, ok := data["context"].(map[string]any); ok {
		c["fresh_copy"] = fresh
	}
	switch {
	case len(shares) == 1:
		data["builder"] = shares[0].node.Builder().Name()
	default:
		var parts []string
		for _, s := range shares {
			parts = append(parts, builder.Assignment{Node: s.node.Name, Platforms: s.platforms, Emulated: s.emulated}.String())
		}
		data["builder"] = fmt.Sprintf("buildkit (%s: %s)", cl.Name, strings.Join(parts, ", "))
	}
}

// downList is the nodes left out, and why, in the cluster's order.
func (cr *clusterRun) downList() []map[string]string {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	out := []map[string]string{}
	for _, n := range cr.cl.Nodes {
		if why, ok := cr.down[n.Name]; ok {
			out = append(out, map[string]string{"node": n.Name, "reason": why})
		}
	}
	return out
}

func shareNodes(shares []*share) []string {
	var out []string
	for _, s := range shares {
		out = append(out, s.node.Name)
	}
	return out
}

func joinLogs(shares []*share) string {
	if len(shares) == 1 {
		return shares[0].log
	}
	var b strings.Builder
	for _, s := range shares {
		fmt.Fprintf(&b, "== node %s (%s)\n%s", s.node.Name, strings.Join(s.platforms, ", "), s.log)
		if !strings.HasSuffix(s.log, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// platformCaches gives a node's share of a build a cache of its own: a
// registry or local cache export of the build goes to a ref (dest) suffixed
// with the share's platforms, so that nodes do not overwrite each other's
// cache, and imports read both the build's and the share's.
func platformCaches(cs []builder.Cache, plats []string, imports bool) []builder.Cache {
	slug := strings.NewReplacer("/", "-").Replace(strings.Join(plats, "_"))
	var out []builder.Cache
	for _, c := range cs {
		key := map[string]string{"registry": "ref", "local": "dest"}[c.Type]
		if imports {
			key = map[string]string{"registry": "ref", "local": "src"}[c.Type]
			out = append(out, c)
		}
		v := c.Attrs[key]
		if key == "" || v == "" {
			if !imports {
				out = append(out, c)
			}
			continue
		}
		attrs := map[string]string{}
		for k, x := range c.Attrs {
			attrs[k] = x
		}
		attrs[key] = suffixed(c.Type, v, slug)
		out = append(out, builder.Cache{Type: c.Type, Attrs: attrs})
	}
	return out
}

// suffixed is a cache ref (or directory) for one share: ref:tag-slug.
func suffixed(typ, v, slug string) string {
	if typ != "registry" {
		return v + "-" + slug
	}
	named, err := reference.ParseNormalizedNamed(v)
	if err != nil {
		return v + "-" + slug
	}
	if _, ok := named.(reference.Digested); ok {
		return v
	}
	tag := "latest"
	if t, ok := named.(reference.Tagged); ok {
		tag = t.Tag()
	}
	return reference.FamiliarName(named) + ":" + tag + "-" + slug
}

// oneLine is an error's message on one line.
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
