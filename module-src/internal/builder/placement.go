package builder

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
)

// Assignment is the share of one build that one node of a cluster runs.
type Assignment struct {
	Node      string
	Platforms []string // the target platforms it builds, in the request's order
	// Emulated are those of Platforms it runs through an emulator: no node
	// that answers runs them natively.
	Emulated []string
}

// Place puts each target platform of a build on a node of a cluster, as
// buildx resolves a multi-node builder's drivers: the first node in order
// that answers and runs the platform natively; only when none does (an
// emulator is a fallback, many times slower) the first that runs it at all,
// preferring a node that already builds another platform of the build.
// order ranks the nodes for each target (the caller's cache affinity and
// load); nodes that do not answer are skipped. runs says whether the
// Dockerfile has RUN steps: without any, a platform needs no CPU of its own,
// so one node (the first of the first target's order) builds every platform.
func Place(st []NodeStatus, order func(target string) []string, targets []string, runs bool) ([]Assignment, error) {
	byName := map[string]NodeStatus{}
	for _, s := range st {
		byName[s.Node] = s
	}
	rank := func(target string) []string {
		var ranked []string
		for _, n := range order(target) {
			if s, ok := byName[n]; ok && s.Up() && !slices.Contains(ranked, n) {
				ranked = append(ranked, n)
			}
		}
		for _, s := range st {
			if s.Up() && !slices.Contains(ranked, s.Node) {
				ranked = append(ranked, s.Node)
			}
		}
		return ranked
	}
	if len(targets) == 0 || len(rank(targets[0])) == 0 {
		return nil, fmt.Errorf("no node answers: %s", describeNodes(st))
	}
	if !runs {
		return []Assignment{{Node: rank(targets[0])[0], Platforms: slices.Clone(targets)}}, nil
	}
	var out []Assignment
	at := map[string]int{} // node -> index in out
	for i, t := range targets {
		spec, err := platforms.Parse(t)
		if err != nil {
			return nil, fmt.Errorf("build.platform[%d]: %v", i, err)
		}
		ranked := rank(t)
		pick, emulated := "", false
		for _, n := range ranked {
			if nativeFor(byName[n].Native, spec) {
				pick = n
				break
			}
		}
		if pick == "" {
			emulated = true
			// A node already in the plan first: one node fewer to merge from.
			for _, pass := range []bool{true, false} {
				for _, n := range ranked {
					if _, planned := at[n]; planned == pass && runsFor(byName[n].Platforms, spec) {
						pick = n
						break
					}
				}
				if pick != "" {
					break
				}
			}
		}
		if pick == "" {
			return nil, fmt.Errorf("build.platform[%d]: no node that answers runs RUN steps for %s (%s): register QEMU emulators with binfmt_misc on a node (Debian: apt-get install qemu-user-static binfmt-support) and restart its BuildKit, or add a node of that platform",
				i, platforms.Format(spec), describeNodes(st))
		}
		j, ok := at[pick]
		if !ok {
			j = len(out)
			at[pick] = j
			out = append(out, Assignment{Node: pick})
		}
		out[j].Platforms = append(out[j].Platforms, t)
		if emulated {
			out[j].Emulated = append(out[j].Emulated, t)
		}
	}
	return out, nil
}

// nativeFor says whether a node running native platforms runs target natively.
func nativeFor(native []string, target platforms.Platform) bool {
	for _, n := range native {
		if p, err := platforms.Parse(n); err == nil && platforms.OnlyStrict(p).Match(target) {
			return true
		}
	}
	return false
}

// runsFor says whether a node running have (natively or emulated) runs target.
func runsFor(have []string, target platforms.Platform) bool {
	for _, h := range have {
		if p, err := platforms.Parse(h); err == nil && platforms.Only(p).Match(target) {
			return true
		}
	}
	return false
}

// String is "node (linux/amd64, linux/arm64 emulated)".
func (a Assignment) String() string {
	var ps []string
	for _, p := range a.Platforms {
		if slices.Contains(a.Emulated, p) {
			p += " emulated"
		}
		ps = append(ps, p)
	}
	return fmt.Sprintf("%s (%s)", a.Node, strings.Join(ps, ", "))
}
