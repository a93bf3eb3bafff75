// Package modules is the collection's table of modules, the one place that
// lists them, and the multi-call binary's dispatch on it: one static binary
// per architecture is every module, chosen by the name it is run under
// (busybox-style) or by its first argument.
//
// The Makefile, the action plugin and the docs derive from this table or are
// checked against it (modules_test.go, interface_test.go, tests/run): adding
// a module is one entry here, one docs file in plugins/modules, one routing
// line in meta/runtime.yml.
package modules

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitcache"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitimage"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitimageset"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitreport"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitscan"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitsign"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/buildkitvalidate"
	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Entry is one module of the collection.
type Entry struct {
	// Name is the module's name in the collection (jenkins_ha.buildkit.<Name>).
	Name string
	// Spec and Run are what module.Main needs to run it as an Ansible module.
	// Spec is the module's interface (options and result keys); its docs
	// stub plugins/modules/<Name>.py is checked against it (interface_test.go).
	Spec func() module.Spec
	Run  module.RunFunc
	// Options is a zero value of the struct Run decodes its arguments into
	// (module.Module.Decode), whose json tags are checked against Spec.
	Options any
	// Commands are first arguments that make it a command-line tool instead
	// of a module (whose only argument is an args file); Command runs them.
	Commands map[string]string
	Command  func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// All returns the modules, sorted by name.
func All() []Entry {
	return []Entry{
		{Name: "buildkit_cache", Spec: buildkitcache.Spec, Run: buildkitcache.Run, Options: buildkitcache.Options{},
			Commands: buildkitcache.Commands, Command: buildkitcache.Command},
		{Name: "buildkit_image", Spec: buildkitimage.Spec, Run: buildkitimage.Run, Options: buildkitimage.Options{}},
		{Name: "buildkit_image_set", Spec: buildkitimageset.Spec, Run: buildkitimageset.Run, Options: buildkitimageset.Options{}},
		{Name: "buildkit_report", Spec: buildkitreport.Spec, Run: buildkitreport.Run, Options: buildkitreport.Options{}},
		{Name: "buildkit_scan", Spec: buildkitscan.Spec, Run: buildkitscan.Run, Options: buildkitscan.Options{}},
		{Name: "buildkit_sign", Spec: buildkitsign.Spec, Run: buildkitsign.Run, Options: buildkitsign.Options{}},
		{Name: "buildkit_validate", Spec: buildkitvalidate.Spec, Run: buildkitvalidate.Run, Options: buildkitvalidate.Options{}},
	}
}

// Names returns the module names, sorted.
func Names() []string {
	var names []string
	for _, e := range All() {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	return names
}

// Lookup finds a module by its name.
func Lookup(name string) (Entry, bool) {
	for _, e := range All() {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// binaryName is how the binary and its copies are named: jenkins_ha_<x>_linux_<arch>,
// optionally with -<digest> (the host-side cache) and Ansible's AnsiballZ_ prefix.
var binaryName = regexp.MustCompile(`^(?:AnsiballZ_)?(?:jenkins_ha_)?(.+?)(?:_linux_[a-z0-9]+)?(?:-[0-9a-f]+)?$`)

// nameOf is the module a program name stands for, if any:
// buildkit_image, AnsiballZ_jenkins_ha_buildkit_image_linux_amd64, ...
func nameOf(arg0 string) (string, bool) {
	base := filepath.Base(arg0)
	if _, ok := Lookup(base); ok {
		return base, true
	}
	if m := binaryName.FindStringSubmatch(base); m != nil {
		if _, ok := Lookup(m[1]); ok {
			return m[1], true
		}
	}
	return "", false
}

// Resolve picks the module for a command line and returns it with the
// arguments it is to see (args[0] its name):
//   - run under a module's name (a link, a copy, Ansible's AnsiballZ_<name>): that module;
//   - else a module's name as the first argument: jenkins_ha_buildkit_linux_amd64 buildkit_image ARGS_FILE;
//   - else a command word of a module as the first argument: jenkins-buildkit-cache prune ... (buildkit_cache).
func Resolve(args []string) (Entry, []string, bool) {
	if len(args) == 0 {
		return Entry{}, nil, false
	}
	if name, ok := nameOf(args[0]); ok {
		e, _ := Lookup(name)
		return e, append([]string{name}, args[1:]...), true
	}
	if len(args) > 1 {
		if e, ok := Lookup(args[1]); ok {
			return e, args[1:], true
		}
		for _, e := range All() {
			if _, ok := e.Commands[args[1]]; ok {
				return e, append([]string{e.Name}, args[1:]...), true
			}
		}
	}
	return Entry{}, nil, false
}

// Main runs the multi-call binary with os.Args and returns the exit code.
func Main() int {
	return run(os.Args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && (args[1] == "--list" || args[1] == "list") {
		fmt.Fprintln(stdout, strings.Join(Names(), "\n"))
		return 0
	}
	e, margs, ok := Resolve(args)
	if !ok {
		prog := "jenkins_ha_buildkit"
		if len(args) > 0 {
			prog = filepath.Base(args[0])
		}
		msg := fmt.Sprintf("%s runs the jenkins_ha.buildkit modules; name one: %s MODULE ARGS_FILE, where MODULE is one of %s (or run it as a link named after the module; `%s --list` lists them)",
			prog, prog, strings.Join(Names(), ", "), prog)
		fmt.Fprintln(stderr, msg)
		// Ansible reads stdout: a failure it can show, not a usage text.
		_ = json.NewEncoder(stdout).Encode(map[string]any{"failed": true, "msg": msg})
		return 2
	}
	if len(margs) > 1 && e.Command != nil {
		if _, ok := e.Commands[margs[1]]; ok {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return e.Command(ctx, margs[1:], stdout, stderr)
		}
	}
	return module.MainArgs(margs, stdout, e.Spec(), e.Run)
}
