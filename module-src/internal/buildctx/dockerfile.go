package buildctx

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Dockerfile is what the module needs to know about a Dockerfile before it
// picks a builder: the lines that only BuildKit can build. (What the build
// reads — base images, --from images, URLs — is ReadSources' job, done with
// BuildKit's own converter.)
type Dockerfile struct {
	// BuildKitOnly lists the constructs the classic builder cannot build,
	// each as "line N: what".
	BuildKitOnly []string
	// Runs says whether any stage has a RUN step (which needs the target
	// platform's CPU, or an emulator, on the builder).
	Runs bool
}

// ParseDockerfile reads a Dockerfile's instructions.
func ParseDockerfile(content []byte) (*Dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil, fmt.Errorf("parse Dockerfile: %w", err)
	}
	df := &Dockerfile{}
	if syntax, _, rng, ok := parser.DetectSyntax(content); ok {
		line := 1
		if len(rng) > 0 {
			line = rng[0].Start.Line
		}
		df.BuildKitOnly = append(df.BuildKitOnly, fmt.Sprintf("line %d: '# syntax=%s' directive (a frontend image)", line, syntax))
	}
	for _, n := range res.AST.Children {
		cmd := strings.ToLower(n.Value)
		if !instructions[cmd] {
			word := n.Value
			if len(word) > 40 {
				word = word[:40] + "..."
			}
			return nil, fmt.Errorf("line %d: unknown instruction %q: is this a Dockerfile?", n.StartLine, word)
		}
		switch cmd {
		case "run":
			df.Runs = true
		case "from":
			if n.Next == nil {
				return nil, fmt.Errorf("Dockerfile line %d: FROM requires an image", n.StartLine)
			}
		}
		for _, f := range n.Flags {
			name, _, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
			if buildKitFlags[cmd][name] {
				df.BuildKitOnly = append(df.BuildKitOnly, fmt.Sprintf("line %d: %s %s", n.StartLine, strings.ToUpper(cmd), f))
			}
		}
		if len(n.Heredocs) > 0 {
			df.BuildKitOnly = append(df.BuildKitOnly, fmt.Sprintf("line %d: heredoc in %s", n.StartLine, strings.ToUpper(cmd)))
		}
	}
	return df, nil
}

// instructions are the Dockerfile's instruction keywords.
var instructions = map[string]bool{
	"from": true, "run": true, "cmd": true, "label": true, "maintainer": true, "expose": true, "env": true,
	"add": true, "copy": true, "entrypoint": true, "volume": true, "user": true, "workdir": true, "arg": true,
	"onbuild": true, "stopsignal": true, "healthcheck": true, "shell": true,
}

// buildKitFlags are instruction flags the classic builder rejects.
var buildKitFlags = map[string]map[string]bool{
	"run":  {"mount": true, "network": true, "security": true, "device": true},
	"copy": {"link": true, "chmod": true, "parents": true, "exclude": true},
	"add":  {"link": true, "chmod": true, "checksum": true, "keep-git-dir": true, "exclude": true},
}
