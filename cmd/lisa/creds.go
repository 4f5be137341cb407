package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/cmd/lisa/internal/inspect"
)

// credFlags are the credential flags shared by the commands. Each value
// comes from its flag, else its file, else the environment.
type credFlags struct {
	pluginID, apiKey, apiKeyFile, secret, secretFile, baseURL *string
}

// addCredFlags adds the secret's flags and, withKey, the plugin id's and
// the API key's; withURL, the base URL's.
func addCredFlags(fs *flagSet, withKey, withURL bool) credFlags {
	var c credFlags
	empty := ""
	c.baseURL = &empty
	if withURL {
		c.baseURL = fs.String("url", "", "ingest base URL (default $LISA_BASE_URL or "+lisa.DefaultBaseURL+")")
	}
	if withKey {
		c.pluginID = fs.String("plugin-id", "", "plugin integration id (default $LISA_PLUGIN_ID)")
		c.apiKey = fs.String("api-key", "", "API key; lands in shell history and process lists: prefer $LISA_API_KEY or -api-key-file")
		c.apiKeyFile = fs.String("api-key-file", "", "read the API key from this file (a UTF-8 BOM, trailing spaces and CRLF are removed)")
	}
	c.secret = fs.String("secret", "", "signing secret; lands in shell history and process lists: prefer $LISA_SECRET or -secret-file")
	c.secretFile = fs.String("secret-file", "", "read the signing secret from this file (a UTF-8 BOM, trailing spaces and CRLF are removed)")
	return c
}

// credentials are the resolved values.
type credentials struct {
	pluginID, apiKey, secret, baseURL string
}

// resolve reads every credential the flags ask for and names, in one error,
// every one that is missing.
func (e env) resolve(c credFlags) (credentials, error) {
	var out credentials
	var missing []string
	get := func(flagName string, flagVal, file *string, envName string, into *string) error {
		v, err := e.value(flagName, flagVal, file, envName)
		if err != nil {
			return err
		}
		if v == "" {
			missing = append(missing, envName)
		}
		*into = v
		return nil
	}
	if c.pluginID != nil {
		if err := get("plugin-id", c.pluginID, nil, "LISA_PLUGIN_ID", &out.pluginID); err != nil {
			return out, err
		}
		if err := get("api-key", c.apiKey, c.apiKeyFile, "LISA_API_KEY", &out.apiKey); err != nil {
			return out, err
		}
		out.baseURL = *c.baseURL
		if out.baseURL == "" {
			out.baseURL = e.getenv("LISA_BASE_URL")
		}
	}
	if err := get("secret", c.secret, c.secretFile, "LISA_SECRET", &out.secret); err != nil {
		return out, err
	}
	if len(missing) > 0 {
		return out, usageError(fmt.Errorf("lisa: missing %s: set them in the environment (or use the -plugin-id, -api-key-file and -secret-file flags)", strings.Join(missing, ", ")))
	}
	return out, nil
}

// value resolves one credential: the flag, else the file, else the
// environment. A credential given on the command line earns a warning.
func (e env) value(flagName string, flagVal, file *string, envName string) (string, error) {
	if flagVal != nil && *flagVal != "" {
		if file != nil { // a credential, not just an id
			fmt.Fprintf(e.stderr, "lisa: warning: -%s on the command line lands in shell history; prefer $%s or -%s-file\n", flagName, envName, flagName)
		}
		return *flagVal, nil
	}
	if file != nil && *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return "", usageError(fmt.Errorf("lisa: read -%s-file: %w", flagName, err))
		}
		// Editors add a BOM or a final CRLF; neither is part of a key.
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		return strings.TrimRight(string(b), " \t\r\n"), nil
	}
	return e.getenv(envName), nil
}

// client builds an SDK client from the credential flags and environment.
func (e env) client(c credFlags, opts ...lisa.Option) (*lisa.Client, error) {
	cr, err := e.resolve(c)
	if err != nil {
		return nil, err
	}
	if cr.baseURL != "" {
		opts = append([]lisa.Option{lisa.WithBaseURL(cr.baseURL)}, opts...)
	}
	cl, err := lisa.NewClient(cr.pluginID, cr.apiKey, cr.secret, append(opts, lisa.WithUserAgent("lisa-cli/"+lisa.Version))...)
	if err != nil {
		return nil, usageError(err)
	}
	if len(cr.apiKey) < inspect.MinCredentialLen || len(cr.secret) < inspect.MinCredentialLen {
		// Every occurrence of a credential is masked in what the server
		// echoes: one of a letter or two would mask words.
		fmt.Fprintf(e.stderr, "lisa: warning: the API key or the secret is shorter than %d characters, too short to be real: "+
			"messages from the server may show its letters masked\n", inspect.MinCredentialLen)
	}
	return cl, nil
}
