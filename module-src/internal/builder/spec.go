package builder

import (
	"github.com/docker/docker/client"

	"github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"
)

// Choice is the `builder` option the modules share: which BuildKit — the
// engine's (driver docker), one in a container on the engine (driver
// docker-container) or a standalone daemon (driver remote).
type Choice struct {
	Name       string `json:"name"`
	Driver     string `json:"driver"`
	Endpoint   string `json:"endpoint"`
	CA         string `json:"ca"`
	Cert       string `json:"cert"`
	Key        string `json:"key"`
	ServerName string `json:"server_name"`
	Insecure   bool   `json:"insecure"`

	Image              string   `json:"image"`
	Memory             string   `json:"memory"`
	CPUs               string   `json:"cpus"`
	Network            string   `json:"network"`
	Config             string   `json:"config"`
	InsecureRegistries []string `json:"insecure_registries"`
	RegistryMirrors    []string `json:"registry_mirrors"`

	// Nodes make the builder one of several BuildKit daemons (remote) or
	// containers (docker-container), as `docker buildx create --append` does.
	Nodes []NodeChoice `json:"nodes"`

	Fallback bool `json:"fallback"`
}

// NodeChoice is one entry of builder.nodes. A remote node's TLS files and
// server name default to the builder's own (one CA for the cluster).
type NodeChoice struct {
	Name       string   `json:"name"`
	Endpoint   string   `json:"endpoint"`
	CA         string   `json:"ca"`
	Cert       string   `json:"cert"`
	Key        string   `json:"key"`
	ServerName string   `json:"server_name"`
	Platforms  []string `json:"platforms"`
}

// Remote is the daemon a remote choice names, and whether it is one.
func (c *Choice) Remote() (Remote, bool) {
	if c == nil || c.Driver != "remote" || len(c.Nodes) > 0 {
		return Remote{}, false
	}
	return Remote{Endpoint: c.Endpoint, CA: c.CA, Cert: c.Cert, Key: c.Key, ServerName: c.ServerName, Insecure: c.Insecure}, true
}

// Container is the container builder a docker-container choice names (on
// the engine api at host), and whether it is one.
func (c *Choice) Container(api *client.Client, host string) (*Container, bool) {
	if c == nil || c.Driver != "docker-container" || len(c.Nodes) > 0 {
		return nil, false
	}
	return NewContainer(Container{
		Name: c.Name, Image: c.Image, Memory: c.Memory, CPUs: c.CPUs, Network: c.Network, Config: c.Config,
		InsecureRegistries: c.InsecureRegistries, RegistryMirrors: c.RegistryMirrors,
	}, api, host), true
}

// ArgSpec is the `builder` option for a module's argument spec
// (documented by the jenkins_ha.buildkit.builder doc fragment).
func ArgSpec() *module.Option {
	return &module.Option{Type: module.TypeDict, Options: map[string]*module.Option{
		"name":                {Type: module.TypeStr},
		"driver":              {Type: module.TypeStr, Default: "docker", Choices: []any{"docker", "docker-container", "remote"}},
		"endpoint":            {Type: module.TypeStr},
		"ca":                  {Type: module.TypePath},
		"cert":                {Type: module.TypePath},
		"key":                 {Type: module.TypePath},
		"server_name":         {Type: module.TypeStr},
		"insecure":            {Type: module.TypeBool, Default: false},
		"image":               {Type: module.TypeStr},
		"memory":              {Type: module.TypeStr},
		"cpus":                {Type: module.TypeStr},
		"network":             {Type: module.TypeStr},
		"config":              {Type: module.TypePath},
		"insecure_registries": {Type: module.TypeList, Elements: module.TypeStr},
		"registry_mirrors":    {Type: module.TypeList, Elements: module.TypeStr},
		"fallback":            {Type: module.TypeBool, Default: false},
		"nodes": {Type: module.TypeList, Elements: module.TypeDict, Options: map[string]*module.Option{
			"name":        {Type: module.TypeStr, Required: true},
			"endpoint":    {Type: module.TypeStr},
			"ca":          {Type: module.TypePath},
			"cert":        {Type: module.TypePath},
			"key":         {Type: module.TypePath},
			"server_name": {Type: module.TypeStr},
			"platforms":   {Type: module.TypeList, Elements: module.TypeStr},
		}, RequiredTogether: [][]string{{"cert", "key"}}},
	}, RequiredIf: []module.RequiredIf{{Key: "driver", Value: "remote", Requirements: []string{"endpoint", "nodes"}, AnyOf: true}},
		RequiredTogether: [][]string{{"cert", "key"}}, MutuallyExclusive: [][]string{{"endpoint", "nodes"}}}
}
