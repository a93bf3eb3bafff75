package builder

import "github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"

// Choice is the `builder` option the modules share: which BuildKit — the
// engine's (driver docker) or a standalone daemon (driver remote).
type Choice struct {
	Name       string `json:"name"`
	Driver     string `json:"driver"`
	Endpoint   string `json:"endpoint"`
	CA         string `json:"ca"`
	Cert       string `json:"cert"`
	Key        string `json:"key"`
	ServerName string `json:"server_name"`
	Insecure   bool   `json:"insecure"`
}

// Remote is the daemon a remote choice names, and whether it is one.
func (c *Choice) Remote() (Remote, bool) {
	if c == nil || c.Driver != "remote" {
		return Remote{}, false
	}
	return Remote{Endpoint: c.Endpoint, CA: c.CA, Cert: c.Cert, Key: c.Key, ServerName: c.ServerName, Insecure: c.Insecure}, true
}

// ArgSpec is the `builder` option for a module's argument spec
// (documented by the jenkins_ha.buildkit.builder doc fragment).
func ArgSpec() *module.Option {
	return &module.Option{Type: module.TypeDict, Options: map[string]*module.Option{
		"name":        {Type: module.TypeStr},
		"driver":      {Type: module.TypeStr, Default: "docker", Choices: []any{"docker", "remote"}},
		"endpoint":    {Type: module.TypeStr},
		"ca":          {Type: module.TypePath},
		"cert":        {Type: module.TypePath},
		"key":         {Type: module.TypePath},
		"server_name": {Type: module.TypeStr},
		"insecure":    {Type: module.TypeBool, Default: false},
	}, RequiredIf: []module.RequiredIf{{Key: "driver", Value: "remote", Requirements: []string{"endpoint"}}},
		RequiredTogether: [][]string{{"cert", "key"}}}
}
