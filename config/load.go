package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Load reads the TOML file at path over the defaults. A missing file is not an
// error unless required is set (the user named the file explicitly). Unknown
// keys and malformed values are errors that name the line.
func Load(path string, required bool) (*Config, error) {
	cfg := Default()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := Decode(data, cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Decode decodes TOML data into cfg, which holds the defaults.
func Decode(data []byte, cfg *Config) error {
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	err := dec.Decode(cfg)
	if err == nil {
		return nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		msgs := make([]string, 0, len(strict.Errors))
		for _, e := range strict.Errors {
			line, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("line %d: unknown key %q", line, strings.Join(e.Key(), ".")))
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		if k := de.Key(); len(k) > 0 {
			return fmt.Errorf("line %d, column %d: key %q: %s", line, col, strings.Join(k, "."), de.Error())
		}
		return fmt.Errorf("line %d, column %d: %s", line, col, de.Error())
	}
	return err
}
