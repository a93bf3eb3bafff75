package engine

import "github.com/jenkins-ha/ansible-buildkit/module-src/internal/module"

// ArgSpec returns community.docker's engine connection options, with their
// aliases and DOCKER_* environment fallbacks, for a module's argument spec.
// docker_host, api_version and timeout are checked before the module runs
// (options.go).
func ArgSpec() map[string]*module.Option {
	return map[string]*module.Option{
		"docker_host":    {Type: module.TypeStr, Aliases: []string{"docker_url"}, EnvFallback: []string{"DOCKER_HOST"}, Default: DefaultHost, Check: CheckHost},
		"tls_hostname":   {Type: module.TypeStr, EnvFallback: []string{"DOCKER_TLS_HOSTNAME"}},
		"api_version":    {Type: module.TypeStr, Aliases: []string{"docker_api_version"}, EnvFallback: []string{"DOCKER_API_VERSION"}, Default: "auto", Check: checkAPIVersion},
		"timeout":        {Type: module.TypeInt, EnvFallback: []string{"DOCKER_TIMEOUT"}, Default: 60, Check: checkTimeout},
		"ca_path":        {Type: module.TypePath, Aliases: []string{"ca_cert", "tls_ca_cert", "cacert_path"}},
		"client_cert":    {Type: module.TypePath, Aliases: []string{"tls_client_cert", "cert_path"}},
		"client_key":     {Type: module.TypePath, Aliases: []string{"tls_client_key", "key_path"}},
		"tls":            {Type: module.TypeBool, EnvFallback: []string{"DOCKER_TLS"}, Default: false},
		"use_ssh_client": {Type: module.TypeBool, Default: false},
		"validate_certs": {Type: module.TypeBool, Aliases: []string{"tls_verify"}, EnvFallback: []string{"DOCKER_TLS_VERIFY"}, Default: false},
		"debug":          {Type: module.TypeBool, Default: false},
	}
}
