package buildkitimage

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"github.com/moby/sys/atomicwriter"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/builder"
)

// Where a build of a cluster runs is decided on this host, by every
// buildkit_image process that builds on the cluster, from one record under
// a lock (state placement/<cluster>.json):
//
//   - cache affinity: the node each image (and platform) was last built on.
//     The same image goes to the same node while that node answers and runs
//     its platform natively, so the node's own cache and its copy of the
//     context stay warm.
//   - leases: the builds of this host running on each node now (by process).
//     An image without affinity goes to the node with the fewest, ties broken
//     by rendezvous hashing of the image over the nodes (the same node on
//     every host that places it afresh).
//
// Processes that died leave leases behind; a lease whose process is gone is
// dropped on the next read.

type placementRecord struct {
	// Images is the node each image was last built on, by "ref\x00platform".
	Images map[string]string `json:"images"`
	Leases []placementLease  `json:"leases"`
}

type placementLease struct {
	PID   int       `json:"pid"`
	Node  string    `json:"node"`
	Ref   string    `json:"ref"`
	Since time.Time `json:"since"`
}

// placementBook is the record of one cluster on this host, locked while open.
type placementBook struct {
	path string
	lock *flock.Flock
	rec  placementRecord
}

// openPlacement locks and reads the cluster's record ("" dir: an empty record, no file).
func openPlacement(ctx context.Context, dir string, cl *builder.Cluster) (*placementBook, error) {
	b := &placementBook{rec: placementRecord{Images: map[string]string{}}}
	if dir == "" {
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("placement record: %w", err)
	}
	id := sha256.New()
	fmt.Fprintf(id, "%s\x00%s", cl.Name, cl.Driver)
	for _, n := range cl.Nodes {
		fmt.Fprintf(id, "\x00%s=%s", n.Name, n.Endpoint)
	}
	b.path = filepath.Join(dir, cl.Name+"-"+hex.EncodeToString(id.Sum(nil))[:12]+".json")
	b.lock = flock.New(b.path + ".lock")
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if ok, err := b.lock.TryLockContext(lctx, 20*time.Millisecond); err != nil || !ok {
		return nil, fmt.Errorf("placement record %s: lock: %v", b.path, err)
	}
	if raw, err := os.ReadFile(b.path); err == nil {
		_ = json.Unmarshal(raw, &b.rec)
	}
	if b.rec.Images == nil {
		b.rec.Images = map[string]string{}
	}
	live := b.rec.Leases[:0]
	for _, l := range b.rec.Leases {
		if processAlive(l.PID) && time.Since(l.Since) < 24*time.Hour {
			live = append(live, l)
		}
	}
	b.rec.Leases = live
	return b, nil
}

// close writes the record back and unlocks it.
func (b *placementBook) close() error {
	if b.path == "" {
		return nil
	}
	defer b.lock.Unlock()
	raw, err := json.Marshal(b.rec)
	if err != nil {
		return err
	}
	return atomicwriter.WriteFile(b.path, raw, 0o600)
}

// processAlive says whether the process pid is running on this host.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func affinityKey(ref, platform string) string { return ref + "\x00" + platform }

// busy counts this host's running builds on each node.
func (r placementRecord) busy() map[string]int {
	n := map[string]int{}
	for _, l := range r.Leases {
		n[l.Node]++
	}
	return n
}

// rankNodes orders the nodes for building ref for platform: the node it was
// built on last (cache affinity) first, then the least busy, ties broken by
// rendezvous hashing (highest score of ref and node). It says why the first
// is first.
func rankNodes(rec placementRecord, ref, platform string, nodes []string) (order []string, why map[string]string) {
	busy := rec.busy()
	order = slices.Clone(nodes)
	slices.SortStableFunc(order, func(a, b string) int {
		if c := cmp.Compare(busy[a], busy[b]); c != 0 {
			return c
		}
		return cmp.Compare(hrw(ref, b), hrw(ref, a))
	})
	why = map[string]string{}
	for _, n := range order {
		why[n] = fmt.Sprintf("least busy: %d of this host's builds were running on it", busy[n])
	}
	if last := rec.Images[affinityKey(ref, platform)]; last != "" && slices.Contains(order, last) {
		order = append([]string{last}, slices.DeleteFunc(order, func(n string) bool { return n == last })...)
		why[last] = "cache affinity: it built " + ref + " last"
	}
	return order, why
}

// hrw is the rendezvous-hashing score of key on node.
func hrw(key, node string) uint64 {
	s := sha256.Sum256([]byte(key + "\x00" + node))
	return binary.BigEndian.Uint64(s[:8])
}

// lease records a build of ref running on node in this process.
func (b *placementBook) lease(node, ref string) {
	b.rec.Leases = append(b.rec.Leases, placementLease{PID: os.Getpid(), Node: node, Ref: ref, Since: time.Now().UTC()})
}

// releaseLeases drops this process's leases on ref, and records where each
// platform of it was built (built: platform -> node).
func releaseLeases(ctx context.Context, dir string, cl *builder.Cluster, ref string, built map[string]string) error {
	b, err := openPlacement(ctx, dir, cl)
	if err != nil {
		return err
	}
	b.rec.Leases = slices.DeleteFunc(b.rec.Leases, func(l placementLease) bool { return l.PID == os.Getpid() && l.Ref == ref })
	for p, n := range built {
		b.rec.Images[affinityKey(ref, p)] = n
	}
	return b.close()
}
