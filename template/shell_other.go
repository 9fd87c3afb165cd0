//go:build !unix

package template

import "os/exec"

func setProcessGroup(cmd *exec.Cmd) {}
