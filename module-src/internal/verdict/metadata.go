package verdict

import (
	"slices"
	"strings"
)

// MetadataRules are what the metadata gate asks of a candidate's image config.
type MetadataRules struct {
	Labels      []string // labels that must be set (the OCI labels)
	NonRoot     bool     // it must not run as root
	Expose      []string // ports it must expose, e.g. 8080/tcp
	Healthcheck bool     // it must have a HEALTHCHECK
}

// Config is what the gate reads of the image (the engine's inspect document's Config).
type Config struct {
	Labels       map[string]string
	User         string
	ExposedPorts []string
	Healthcheck  bool
}

// rootUsers are USER values that run as root.
var rootUsers = []string{"", "root", "0", "0:0"}

// Problems lists what c lacks of r, in the order of the rules; none: it passes.
func (r MetadataRules) Problems(c Config) []string {
	var out []string
	for _, l := range r.Labels {
		if _, ok := c.Labels[l]; !ok {
			out = append(out, "no label "+l)
		}
	}
	if r.NonRoot && slices.Contains(rootUsers, c.User) {
		out = append(out, "runs as root (no USER)")
	}
	for _, p := range r.Expose {
		if !slices.Contains(c.ExposedPorts, p) {
			out = append(out, "does not expose "+p)
		}
	}
	if r.Healthcheck && !c.Healthcheck {
		out = append(out, "has no HEALTHCHECK")
	}
	return out
}

// Passed says what a candidate that passed the rules has:
// "OCI labels set, runs as a non-root user; exposes 8080/tcp, has a HEALTHCHECK".
func (r MetadataRules) Passed() string {
	var common, own []string
	if len(r.Labels) > 0 {
		common = append(common, "OCI labels set")
	}
	if r.NonRoot {
		common = append(common, "runs as a non-root user")
	}
	for _, p := range r.Expose {
		own = append(own, "exposes "+p)
	}
	if r.Healthcheck {
		own = append(own, "has a HEALTHCHECK")
	}
	var parts []string
	for _, g := range [][]string{common, own} {
		if len(g) > 0 {
			parts = append(parts, strings.Join(g, ", "))
		}
	}
	if len(parts) == 0 {
		return "no metadata rules"
	}
	return strings.Join(parts, "; ")
}
